"""`python -m training.data simulate`: the dataset it writes, and one-line errors naming the flag."""

import json
import os

import pytest

from biogans_tf.training import data_simulate


def test_cli_writes_dataset_and_prints_json(tmp_path, capsys):
    out = tmp_path / "cli"
    rc = data_simulate.main(
        ["--out", str(out), "--n_train", "2", "--n_test", "1", "--seed", "1", "--proteins", "Cki2,Sid2"]
    )
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["proteins"] == ["Cki2", "Sid2"] and summary["n_train"] == 2
    assert sorted(os.listdir(out / "train" / "Sid2")) == ["cell0.png", "cell1.png"]


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--proteins", "Arp3,Bogus"], "--proteins"),
        (["--image_size", "48by80"], "--image_size"),
        (["--image_size", "8x8"], "--image_size"),
        (["--n_train", "-1"], "--n_train"),
    ],
)
def test_cli_errors_name_the_flag(tmp_path, capsys, args, flag):
    base = ["--out", str(tmp_path / "x"), "--n_train", "1", "--n_test", "1", "--seed", "0"]
    assert data_simulate.main(base + args) == 2  # one `error:` line, no usage dump, no traceback
    err = capsys.readouterr().err.strip()
    assert flag in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()
