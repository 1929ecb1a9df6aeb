"""Reproduce the paper's evaluation on the simulator, from scratch, on CPU; write docs/RESULTS.md.

    python scripts/reproduce.py            # full reduced-size report (~1 hour on 2 cores)
    python scripts/reproduce.py --quick    # smoke run of every stage (minutes); writes RESULTS_quick.md

Stages (each a subprocess running the project's own commands, recorded verbatim in the report):
  train   star, multichannel, independent (6 proteins, WGAN-GP); dcgan, dcgan-sep (one protein,
          WGAN-GP) and dcgan-sep with the plain GAN loss (for Table 3's GAN vs WGAN-GP)
  table1  C2ST real vs real over the 8 simulated proteins
  table2  C2ST fake vs real for the five model families
  table3  test-set reconstruction (GAN vs WGAN-GP, separable vs regular)
  interp  cell-cycle interpolation with the star model
  joint   ground-truth multichannel evaluation of the star and multichannel models

A stage whose results.json already exists is reused (delete the work folder to start over); the
report states the settings that produced it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

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
    # On 2 idle cores at these sizes star and independent run ~2.7 it/s, the others 7-16 it/s (600-step
    # probe: every family still blurry); 2,000 steps keep the whole report near an hour.
    steps={"star": 2000, "multichannel": 2000, "independent": 1200, "dcgan": 2000, "dcgan-sep": 2000},
    # 300 critic steps at 5x the paper's learning rate: on the simulator this separates every pair of
    # different proteins (4-28) except the two look-alike pairs (Arp3-Fim1 ~0.7, Tea1-Tea4 ~1.1) and
    # keeps same-protein scores ~0.2; 100 steps left look-alike-by-pattern pairs (Tea1-Arp3) unresolved.
    c2st=dict(n_splits=10, steps=300, ndf=8, batch_size=16, lr=5e-4),
    recon=dict(max_per_protein=12, iterations=50, restarts=5),
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
    interp_steps=4,
    n_joint=16,
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
        p = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        seconds = round(time.perf_counter() - t0, 1)
        lines = p.stdout.strip().splitlines()
        if p.returncode != 0 or not lines:
            raise SystemExit(f"{name} failed (exit {p.returncode}): {shown}\n{p.stdout[-2000:]}")
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


def write_report(path: str, s: dict, res: dict, r: Runner, quick: bool, total_s: float, seed: int) -> None:
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
        f"Generated by `python scripts/reproduce.py{' --quick' if quick else ''}` "
        f"(stages: {total_s / 60:.1f} min of wall time) on "
        f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), "
        f"TensorFlow {tf.__version__}, seed {seed}.",
        "Data: the built-in LIN-like simulator (not the real LIN images), so numbers are comparable "
        "in structure, not in value, with the paper's. Fim1 and Tea4 have no real cells to calibrate "
        "against; their patterns follow the simulator's design notes (Fim1 like Arp3, Tea4 like Tea1 "
        "over a slightly brighter background).",
        "",
        "Settings: " + json.dumps(s),
        "",
        f"Deviations from the paper, for time: models at ngf=ndf={s['ngf']}, batch {s['batch_size']}, "
        f"{min(s['steps'].values()):,}-{max(s['steps'].values()):,} generator steps on "
        f"{s['train_data'].partition(':')[2]} cells per protein; "
        f"C2ST critics ndf={s['c2st']['ndf']}, {s['c2st']['steps']} steps at "
        f"lr {s['c2st']['lr']} (paper: ndf 64, 5,000 steps at 1e-4); reconstruction of "
        f"{s['recon']['max_per_protein']} test cells per protein.",
        "",
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
    out += ["## Commands", "", "```"] + r.commands + ["```", ""]
    out += ["Stage wall times (s): " + json.dumps({n: r.seconds.get(n) for n in r.stage_names}), ""]
    write_bytes(path, ("\n".join(out) + "\n").encode())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny settings: checks every stage in minutes")
    ap.add_argument("--work", default="", help="work folder (default runs/reproduce[_quick])")
    ap.add_argument(
        "--out", default="", help="report path (default docs/RESULTS.md; quick: <work>/RESULTS_quick.md)"
    )
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    s = QUICK if a.quick else FULL
    # Paths relative to the repository root keep the recorded commands copy-pasteable.
    a.work, a.out = (os.path.abspath(p) if p else "" for p in (a.work, a.out))
    os.chdir(ROOT)
    work = a.work or os.path.join("runs", "reproduce_quick" if a.quick else "reproduce")
    report = a.out or (
        os.path.join(work, "RESULTS_quick.md") if a.quick else os.path.join("docs", "RESULTS.md")
    )
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
    write_report(report, s, res, r, a.quick, total, a.seed)
    summary = {"report": report, "minutes": round(total / 60, 1), "stage_seconds": r.seconds}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
