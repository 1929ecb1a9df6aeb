"""scripts/reproduce.py: the report's automatic comparison with the paper's Table 1 structure."""

import json

import numpy as np

from scripts import reproduce


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
    rep = _module()
    good = rep._structure_checks(_table(rep.P8, [("Arp3", "Fim1"), ("Tea1", "Tea4")]))
    assert "as in the paper" in good[0] and "Arp3–Fim1 and Tea1–Tea4 are the two closest pairs" in good[2]
    assert good[1].startswith("- Smallest off-diagonal pairs") and "Arp3–Fim1 (1.00)" in good[1]
    bad = rep._structure_checks(_table(rep.P8, [("Alp14", "Cki2")]))
    assert "Differs from the paper" in bad[2]
    flat = _table(rep.P8, [])
    flat["median"] = np.zeros((8, 8)).tolist()
    assert "Differs from the paper" in rep._structure_checks(flat)[0]


def test_flags_and_model_list():
    rep = _module()
    assert rep._flags(proteins=("A", "B"), steps=3) == ["--proteins=A,B", "--steps=3"]
    families = {arch for arch, _, _ in rep.MODELS.values()}
    assert families == {"star", "multichannel", "independent", "dcgan", "dcgan-sep"}
    assert {gan for _, gan, _ in rep.MODELS.values()} == {"wgan-gp", "gan"}


def test_table2_is_read_against_each_proteins_nearest_look_alike():
    rep = _module()
    t1 = _table(rep.P8, [("Arp3", "Fim1"), ("Tea1", "Tea4")])
    t2 = {
        "star": {"per_protein": {"Arp3": {"median": 0.5}, "Tea1": {"median": 3.0}}},
        "dcgan": {"per_protein": {"Tea1+Arp3": {"median": 0.1}}},  # pooled names have no reference
    }
    lines = rep._table2_reading(t1, t2)
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
