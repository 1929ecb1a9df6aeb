"""The paper's C2ST tables on top of `c2st.run_c2st`: Table 1 (real vs real) and Table 2 (fake vs real).

- Table 1: for proteins A (rows) and B (columns), the C2ST of protein A's *training* images
  against protein B's *test* images (disjoint cells even when A = B, so the diagonal shows the
  score of two samples of one distribution, about 0).
- Table 2: for a generator, the C2ST of its (fresh) samples against each protein's test images: star,
  multichannel and independent models pair the red with each protein's green; one-protein
  (dcgan) runs are compared with the pooled test images of their proteins.

All problems of a table are trained as stacked critic banks (`max_critics` per bank).
"""

from __future__ import annotations

import io

import numpy as np

from biogans_tf.eval.c2st import C2STSettings, run_c2st
from biogans_tf.eval.fakes import GeneratorFakes
from biogans_tf.io_utils import write_bytes


def real_vs_real(train, test, proteins, settings: C2STSettings, *, max_critics=None, progress=False) -> dict:
    """Table 1: C2ST of protein A's training images (rows) vs protein B's test images (columns).

    Args:
        train, test: `CellSet`s containing `proteins`.
        proteins: protein names (row/column order).
        settings: C2ST settings.
        max_critics: bank size limit (None: all P*P*n_splits critics in one bank).
        progress: tqdm bars.

    Returns:
        `{"proteins", "median", "mad", "mean", "std", "gap_median", "penalty_median"` (each
        `[P][P]`), `"scores", "gaps", "penalties"` (each `[P][P][n_splits]`), `"critic",
        "train_seconds"}`; scores = gap - penalty for the wgan-gp critic.
    """
    proteins = list(proteins)
    tests = {p: test.of_protein(p) for p in proteins}
    trains = {p: train.of_protein(p) for p in proteins}
    problems = [(tests[b], trains[a]) for a in proteins for b in proteins]
    res = run_c2st(problems, settings, max_critics=max_critics, progress=progress, desc="table 1")
    n = len(proteins)

    def mat(key):
        return [[res[i * n + j][key] for j in range(n)] for i in range(n)]

    seconds = sum({r["train_seconds"] for r in res})
    return {
        "proteins": proteins,
        "median": mat("median"),
        "mad": mat("mad"),
        "mean": mat("mean"),
        "std": mat("std"),
        "scores": mat("scores"),
        "gaps": mat("gaps"),
        "penalties": mat("penalties"),
        "gap_median": mat("gap_median"),
        "penalty_median": mat("penalty_median"),
        "critic": settings.critic,
        "train_seconds": seconds,
    }


def fake_vs_real(
    run, test, settings: C2STSettings, *, n_fake=None, seed=0, max_critics=None, progress=False, fresh=True
) -> dict:
    """Table 2 row: C2ST of a generator's samples vs each protein's test images.

    Args:
        run: `GeneratorRun`.
        test: `CellSet` with the run's proteins.
        settings: C2ST settings.
        n_fake: with `fresh=False`, generated images per protein (default: as many as that
            protein's test images).
        seed: seed of the latent draws of a fixed fake set (purpose 10 + protein index); fresh
            latents follow `settings.seed` and the critic keys.
        max_critics, progress: as `real_vs_real`.
        fresh: the paper's protocol (default): every critic step sees a new generator batch and the
            test-test side is fresh samples (one generator forward per step serves all proteins);
            False: the old fixed finite fake set split 50/50 (a critic can memorise it).

    Returns:
        `{"arch", "per_protein": {name: c2st result}, "mean_of_medians", "train_seconds", "generator_calls"}`.
    """
    source = GeneratorFakes(lambda z: run.model(z, training=False), run.nz) if fresh else None
    groups = []
    if run.family == "joint":
        groups.append(("+".join(run.proteins), None, test.images))
    else:
        for i, p in enumerate(run.proteins):
            groups.append((p, i, test.of_protein(p)))
    problems = []
    for i, (name, index, real) in enumerate(groups):
        if len(real) < 2:
            raise ValueError(f"c2st_fake: protein {name} has {len(real)} test images; need at least 2")
        if fresh:
            problems.append((real, source if index is None else source.view(_pair_view(run, index))))
            continue
        n = int(n_fake or len(real))
        fn = run.pair_fn(0 if index is None else index)
        problems.append((real, run.generate(fn, run.latents(n, seed, 10 + i))))
    res = run_c2st(problems, settings, max_critics=max_critics, progress=progress, desc="table 2")
    per = {name: r for (name, _, _), r in zip(groups, res, strict=False)}
    return {
        "arch": run.arch,
        "per_protein": per,
        "mean_of_medians": float(np.mean([r["median"] for r in res])),
        "train_seconds": sum({r["train_seconds"] for r in res}),
        "generator_calls": source.calls if fresh else len(groups),
    }


