"""Reproduce the paper's evaluation on the simulator, from scratch, on CPU; write a RESULTS.md report.

    python scripts/reproduce.py            # full reduced-size report (~1 hour on 2 cores): runs/reproduce/
    python scripts/reproduce.py --quick    # smoke run of every stage (minutes); writes RESULTS_quick.md
    python scripts/reproduce.py --out docs/RESULTS.md   # regenerate the committed report and figures

Each stage's progress (training log lines or bars, C2ST and reconstruction bars) is passed through
to this script's stderr; only the stage's last stdout line (its results JSON) is kept.

Stages (each a subprocess running the project's own commands, recorded verbatim in the report):
  train   star, multichannel, independent (6 proteins, WGAN-GP); dcgan, dcgan-sep (one protein,
          WGAN-GP) and dcgan-sep with the plain GAN loss (for Table 3's GAN vs WGAN-GP)
  table1  C2ST real vs real over the 8 simulated proteins
  table2  C2ST fake vs real for the five model families
  table3  test-set reconstruction (GAN vs WGAN-GP, separable vs regular; the reference L-BFGS
          budget next to the fast one on dcgan-sep)
  interp  cell-cycle interpolation with the star model
  joint   ground-truth multichannel evaluation of the star and multichannel models

A stage whose results.json already exists is reused (delete the work folder to start over); the
report states the settings that produced it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

P6 = ("Alp14", "Arp3", "Cki2", "Mkh1", "Sid2", "Tea1")
P8 = P6 + ("Fim1", "Tea4")
ONE = "Tea1"

FULL = dict(
    image_size="48x80",
    train_data="sim:400",
    eval_data="sim:200",
    ngf=16,
    ndf=16,
    batch_size=16,
    # Table 2 compares families, so every family gets the same number of generator iterations (the
    # previous report gave independent 1,200 and it came out worse than star, the reverse of the
    # paper). On 2 idle cores at these sizes star and independent run ~2.7 it/s, the others 7-16 it/s.
    steps={"star": 2000, "multichannel": 2000, "independent": 2000, "dcgan": 2000, "dcgan-sep": 2000},
    # 300 critic steps at 5x the paper's learning rate: on the simulator this separates every pair of
    # different proteins (4-28) except the two look-alike pairs (Arp3-Fim1 ~0.7, Tea1-Tea4 ~1.1) and
    # keeps same-protein scores ~0.2; 100 steps left look-alike-by-pattern pairs (Tea1-Arp3) unresolved.
    c2st=dict(n_splits=10, steps=300, ndf=8, batch_size=16, lr=5e-4),
    recon=dict(max_per_protein=12, iterations=50, restarts=5),
    # Table 3 is also run once with the reference's L-BFGS budget (50 x 20 iterations) on this model.
    recon_reference=dict(model="dcgan-sep", max_per_protein=12, restarts=5),
    interp_steps=12,
    n_joint=300,
)
QUICK = dict(
    image_size="24x40",
    train_data="sim:32",
    eval_data="sim:16",
    ngf=8,
    ndf=8,
    batch_size=8,
    steps={"star": 3, "multichannel": 3, "independent": 3, "dcgan": 3, "dcgan-sep": 3},
    c2st=dict(n_splits=3, steps=10, ndf=4, batch_size=8, lr=5e-4),
    recon=dict(max_per_protein=2, iterations=3, restarts=2),
    recon_reference=dict(model="dcgan-sep", max_per_protein=1, restarts=1),
    interp_steps=4,
    n_joint=16,
)

# The previous report (docs/RESULTS.md before issue 11: C2ST score without the penalty term, one
# fixed fake set split 50/50, no flips; independent trained 1,200 steps, the others 2,000). Kept to
# state what the corrected protocol changed.
OLD_REPORT = dict(
    table1_diagonal=(-0.93, 0.90),
    table1_off_diagonal=(1.19, 30.4),
    table2_mean_of_medians={"star": 2.95, "multichannel": 4.37, "independent": 4.39},
    independent_steps=1200,
)

# name: (arch, gan, proteins)
MODELS = {
    "star": ("star", "wgan-gp", P6),
    "multichannel": ("multichannel", "wgan-gp", P6),
    "independent": ("independent", "wgan-gp", P6),
    "dcgan": ("dcgan", "wgan-gp", (ONE,)),
    "dcgan-sep": ("dcgan-sep", "wgan-gp", (ONE,)),
    "dcgan-sep-gan": ("dcgan-sep", "gan", (ONE,)),
}


class Runner:
    """Runs stage commands, records them, and reuses finished results."""

    def __init__(self, work: str, log):
        self.work, self.log, self.commands, self.stage_names = work, log, [], []
        # Wall time of each stage when it actually ran; kept on disk so a report rebuilt from
        # reused stages still states measured times.
        self.times_file = os.path.join(work, "stage_seconds.json")
        self.seconds = {}
        if os.path.isfile(self.times_file):
            with open(self.times_file) as f:
                self.seconds = json.load(f)

    def run(self, name: str, args: list[str], done_file: str) -> dict:
        cmd = [sys.executable, "-m", *args]
        shown = "python -m " + " ".join(args)
        self.commands.append(shown)
        self.stage_names.append(name)
        if os.path.isfile(done_file):
            self.log(f"[reuse] {name}: {done_file}")
            with open(done_file) as f:
                return json.load(f)
        self.log(f"[run] {name}: {shown}")
        t0 = time.perf_counter()
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # The child's stderr (bars) is ours; its stdout lines (progress, then the results JSON
        # last) are echoed to our stderr as they come, so a long stage is never silent.
        lines = []
        with subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, bufsize=1) as p:
            for line in p.stdout:
                lines.append(line.rstrip("\n"))
                if not line.lstrip().startswith("{"):
                    print(f"  {line.rstrip()}", file=sys.stderr, flush=True)
        seconds = round(time.perf_counter() - t0, 1)
        lines = [ln for ln in lines if ln.strip()]
        if p.returncode != 0 or not lines:
            tail = "\n".join(lines)[-2000:]
            raise SystemExit(f"{name} failed (exit {p.returncode}): {shown}\n{tail}")
        self.seconds[name] = seconds
        from biogans_tf.io_utils import write_bytes

        os.makedirs(self.work, exist_ok=True)
        write_bytes(self.times_file, json.dumps(self.seconds, indent=1).encode())
        return json.loads(lines[-1])


def _flags(**kw) -> list[str]:
    return [f"--{k}={','.join(v) if isinstance(v, tuple) else v}" for k, v in kw.items()]


def train_all(r: Runner, s: dict, seed: int) -> dict[str, str]:
    runs = {}
    for name, (arch, gan, proteins) in MODELS.items():
        logdir = os.path.join(r.work, "runs", name)
        flags = _flags(
            preset="cpu-demo",
            arch=arch,
            gan=gan,
            data=s["train_data"],
            proteins=proteins,
            image_size=s["image_size"],
            batch_size=s["batch_size"],
            steps=s["steps"][arch.replace("-gan", "")],
            ngf=s["ngf"],
            ndf=s["ndf"],
            seed=seed,
            logdir=logdir,
        )
        r.run(f"train {name}", ["training.run", *flags], os.path.join(logdir, "results.json"))
        runs[name] = logdir
    return runs


def evaluate(r: Runner, name: str, task: str, out: str, **kw) -> dict:
    flags = _flags(task=task, out=out, **kw) + ["--noprogress"]
    return r.run(name, ["training.evaluate", *flags], os.path.join(out, "results.json"))


def _md_table3(rows) -> str:
    from biogans_tf.eval.reconstruction import format_table3

    return format_table3(rows)


def _structure_checks(t1: dict) -> list[str]:
    """Statements about Table 1's structure vs the paper's (same ~0 < different; closest pairs)."""
    import numpy as np

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


def _table2_reading(t1: dict, t2: dict) -> list[str]:
    """Read Table 2 on Table 1's scale: are a model's cells closer to p than p's nearest other protein?

    The reference for protein p is Table 1's smallest score between p's training images and another
    protein's test images (the same critic settings), so "below the reference" means the critic
    finds the generated cells harder to tell from p's test cells than p's nearest look-alike.
    """
    import numpy as np

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


def _row(rows, method):
    return next((x for x in rows if x["method"] == method), None)


def _separable_reading(table3: dict) -> list[str]:
    """Separable (red-first) vs regular reconstruction: the L2 cost and where z ends up."""
    lines = []
    for name, rr in table3.items():
        reg, sep = _row(rr["rows"], "regular"), _row(rr["rows"], "separable")
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


def _joint_reading(joint: dict) -> list[str]:
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


def _protocol_lines(s: dict) -> list[str]:
    """Which settings differ from the paper, and why."""
    c = s["c2st"]
    return [
        "## Protocol and deviations from the paper",
        "",
        "As the paper: C2ST score = −(E D(fake) − E D(real) + λ·GP) on the test-test half, penalty "
        "included (λ = 10, GP in float32 on interpolates of held-out real and fake), so same-source "
        "scores sit at or below 0; 10 random 50/50 splits, median ± MAD headline (mean ± std in each "
        "results.json); fake-vs-real critics train on a new generator batch at every step and are "
        "scored on fresh samples; real images flipped at random (horizontal, vertical) in training "
        "and scoring; separable reconstruction splits z at int(nz · red_portion), red then green "
        "within each restart, best restart by total L2.",
        "",
        "Differs, for time (the whole report runs on 2 CPU cores in about an hour):",
        f"- models: ngf = ndf = {s['ngf']}, batch {s['batch_size']}, "
        f"{min(s['steps'].values()):,} generator iterations for every family (same for all, so Table 2 "
        f"compares like with like), {s['train_data'].partition(':')[2]} simulated cells per protein "
        "(paper: ngf = ndf = 64, batch 64, the real LIN images);",
        f"- C2ST critics: ndf = {c['ndf']}, {c['steps']} steps, batch {c['batch_size']}, Adam lr "
        f"{c['lr']} (paper: ndf 64, 5,000 steps, batch 64, lr 1e-4); with this short training the "
        "penalty term is a larger share of the score than after 5,000 steps;",
        f"- reconstruction: {s['recon']['max_per_protein']} test cells per protein; the default "
        f"'fast' L-BFGS budget ({s['recon']['iterations']} iterations with line search) everywhere, "
        f"and the reference's budget (50 outer steps × up to 20 inner iterations) on "
        f"{s['recon_reference']['model']} only (L-BFGS here uses a line search and 10 correction "
        "pairs; the reference's torch.optim.LBFGS takes fixed steps of 0.05 with 100);",
        "- data: the simulator, not LIN (Table 1 has 8 simulated proteins).",
        "",
    ]


def _spread(values) -> str:
    import numpy as np

    v = np.asarray(values, np.float64).ravel()
    med = float(np.median(v))
    return f"{med:.3f} ± {float(np.median(np.abs(v - med))):.3f}"


def _split_summaries(t1: dict, t2: dict) -> list[str]:
    """Per-split critic gap and penalty term (λ·GP) behind the scores, as median ± MAD over splits."""
    import numpy as np

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


def _what_changed(t1: dict, t2: dict) -> list[str]:
    """The corrected protocol against the previous report's figures (`OLD_REPORT`)."""
    import numpy as np

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
        f"cannot separate the sources, which is why same-protein scores are now at or below 0). "
        f"Table 2 mean of medians before: {old_t2}; now: {new_t2} (fresh fakes and equal training "
        f"budgets; Table 2 keeps its structure, Table 1's entries change in level, not in layout).",
        "",
    ]


