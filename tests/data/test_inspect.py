"""`python -m training.data inspect`: human and JSON summaries, --verify, one-line errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from biogans_tf.training import data_inspect as inspect_cli
from tests.conftest import ROOT
from tests.data.lin_fixtures import make_lin, png_bytes, zip_folder


def test_human_summary(tmp_path, capsys):
    make_lin(tmp_path, proteins=("Alp14", "Arp3"), cells=(1, 2, 3))
    assert inspect_cli.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "format:     lin-folder" in out and "image size: [48, 80]" in out
    assert "train: 6 images" in out and "Arp3" in out and "dtype:      uint8" in out


def test_json_and_verify_on_zip(tmp_path, capsys):
    make_lin(tmp_path / "d", naming="ref", cells=(1, 2))
    zpath = zip_folder(tmp_path / "d", tmp_path / "LIN.zip", top="LIN_Normalized_WT_size-48-80")
    assert inspect_cli.main([zpath, "--json", "--verify"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["format"] == "lin-zip" and summary["proteins"] == ["Alp14", "Arp3"]
    assert summary["verified"]["test"]["total"] == 4
    assert summary["verified"]["train"]["proteins"] == {"Alp14": 2, "Arp3": 2}
    assert 100 < summary["verified"]["train"]["mean_red"] < 155  # random uint8 pixels


def test_verify_finds_a_bad_file_that_describe_skips(tmp_path, capsys):
    make_lin(tmp_path, cells=(1, 2))
    bad = tmp_path / "test" / "Arp3" / "cell2.png"
    bad.write_bytes(png_bytes(np.zeros((48, 80), np.uint8)))
    assert inspect_cli.main([str(tmp_path)]) == 0
    capsys.readouterr()
    assert inspect_cli.main([str(tmp_path), "--verify"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {bad}: PNG mode L (grayscale); expected RGB (R = Bgs4, G = protein, B = 0)"


def test_bad_inputs_one_line_errors(tmp_path, capsys):
    make_lin(tmp_path / "lin", cells=(1,), splits=("train",))
    os.makedirs(tmp_path / "lin" / "train" / "Empty")
    assert inspect_cli.main([str(tmp_path / "lin")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Empty: empty protein folder" in err
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    assert inspect_cli.main([str(tmp_path / "bad.zip")]) == 2
    assert "bad.zip: not a readable zip file" in capsys.readouterr().err
    assert inspect_cli.main(["sim", "--image_size", "48by80"]) == 2
    assert "error: --image_size: '48by80': expected HEIGHTxWIDTH" in capsys.readouterr().err


@pytest.mark.e2e
def test_cli_subprocess_no_traceback(tmp_path):
    make_lin(tmp_path, cells=(1,))
    (tmp_path / "train" / "Alp14" / "cell1.png").write_bytes(png_bytes(np.zeros((48, 80, 4), np.uint8)))
    proc = subprocess.run(
        [sys.executable, "-m", "training.data", "inspect", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'train' / 'Alp14' / 'cell1.png'}: RGBA PNG with transparent pixels; "
        "expected RGB (R = Bgs4, G = protein)"
    ]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
