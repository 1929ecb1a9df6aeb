"""The RESULTS.md report of scripts/reproduce.py: one function per section, from the stages' results.

`write_report` assembles the sections; the statements comparing the numbers with the paper are
in `scripts/reproduce_readings.py`.
"""

from __future__ import annotations

import json
import os
import shutil

from biogans_tf.cpu import cpu_model
from scripts import reproduce_readings as readings


def _md_table3(rows) -> str:
    from biogans_tf.eval.reconstruction_report import format_table3

    return format_table3(rows)


def protocol_lines(s: dict) -> list[str]:
    """Which settings differ from the paper, and why."""
    c = s["c2st"]
    return [
        "## Protocol and deviations from the paper",
        "",
        "As the paper: C2ST score = −(E D(fake) − E D(real) + λ·GP) on the test-test half, penalty "
        "included (λ = 10, GP in float32 on interpolates of held-out real and fake), so same-source "
        "scores sit around 0 (within noise; negative when the penalty dominates); 10 random 50/50 "
        "splits, median ± MAD headline (mean ± std in each "
        "results.json); fake-vs-real critics train on a new generator batch at every step and are "
        "scored on fresh samples; real images flipped at random (horizontal, vertical) in training "
        "and scoring; separable reconstruction splits z at int(nz · red_portion), red then green "
        "within each restart, best restart by total L2.",
        "",
        "Differs, for time (the whole report runs on 2 CPU cores; its stage times are at the end):",
        f"- models: ngf = ndf = {s['ngf']}, batch {s['batch_size']}, "
        f"{min(s['steps'].values()):,} generator iterations for every family (same for all, so Table 2 "
        f"compares like with like), {s['train_data'].partition(':')[2]} simulated cells per protein "
        "(paper: ngf = ndf = 64, batch 64, the real LIN images);",
        f"- C2ST critics: ndf = {c['ndf']}, {c['c2st_steps']} steps, batch {c['batch_size']}, Adam lr "
        f"{c['lr']} (paper: ndf 64, 5,000 steps, batch 64, lr 1e-4); with this short training the "
        "penalty term is a larger share of the score than after 5,000 steps;",
        f"- reconstruction: {s['recon']['max_per_protein']} test cells per protein; the default "
        f"'fast' L-BFGS budget ({s['recon']['iterations']} iterations with line search) everywhere, "
        f"and the reference's budget (50 outer steps × up to 20 inner iterations) on "
        f"{s['recon_reference']['model']} only (the fast budget's L-BFGS uses a line search and 10 "
        "correction pairs per image; the reference budget runs torch.optim.LBFGS's rules, fixed steps "
        "of 0.05 and 100 pairs, with a batch's codes as one problem, as the reference);",
        "- data: the simulator, not LIN (Table 1 has 8 simulated proteins).",
        "",
    ]


def write_report(
    path: str,
    s: dict,
    res: dict,
    r,
    quick: bool,
    total_s: float,
    seed: int,
    note: str = "",
    *,
    root: str,
    one_protein: str,
) -> None:
    """Write the report to `path` and copy its figures into `results[_quick]/` beside it.

    Args:
        path: the report (Markdown).
        s: the settings the stages ran with (`reproduce.FULL` or `reproduce.QUICK`).
        res: the stage results, keyed as `reproduce.evaluate_all` returns them.
        r: the `reproduce.Runner` (its recorded commands and stage times).
        quick: a smoke run (the report says so).
        total_s: wall time of all stages.
        seed: the seed of every run and evaluation.
        note: a line stated under the header.
        root: the repository root (the recorded command names the report relative to it).
        one_protein: the protein of the one-protein models.
    """
    from biogans_tf.io_utils import write_bytes

    fig = _figure_copier(path, quick)
    out = _header(path, s, quick, total_s, seed, note, root)
    out += _table1_section(res, fig)
    out += _table2_section(res, one_protein)
    out += _table3_section(s, res, r, fig)
    out += _interpolation_section(res, fig)
    out += _joint_section(res, fig)
    out += readings.what_changed(res["table1"], res["table2"])
    out += ["## Commands", "", "```"] + r.commands + ["```", ""]
    out += ["Stage wall times (s): " + json.dumps({n: r.seconds.get(n) for n in r.stage_names}), ""]
    write_bytes(path, ("\n".join(out) + "\n").encode())


def _figure_copier(path: str, quick: bool):
    """`fig(src_dir, name, new_name) -> Markdown image`, copying the figure next to the report."""
    fig_dir = os.path.join(os.path.dirname(os.path.abspath(path)), "results" + ("_quick" if quick else ""))
    os.makedirs(fig_dir, exist_ok=True)
    rel = os.path.basename(fig_dir)

    def fig(src_dir, name, new_name):
        shutil.copyfile(os.path.join(src_dir, name), os.path.join(fig_dir, new_name))
        return f"![{new_name}]({rel}/{new_name})"

    return fig