def write_report(
    path: str, s: dict, res: dict, r: Runner, quick: bool, total_s: float, seed: int, note: str = ""
) -> None:
    from biogans_tf.eval.c2st_tables import format_table2
    from biogans_tf.io_utils import write_bytes

    fig_dir = os.path.join(os.path.dirname(os.path.abspath(path)), "results" + ("_quick" if quick else ""))
    os.makedirs(fig_dir, exist_ok=True)
    rel = os.path.basename(fig_dir)

    def fig(src_dir, name, new_name):
        shutil.copyfile(os.path.join(src_dir, name), os.path.join(fig_dir, new_name))
        return f"![{new_name}]({rel}/{new_name})"

    import tensorflow as tf

    out = ["# Results: the paper's evaluation on the simulator (reduced size, CPU)", ""]
    if quick:
        out += [
            "> **Smoke run (`--quick`)**: a few training and critic steps only; the numbers below check",
            "> that every stage runs and say nothing about the models.",
            "",
        ]
    out += [
        f"Generated by `python scripts/reproduce.py{' --quick' if quick else ''} "
        f"--out {os.path.relpath(path, ROOT)}` "
        f"(stages: {total_s / 60:.1f} min of wall time) on "
        f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), "
        f"TensorFlow {tf.__version__}, seed {seed}." + (f" {note}" if note else ""),
        "Data: the built-in LIN-like simulator (not the real LIN images), so numbers are comparable "
        "in structure, not in value, with the paper's. Fim1 and Tea4 have no real cells to calibrate "
        "against; their patterns follow the simulator's design notes (Fim1 like Arp3, Tea4 like Tea1 "
        "over a slightly brighter background).",
        "",
        "Settings: " + json.dumps(s),
        "",
        *_protocol_lines(s),
    ]
    t1 = res["table1"]
    out += ["## Table 1 — C2ST, real vs real (rows: training set of A, columns: test set of B)", ""]
    from biogans_tf.eval.c2st_tables import format_matrix

    out += [
        format_matrix(t1),
        "",
        *_structure_checks(t1),
        "",
        fig(res["table1_dir"], "table1.png", "table1.png"),
        "",
    ]
    out += ["## Table 2 — C2ST, generated vs real test cells (per protein)", ""]
    out += [format_table2(res["table2"]), ""]
    out += ["(dcgan and dcgan-sep are one-protein models trained on " + ONE + ".)", ""]
    out += _table2_reading(t1, res["table2"]) + [""]
    out += _split_summaries(t1, res["table2"])
    out += ["## Table 3 — test-set reconstruction (L2 on [0,1], NLL of z; median ± MAD)", ""]
    for name, rr in res["table3"].items():
        out += [f"**{name}**", "", _md_table3(rr["rows"]), ""]
    l2 = {n: _row(rr["rows"], "regular")["l2"]["median"] for n, rr in res["table3"].items()}
    if "dcgan-sep" in l2 and "dcgan-sep-gan" in l2:
        better = l2["dcgan-sep"] < l2["dcgan-sep-gan"]
        out += [
            f"- Regular reconstruction L2: WGAN-GP {l2['dcgan-sep']:.4f} vs GAN {l2['dcgan-sep-gan']:.4f} — "
            + (
                "WGAN-GP reconstructs better, as in the paper."
                if better
                else "**differs from the paper** (GAN better here; short training at reduced size)."
            ),
            "",
        ]
    out += _separable_reading(res["table3"]) + [""]
    ref = res.get("table3_reference")
    if ref:
        name = s["recon_reference"]["model"]
        out += [
            f"**{name}, reference L-BFGS budget** (50 outer steps × up to 20 inner iterations, the "
            "reference's loss normalisation) next to the fast budget above:",
            "",
            _md_table3(ref["rows"]),
            "",
        ]
        fast_rows = res["table3"].get(name, {}).get("rows", [])
        for mode in ("regular", "separable"):
            a, b = _row(fast_rows, mode), _row(ref["rows"], mode)
            if a and b:
                out.append(
                    f"- {mode}: L2 fast {a['l2']['median']:.4f} vs reference budget {b['l2']['median']:.4f} "
                    f"(stage times: fast {r.seconds.get(f'table 3 {name}', float('nan'))} s, reference "
                    f"{r.seconds.get(f'table 3 {name} reference', float('nan'))} s)."
                )
        out += [""]
    d = res["table3_dirs"]["star"]
    out += [
        fig(d, "fig5_reconstructions.png", "fig5_star.png"),
        "",
        fig(d, "fig6_l2_vs_nll.png", "fig6_star.png"),
        "",
    ]
    it = res["interp"]
    out += ["## Interpolation (star model, reconstructed young → dividing cell)", ""]
    for kind, v in it["paths"].items():
        b = v["biology"]
        out += [
            f"- {kind}: lengths {b['lengths_px']}, monotonicity (Spearman) {b['spearman']:.2f}, "
            f"non-decreasing steps {b['fraction_nondecreasing']:.2f}, septum at end {b['septum_at_end']}.",
            "",
            fig(res["interp_dir"], v["files"]["strip"], f"interp_{kind}_strip.png"),
            "",
        ]
    out += ["## Ground-truth multichannel evaluation (beyond the paper)", ""]
    out += [
        "| model | C2ST vs truth | truth vs truth | pair-corr. MAD (floor) | enrichment MAD (floor) |",
        "|---|---|---|---|---|",
    ]
    for name, j in res["joint"].items():
        g, f = j["summary"]["generated_vs_truth"], j["summary"]["truth_reference_vs_truth"]
        out.append(
            f"| {name} | {j['c2st']['median']:.3f} ± {j['c2st']['mad']:.3f} | "
            f"{j['c2st_truth_vs_truth']['median']:.3f} ± {j['c2st_truth_vs_truth']['mad']:.3f} | "
            f"{g['pair_correlation_mad']:.3f} ({f['pair_correlation_mad']:.3f}) | "
            f"{g['enrichment_mad']:.3f} ({f['enrichment_mad']:.3f}) |"
        )
    out += [
        "",
        "C2ST on all 1+C channels of one cell; MAD = mean absolute difference between the model's and "
        "the truth's between-protein statistics (correlation of each pair of greens; tip and septum "
        "enrichment per protein); floor = the same for a second, independent truth sample.",
        "",
        *_joint_reading(res["joint"]),
        "",
        fig(res["joint_dirs"]["star"], "joint_pair_correlations.png", "joint_star.png"),
        "",
    ]
    out += _what_changed(t1, res["table2"])
    out += ["## Commands", "", "```"] + r.commands + ["```", ""]
    out += ["Stage wall times (s): " + json.dumps({n: r.seconds.get(n) for n in r.stage_names}), ""]
    write_bytes(path, ("\n".join(out) + "\n").encode())


