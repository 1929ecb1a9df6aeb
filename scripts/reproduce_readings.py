"""The statements of scripts/reproduce.py's report: how the stage results compare with the paper.

Each function reads stage results (the `results.json` of the evaluation commands) and returns
Markdown lines that say, in words, where the numbers agree with the paper's and where they differ.
"""

from __future__ import annotations

import numpy as np

# The previous report (docs/RESULTS.md before issue 11: C2ST score without the penalty term, one
# fixed fake set split 50/50, no flips; independent trained 1,200 steps, the others 2,000). Kept to
# state what the corrected protocol changed.
OLD_REPORT = dict(
    table1_diagonal=(-0.93, 0.90),
    table1_off_diagonal=(1.19, 30.4),
    table2_mean_of_medians={"star": 2.95, "multichannel": 4.37, "independent": 4.39},
    independent_steps=1200,
)


def structure_checks(t1: dict) -> list[str]:
    """Statements about Table 1's structure vs the paper's (same ~0 < different; closest pairs)."""
    p, med = t1["proteins"], np.array(t1["median"])
    sym = (med + med.T) / 2
    diag, off = np.diag(med), sym[~np.eye(len(p), dtype=bool)]
    lines = [
        f"- Same protein (diagonal): {diag.min():.3f} to {diag.max():.3f}; different proteins: "
        f"{off.min():.3f} to {off.max():.3f}. "
        + (
            "Every diagonal entry is below every off-diagonal one, as in the paper."
            if diag.max() < off.min()
            else "**Differs from the paper**: some same-protein entries are not below all "
            "different-protein ones."
        )
    ]
    pairs = sorted((sym[i, j], p[i], p[j]) for i in range(len(p)) for j in range(i + 1, len(p)))
    smallest = [f"{a}–{b} ({v:.2f})" for v, a, b in pairs[:3]]
    lines.append(f"- Smallest off-diagonal pairs (symmetrised): {', '.join(smallest)}.")
    wanted = [{"Arp3", "Fim1"}, {"Tea1", "Tea4"}]
    top2 = [{a, b} for _, a, b in pairs[:2]]
    if all(w in top2 for w in wanted if all(x in p for x in w)):
        lines.append("- Arp3–Fim1 and Tea1–Tea4 are the two closest pairs, as in the paper.")
    else:
        lines.append(
            "- **Differs from the paper**: Arp3–Fim1 and Tea1–Tea4 are not the two closest pairs here."
        )
    return lines


def table2_reading(t1: dict, t2: dict) -> list[str]:
    """Read Table 2 on Table 1's scale: are a model's cells closer to p than p's nearest other protein?

    The reference for protein p is Table 1's smallest score between p's training images and another
    protein's test images (the same critic settings), so "below the reference" means the critic
    finds the generated cells harder to tell from p's test cells than p's nearest look-alike.
    """
    p, med = t1["proteins"], np.array(t1["median"])
    ref = {}
    for i, a in enumerate(p):
        others = [med[i, j] for j in range(len(p)) if j != i]
        ref[a] = float(min(others)) if others else float("nan")
    lines = [
        "Reading Table 2 on Table 1's scale (reference for protein p: Table 1's smallest score of p against "
        "another protein, i.e. its nearest look-alike): "
        + ", ".join(f"{a} {v:.2f}" for a, v in ref.items() if any(a in r["per_protein"] for r in t2.values()))
        + "."
    ]
    for name, r in t2.items():
        per = {a: v["median"] for a, v in r["per_protein"].items() if a in ref}
        if not per:
            continue
        below = [a for a, v in per.items() if v < ref[a]]
        lines.append(
            f"- {name}: mean of medians {np.mean(list(per.values())):.2f}; below the reference for "
            f"{len(below)}/{len(per)} proteins" + (f" ({', '.join(below)})" if below else "") + "."
        )
    return lines


def row(rows, method):
    return next((x for x in rows if x["method"] == method), None)


def separable_reading(table3: dict) -> list[str]:
    """Separable (red-first) vs regular reconstruction: the L2 cost and where z ends up."""
    lines = []
    for name, rr in table3.items():
        reg, sep = row(rr["rows"], "regular"), row(rr["rows"], "separable")
        if reg is None or sep is None:
            continue
        lines.append(
            f"- {name}: separable L2 {sep['l2']['median']:.4f} vs regular {reg['l2']['median']:.4f} "
            f"({100 * (sep['l2']['median'] / reg['l2']['median'] - 1):+.0f} %); NLL of z "
            f"{sep['nll']['median']:.1f} vs {reg['nll']['median']:.1f}."
        )
    if lines:
        lines.insert(0, "Separable (red first, then green) vs regular reconstruction:")
    return lines