def _pair_view(run, index: int):
    """`[K, n, ...]` full generator output -> `[K, n, H, W, 2]`: red + protein `index`'s green."""
    if run.layout == "per_protein":  # [K, n, C, H, W, 2]
        return lambda x: x[:, :, index]
    return lambda x: x[..., [0, 1 + index]]  # [K, n, H, W, 1 + C]


def format_matrix(result: dict, digits: int = 2) -> str:
    """Markdown Table 1 (`median ± MAD`, rows = training set of A, columns = test set of B)."""
    p = result["proteins"]
    lines = ["| train \\ test | " + " | ".join(p) + " |", "|---|" + "---|" * len(p)]
    for i, a in enumerate(p):
        cells = [
            f"{result['median'][i][j]:.{digits}f} ± {result['mad'][i][j]:.{digits}f}" for j in range(len(p))
        ]
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_table2(rows: dict[str, dict], digits: int = 2) -> str:
    """Markdown Table 2: one row per model (name -> `fake_vs_real` result), one column per protein."""
    proteins = []
    for r in rows.values():
        for p in r["per_protein"]:
            if p not in proteins:
                proteins.append(p)
    lines = ["| model | " + " | ".join(proteins) + " |", "|---|" + "---|" * len(proteins)]
    for name, r in rows.items():
        cells = []
        for p in proteins:
            v = r["per_protein"].get(p)
            cells.append("—" if v is None else f"{v['median']:.{digits}f} ± {v['mad']:.{digits}f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def matrix_figure(path: str, result: dict, dpi: int = 200) -> None:
    """Heat map of Table 1 medians (annotated with median ± MAD), written as PNG.

    Args:
        path: PNG output path (written atomically).
        result: `{"proteins": [C], "median": [C, C], "mad": [C, C]}` (rows: training protein A,
            columns: test protein B).
        dpi: resolution (200 keeps the 6-pt annotations legible).
    """
    from matplotlib.figure import Figure  # object API: no pyplot, no backend switch

    p = result["proteins"]
    med, mad = np.array(result["median"], np.float64), np.array(result["mad"], np.float64)
    fig = Figure(figsize=(1.6 + 0.85 * len(p), 1.0 + 0.75 * len(p)), dpi=dpi)
    ax = fig.subplots()
    im = ax.imshow(med, cmap="viridis")
    ax.set_xticks(range(len(p)), p, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(p)), p, fontsize=8)
    ax.set_xlabel("test set of protein B")
    ax.set_ylabel("training set of protein A")
    ax.set_title("C2ST score (median ± MAD over splits)", fontsize=9)
    for i in range(len(p)):
        for j in range(len(p)):
            ax.text(
                j, i, f"{med[i, j]:.2f}\n±{mad[i, j]:.2f}", ha="center", va="center", fontsize=6,
                color=text_colour(im.cmap(im.norm(med[i, j]))),
            )  # fmt: skip
    fig.colorbar(im, ax=ax, fraction=0.046, label="C2ST (median over splits)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor="white")
    write_bytes(path, buf.getvalue())


def text_colour(rgba) -> str:
    """ "black" or "white", whichever contrasts more with a cell of colour `rgba` (WCAG luminance)."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgba[:3]]
    luminance = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    # Contrast with black (L + 0.05) / 0.05 beats white 1.05 / (L + 0.05) above L ~ 0.18.
    return "black" if luminance > 0.179 else "white"