def _define_flags(fv) -> None:
    from absl import flags

    kw = {"flag_values": fv}
    flags.DEFINE_bool("quick", False, "tiny settings: checks every stage in minutes", **kw)
    flags.DEFINE_string("work", "", "work folder (default runs/reproduce[_quick])", **kw)
    flags.DEFINE_string(
        "out", "", "report path (default <work>/RESULTS.md or RESULTS_quick.md; the committed "
        "report: --out docs/RESULTS.md)", **kw,
    )  # fmt: skip
    flags.DEFINE_integer("seed", 0, "seed of every run and evaluation", lower_bound=0, **kw)
    flags.DEFINE_string(
        "note", "", "a line stated under the report's header, e.g. how loaded the machine was", **kw
    )


def main(argv=None) -> int:
    from biogans_tf.cli import UsageError, parse

    try:
        a, rest = parse(_define_flags, argv, __doc__, __name__, "scripts/reproduce.py")
        if rest:
            raise UsageError(f"unexpected arguments {rest}")
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    a = types.SimpleNamespace(**{name: a[name].value for name in a})
    s = QUICK if a.quick else FULL
    # Paths relative to the repository root keep the recorded commands copy-pasteable.
    a.work, a.out = (os.path.abspath(p) if p else "" for p in (a.work, a.out))
    os.chdir(ROOT)
    work = a.work or os.path.join("runs", "reproduce_quick" if a.quick else "reproduce")
    # Under runs/ by default: overwriting the committed docs/RESULTS.md and its figures is an explicit choice.
    report = a.out or os.path.join(work, "RESULTS_quick.md" if a.quick else "RESULTS.md")
    r = Runner(work, lambda m: print(m, file=sys.stderr, flush=True))
    t0 = time.perf_counter()
    runs = train_all(r, s, a.seed)
    c, ev = s["c2st"], os.path.join(work, "eval")
    res = {"table1_dir": os.path.join(ev, "table1")}
    res["table1"] = evaluate(
        r,
        "table 1",
        "c2st_real",
        res["table1_dir"],
        data=s["eval_data"],
        proteins=P8,
        image_size=s["image_size"],
        seed=a.seed,
        data_seed=a.seed,
        max_critics=40,
        **c,
    )
    res["table2"] = {}
    for name in ("star", "multichannel", "independent", "dcgan", "dcgan-sep"):
        res["table2"][name] = evaluate(
            r,
            f"table 2 {name}",
            "c2st_fake",
            os.path.join(ev, f"table2_{name}"),
            run_dir=runs[name],
            data=s["eval_data"],
            seed=a.seed,
            max_critics=40,
            **c,
        )
    res["table3"], res["table3_dirs"] = {}, {}
    for name in ("dcgan-sep-gan", "dcgan-sep", "dcgan", "star"):
        d = os.path.join(ev, f"table3_{name}")
        res["table3_dirs"][name] = d
        res["table3"][name] = evaluate(
            r,
            f"table 3 {name}",
            "reconstruct",
            d,
            run_dir=runs[name],
            data=s["eval_data"],
            seed=a.seed,
            **s["recon"],
        )
    rr = dict(s["recon_reference"])
    name = rr.pop("model")
    res["table3_reference"] = evaluate(
        r,
        f"table 3 {name} reference",
        "reconstruct",
        os.path.join(ev, f"table3_{name}_reference"),
        run_dir=runs[name],
        data=s["eval_data"],
        seed=a.seed,
        lbfgs_budget="reference",
        **rr,
    )
    res["interp_dir"] = os.path.join(ev, "interp_star")
    res["interp"] = evaluate(
        r,
        "interpolation",
        "interpolate",
        res["interp_dir"],
        run_dir=runs["star"],
        data=s["eval_data"],
        seed=a.seed,
        interp_steps=s["interp_steps"],
        iterations=s["recon"]["iterations"],
        restarts=s["recon"]["restarts"],
    )
    res["joint"], res["joint_dirs"] = {}, {}
    for name in ("star", "multichannel"):
        d = os.path.join(ev, f"joint_{name}")
        res["joint_dirs"][name] = d
        res["joint"][name] = evaluate(
            r,
            f"joint {name}",
            "joint",
            d,
            run_dir=runs[name],
            data=s["eval_data"],
            seed=a.seed,
            n_joint=s["n_joint"],
            **c,
        )
    # Stage times as measured when each stage ran (reused stages keep their recorded time).
    total = sum(r.seconds.get(name, 0.0) for name in r.stage_names) or time.perf_counter() - t0
    write_report(report, s, res, r, a.quick, total, a.seed, a.note)
    summary = {"report": report, "minutes": round(total / 60, 1), "stage_seconds": r.seconds}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
