"""scripts/reproduce.py: the report's automatic comparison with the paper's Table 1 structure."""

import json

import numpy as np

from biogans_tf.conventions import SIM_PROTEINS
from scripts import reproduce, reproduce_readings, reproduce_report


def _module():
    return reproduce


def _table(proteins, close_pairs):
    n = len(proteins)
    med = np.full((n, n), 10.0) + np.arange(n * n).reshape(n, n) * 0.01
    np.fill_diagonal(med, 0.05)
    for a, b in close_pairs:
        i, j = proteins.index(a), proteins.index(b)
        med[i, j] = med[j, i] = 1.0
    return {"proteins": list(proteins), "median": med.tolist()}


def test_structure_checks_recognise_the_papers_pattern():
    good = reproduce_readings.structure_checks(_table(SIM_PROTEINS, [("Arp3", "Fim1"), ("Tea1", "Tea4")]))
    assert "as in the paper" in good[0] and "Arp3–Fim1 and Tea1–Tea4 are the two closest pairs" in good[2]
    assert good[1].startswith("- Smallest off-diagonal pairs") and "Arp3–Fim1 (1.00)" in good[1]
    bad = reproduce_readings.structure_checks(_table(SIM_PROTEINS, [("Alp14", "Cki2")]))
    assert "Differs from the paper" in bad[2]
    flat = _table(SIM_PROTEINS, [])
    flat["median"] = np.zeros((8, 8)).tolist()
    assert "Differs from the paper" in reproduce_readings.structure_checks(flat)[0]


def test_flags_and_model_list():
    rep = _module()
    assert rep._flags(proteins=("A", "B"), steps=3) == ["--proteins=A,B", "--steps=3"]
    families = {arch for arch, _, _ in rep.MODELS.values()}
    assert families == {"star", "multichannel", "independent", "dcgan", "dcgan-sep"}
    assert {gan for _, gan, _ in rep.MODELS.values()} == {"wgan-gp", "gan"}


def test_table2_is_read_against_each_proteins_nearest_look_alike():
    t1 = _table(SIM_PROTEINS, [("Arp3", "Fim1"), ("Tea1", "Tea4")])
    t2 = {
        "star": {"per_protein": {"Arp3": {"median": 0.5}, "Tea1": {"median": 3.0}}},
        "dcgan": {"per_protein": {"Tea1+Arp3": {"median": 0.1}}},  # pooled names have no reference
    }
    lines = reproduce_readings.table2_reading(t1, t2)
    assert "Arp3 1.00" in lines[0] and "Tea1 1.00" in lines[0] and "Alp14" not in lines[0]
    assert lines[1] == "- star: mean of medians 1.75; below the reference for 1/2 proteins (Arp3)."
    assert len(lines) == 2


def test_runner_keeps_measured_stage_times_when_a_stage_is_reused(tmp_path):
    rep = _module()
    src = tmp_path / "in.json"
    src.write_text('{"ok": 1}')
    done = tmp_path / "done.json"
    first = rep.Runner(str(tmp_path / "work"), lambda m: None)
    assert first.run("stage", ["json.tool", "--compact", str(src)], str(done)) == {"ok": 1}
    measured = first.seconds["stage"]
    assert json.loads((tmp_path / "work" / "stage_seconds.json").read_text()) == {"stage": measured}
    done.write_text('{"ok": 2}')
    again = rep.Runner(str(tmp_path / "work"), lambda m: None)
    assert again.run("stage", ["json.tool", "--compact", str(src)], str(done)) == {"ok": 2}
    assert again.seconds == {"stage": measured} and again.stage_names == ["stage"]


def test_every_table2_family_trains_the_same_generator_iterations():
    rep = _module()
    assert set(rep.FULL["steps"].values()) == {2000}
    assert len(set(rep.QUICK["steps"].values())) == 1
    # The previous report's figures stay as constants, with their provenance.
    assert reproduce_readings.OLD_REPORT["table2_mean_of_medians"] == {
        "star": 2.95,
        "multichannel": 4.37,
        "independent": 4.39,
    }
    assert reproduce_readings.OLD_REPORT["independent_steps"] == 1200


def _t1_with_terms(rep):
    t1 = _table(SIM_PROTEINS, [("Arp3", "Fim1"), ("Tea1", "Tea4")])
    med = np.array(t1["median"])
    gaps = np.repeat(med[:, :, None] + 0.5, 3, axis=2)
    pens = np.full_like(gaps, 0.5)
    t1.update(scores=(gaps - pens).tolist(), gaps=gaps.tolist(), penalties=pens.tolist())
    return t1


def test_split_summaries_and_what_changed_paragraph():
    rep = _module()
    t1 = _t1_with_terms(rep)
    per = {"scores": [1.0, 2.0], "gaps": [1.5, 2.5], "penalties": [0.5, 0.5], "median": 1.5}
    t2 = {"star": {"per_protein": {"Alp14": per, "Arp3": per}, "mean_of_medians": 1.5}}
    lines = reproduce_readings.split_summaries(t1, t2)
    assert "| Table 1 same protein | 0.050 ± 0.000 | 0.550 ± 0.000 | 0.500 ± 0.000 |" in lines
    assert "| Table 2 star | 1.500 ± 0.500 | 2.000 ± 0.500 | 0.500 ± 0.000 |" in lines
    text = "\n".join(reproduce_readings.what_changed(t1, t2))
    assert "## What changed with the corrected protocol" in text
    assert "same protein -0.93 to 0.90 and different proteins 1.19 to 30.4" in text
    assert "star 2.95, multichannel 4.37, independent 4.39" in text and "now: star 1.50" in text
    assert "1,200 generator iterations" in text
    proto = "\n".join(reproduce_report.protocol_lines(rep.FULL))
    assert "penalty included" in proto and "2,000 generator iterations for every family" in proto
    assert "reference's budget (50 outer steps" in proto and "dcgan-sep" in proto


def test_stage_progress_is_passed_through_and_the_json_kept(tmp_path, capsys):
    """A stage's progress lines reach our stderr as they come; its last line is the result."""
    log = []
    r = reproduce.Runner(str(tmp_path / "work"), log.append)
    args = ["training.run", "--arch=dcgan", "--proteins=Alp14", "--image_size=24x40", "--ngf=8", "--ndf=8",
            "--nz=16", "--batch_size=4", "--data=sim:8", "--n_critic=1", "--steps=2", "--log_every=1",
            f"--run_dir={tmp_path / 'run'}"]  # fmt: skip
    res = r.run("train tiny", args, str(tmp_path / "run" / "results.json.absent"))
    assert res["status"] == "ok" and res["step"] == 2
    err = capsys.readouterr().err
    assert "  step 1/2 d_loss=" in err and "  step 2/2 d_loss=" in err
    assert '"status"' not in err  # the results JSON is returned, not echoed
    assert log == [f"[run] train tiny: python -m {' '.join(args)}"]