def joint_reading(joint: dict) -> list[str]:
    """Which generator is closer to the true multichannel cells, by C2ST and by between-protein statistics."""
    if len(joint) < 2:
        return []
    by_c2st = min(joint, key=lambda n: joint[n]["c2st"]["median"])
    gen = {n: j["summary"]["generated_vs_truth"] for n, j in joint.items()}
    by_corr = min(gen, key=lambda n: gen[n]["pair_correlation_mad"])
    by_enr = min(gen, key=lambda n: gen[n]["enrichment_mad"])
    floor = next(iter(joint.values()))["summary"]["truth_reference_vs_truth"]
    ratio = max(gen[n]["pair_correlation_mad"] for n in gen) / max(floor["pair_correlation_mad"], 1e-12)
    return [
        f"- Lowest C2ST against the true multichannel cells: {by_c2st}; closest pair correlations: "
        f"{by_corr}; closest tip/septum enrichment: {by_enr}.",
        f"- Every model's pair-correlation error is at most {ratio:.1f}x the truth-vs-truth floor.",
    ]


def _spread(values) -> str:
    v = np.asarray(values, np.float64).ravel()
    med = float(np.median(v))
    return f"{med:.3f} ± {float(np.median(np.abs(v - med))):.3f}"


def split_summaries(t1: dict, t2: dict) -> list[str]:
    """Per-split critic gap and penalty term (λ·GP) behind the scores, as median ± MAD over splits."""
    if "gaps" not in t1:
        return []
    n = len(t1["proteins"])
    gaps, pens, scores = (np.array(t1[k]) for k in ("gaps", "penalties", "scores"))  # [P, P, splits]
    eye = np.eye(n, dtype=bool)
    lines = [
        "Per-split terms (median ± MAD over all splits of the group; score = gap − penalty):",
        "",
        "| group | score | critic gap | penalty λ·GP |",
        "|---|---|---|---|",
    ]
    for label, m in (("Table 1 same protein", eye), ("Table 1 different proteins", ~eye)):
        lines.append(f"| {label} | {_spread(scores[m])} | {_spread(gaps[m])} | {_spread(pens[m])} |")
    for name, r in t2.items():
        per = list(r["per_protein"].values())
        if "gaps" not in per[0]:
            continue
        cat = {k: np.concatenate([p[k] for p in per]) for k in ("scores", "gaps", "penalties")}
        lines.append(
            f"| Table 2 {name} | {_spread(cat['scores'])} | {_spread(cat['gaps'])} | "
            f"{_spread(cat['penalties'])} |"
        )
    return lines + [""]


def what_changed(t1: dict, t2: dict) -> list[str]:
    """The corrected protocol against the previous report's figures (`OLD_REPORT`)."""
    med = np.array(t1["median"])
    eye = np.eye(len(med), dtype=bool)
    o = OLD_REPORT
    means = {n: r["mean_of_medians"] for n, r in t2.items() if n in o["table2_mean_of_medians"]}
    old_t2 = ", ".join(f"{n} {v:.2f}" for n, v in o["table2_mean_of_medians"].items())
    new_t2 = ", ".join(f"{n} {v:.2f}" for n, v in means.items())
    return [
        "## What changed with the corrected protocol",
        "",
        f"The previous report scored C2ST by the critic gap alone (no penalty term), trained fake-vs-real "
        f"critics on one fixed generated set split 50/50, did not flip images, and trained independent "
        f"for {o['independent_steps']:,} generator iterations (the others 2,000). Table 1 then gave "
        f"same protein {o['table1_diagonal'][0]:.2f} to {o['table1_diagonal'][1]:.2f} and different "
        f"proteins {o['table1_off_diagonal'][0]:.2f} to {o['table1_off_diagonal'][1]:.1f}; now "
        f"{med[eye].min():.2f} to {med[eye].max():.2f} and {med[~eye].min():.2f} to {med[~eye].max():.2f}. "
        f"Subtracting λ·GP moves every score down by the held-out penalty (largest where the critic "
        f"cannot separate the sources, which is why same-protein scores now sit around 0, within "
        f"split-to-split noise, and often below it). "
        f"Table 2 mean of medians before: {old_t2}; now: {new_t2} (fresh fakes and equal training "
        f"budgets; Table 2 keeps its structure, Table 1's entries change in level, not in layout).",
        "",
    ]