def _header(path: str, s: dict, quick: bool, total_s: float, seed: int, note: str, root: str) -> list[str]:
    """Title, smoke-run warning, how and where the report was made, settings, protocol."""
    import tensorflow as tf

    out = ["# Results: the paper's evaluation on the simulator (reduced size, CPU)", ""]
    if quick:
        out += [
            "> **Smoke run (`--quick`)**: a few training and critic steps only; the numbers below check",
            "> that every stage runs and say nothing about the models.",
            "",
        ]
    return out + [
        f"Generated by `python scripts/reproduce.py{' --quick' if quick else ''} "
        f"--out {os.path.relpath(path, root)}` "
        f"(stages: {total_s / 60:.1f} min of wall time) on "
        f"{os.cpu_count()} CPU cores ({cpu_model()}), "
        f"TensorFlow {tf.__version__}, seed {seed}." + (f" {note}" if note else ""),
        "Data: the built-in LIN-like simulator (not the real LIN images), so numbers are comparable "
        "in structure, not in value, with the paper's. Fim1 and Tea4 have no real cells to calibrate "
        "against; their patterns follow the simulator's design notes (Fim1 like Arp3, Tea4 like Tea1 "
        "over a slightly brighter background).",
        "",
        "Settings: " + json.dumps(s),
        "",
        *protocol_lines(s),
    ]


def _table1_section(res: dict, fig) -> list[str]:
    from biogans_tf.eval.c2st_tables import format_matrix

    t1 = res["table1"]
    return [
        "## Table 1 — C2ST, real vs real (rows: training set of A, columns: test set of B)",
        "",
        format_matrix(t1),
        "",
        *readings.structure_checks(t1),
        "",
        fig(res["table1_dir"], "table1.png", "table1.png"),
        "",
    ]


def _table2_section(res: dict, one_protein: str) -> list[str]:
    from biogans_tf.eval.c2st_tables import format_table2

    out = ["## Table 2 — C2ST, generated vs real test cells (per protein)", ""]
    out += [format_table2(res["table2"]), ""]
    out += ["(dcgan and dcgan-sep are one-protein models trained on " + one_protein + ".)", ""]
    out += readings.table2_reading(res["table1"], res["table2"]) + [""]
    return out + readings.split_summaries(res["table1"], res["table2"])


def _table3_section(s: dict, res: dict, r, fig) -> list[str]:
    out = ["## Table 3 — test-set reconstruction (L2 on [0,1], NLL of z; median ± MAD)", ""]
    for name, rr in res["table3"].items():
        out += [f"**{name}**", "", _md_table3(rr["rows"]), ""]
    l2 = {n: readings.row(rr["rows"], "regular")["l2"]["median"] for n, rr in res["table3"].items()}
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
    out += readings.separable_reading(res["table3"]) + [""]
    if res.get("table3_reference"):
        out += _reference_budget_lines(s["recon_reference"]["model"], res, r)
    d = res["table3_dirs"]["star"]
    return out + [
        fig(d, "fig5_reconstructions.png", "fig5_star.png"),
        "",
        fig(d, "fig6_l2_vs_nll.png", "fig6_star.png"),
        "",
    ]


def _reference_budget_lines(name: str, res: dict, r) -> list[str]:
    """The reference L-BFGS budget's Table 3 on one model, beside the fast budget's."""
    ref = res["table3_reference"]
    out = [
        f"**{name}, reference L-BFGS budget** (torch.optim.LBFGS's algorithm: 50 outer steps × up to 20 "
        "inner iterations, fixed step 0.05, a batch's codes as one problem on the reference's loss) next "
        "to the fast budget above:",
        "",
        _md_table3(ref["rows"]),
        "",
    ]
    fast_rows = res["table3"].get(name, {}).get("rows", [])
    for mode in ("regular", "separable"):
        a, b = readings.row(fast_rows, mode), readings.row(ref["rows"], mode)
        if a and b:
            out.append(
                f"- {mode}: L2 fast {a['l2']['median']:.4f} vs reference budget {b['l2']['median']:.4f}."
            )
    out.append(
        f"- Stage wall times: fast {r.seconds.get(f'table 3 {name}', float('nan'))} s, reference budget "
        f"{r.seconds.get(f'table 3 {name} reference', float('nan'))} s (each measured under its own "
        "machine load: not a speed comparison)."
    )
    return out + [""]


def _interpolation_section(res: dict, fig) -> list[str]:
    out = ["## Interpolation (star model, reconstructed young → dividing cell)", ""]
    for kind, v in res["interp"]["paths"].items():
        b = v["biology"]
        out += [
            f"- {kind}: lengths {b['lengths_px']}, monotonicity (Spearman) {b['spearman']:.2f}, "
            f"non-decreasing steps {b['fraction_nondecreasing']:.2f}, septum at end {b['septum_at_end']}.",
            "",
            fig(res["interp_dir"], v["files"]["strip"], f"interp_{kind}_strip.png"),
            "",
        ]
    return out


def _joint_section(res: dict, fig) -> list[str]:
    out = ["## Ground-truth multichannel evaluation (beyond the paper)", ""]
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
    return out + [
        "",
        "C2ST on all 1+C channels of one cell; MAD = mean absolute difference between the model's and "
        "the truth's between-protein statistics (correlation of each pair of greens; tip and septum "
        "enrichment per protein); floor = the same for a second, independent truth sample.",
        "",
        *readings.joint_reading(res["joint"]),
        "",
        fig(res["joint_dirs"]["star"], "joint_pair_correlations.png", "joint_star.png"),
        "",
    ]
