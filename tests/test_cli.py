"""One command-line style (biogans_tf/cli.py): absl flags, comma lists, one-line errors, aliases."""

import dataclasses
import json

import numpy as np
import pytest
from absl import flags

from biogans_tf import cli
from biogans_tf.conventions import PALETTES
from biogans_tf.options import option
from biogans_tf.serving import client
from biogans_tf.training import data_calibrate as calibration
from biogans_tf.training import data_inspect as inspection
from biogans_tf.training import data_neighbours as neighbours
from biogans_tf.training import data_simulate as simulator


def test_split_list_and_check_choice():
    assert cli.split_list(" a, b,,c ") == ["a", "b", "c"]
    assert cli.split_list(None) == [] and cli.split_list(["x", " "]) == ["x"]
    assert cli.check_choice("gan", "wgan", ("gan", "wgan")) == "wgan"
    with pytest.raises(cli.UsageError, match=r"--gan='x': expected one of gan, wgan"):
        cli.check_choice("gan", "x", ("gan", "wgan"))


def test_help_prints_only_the_programs_own_flags_and_exits_0(capsys):
    def define(fv):
        flags.DEFINE_integer("n", 3, "how many", flag_values=fv)

    with pytest.raises(SystemExit) as e:
        cli.parse(define, ["--help"], "usage text", __name__, "prog")
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage text") and "--n: how many" in out and "--verbosity" not in out


def test_parse_errors_are_one_line():
    def define(fv):
        flags.DEFINE_enum("kind", "a", ["a", "b"], "kind", flag_values=fv)

    with pytest.raises(cli.UsageError) as e:
        cli.parse(define, ["--kind=c"], "u", __name__, "prog")
    assert "\n" not in str(e.value) and "<a|b>" in str(e.value)
    fv, rest = cli.parse(define, ["--kind=b", "pos"], "u", __name__, "prog")
    assert fv.kind == "b" and rest == ["pos"]


def test_client_takes_comma_lists_and_one_name_per_flag():
    a = client.parse_args(["--model_name=m", "reconstruct", "--images=a.png,b.tif", "c.npy"])
    assert a.command == "reconstruct" and a.images == ["a.png", "b.tif", "c.npy"]
    assert a.out == "reconstructions.png" and a.bits == 8
    b = client.parse_args(["--model_name=m", "interpolate", "--interp_steps=7"])
    assert b.interp_steps == 7 and b.out == "interpolation.gif"
    with pytest.raises(ValueError, match="--steps was renamed --interp_steps"):  # no alias: a pointer
        client.parse_args(["--model_name=m", "interpolate", "--steps=5"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model_name=m", "sample", "--images=x.png"], "--images applies to reconstruct, not sample"),
        (["--model_name=m", "paint"], "expected a command, one of sample, reconstruct"),
        (["sample"], "--model_name is required"),
        (["--model_name=m", "sample", "--palette=blue"], "red-green|magenta-green|gray"),
        (["--model_name=m", "reconstruct"], "--images is required"),
        (["--model_name=m", "interpolate", "--steps=8"], "--steps was renamed --interp_steps (see --help)"),
    ],
)
def test_client_errors_name_the_flag(argv, message, capsys):
    assert client.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_simulate_main_runs_and_rejects_bad_flags_in_one_line(tmp_path, capsys):
    out = tmp_path / "sim"
    argv = [
        f"--out={out}",
        "--n_train=2",
        "--n_test=1",
        "--seed=0",
        "--proteins=Alp14,Arp3",
        "--image_size=48x80",
    ]
    assert simulator.main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert sorted(summary) and (out / "train" / "Arp3").is_dir()
    assert simulator.main([f"--out={out}", "--n_train=-1", "--n_test=1", "--seed=0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--n_train" in err and len(err.splitlines()) == 1
    assert simulator.main(["--n_train=1"]) == 2  # --out, --n_test, --seed missing
    assert "--out" in capsys.readouterr().err


def test_inspect_and_neighbours_mains(tmp_path, capsys):
    data = tmp_path / "sim"
    assert (
        simulator.main([f"--out={data}", "--n_train=3", "--n_test=1", "--seed=1", "--proteins=Alp14,Arp3"])
        == 0
    )
    capsys.readouterr()
    assert inspection.main([str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["format"]
    assert inspection.main([]) == 2 and "one DATA argument" in capsys.readouterr().err
    out = tmp_path / "nn.npz"
    args = [f"--data={data}", f"--out={out}", "--k=1", "--proteins=Arp3,Alp14"]
    assert neighbours.main(args) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["proteins"] == ["Arp3", "Alp14"]
    assert np.load(out)["indices"].shape == (6, 2, 1)
    assert neighbours.main([f"--data={data}", f"--out={out}", "--image_size=48by80"]) == 2
    assert "--image_size" in capsys.readouterr().err


def test_calibrate_rejects_unknown_palette(capsys):
    assert calibration.main(["--palette=rainbow", "--figure="]) == 2
    assert "magenta-green" in capsys.readouterr().err


def test_training_run_dir_flag_has_no_alias_and_old_configs_still_load(tmp_path):
    from biogans_tf.trainer.config import TrainConfig
    from biogans_tf.training import run

    try:
        flags.FLAGS(["run", f"--run_dir={tmp_path / 'r'}"])
        assert run.explicit_flags()["run_dir"] == str(tmp_path / "r")
    finally:
        flags.FLAGS.unparse_flags()
    try:
        with pytest.raises(flags.UnrecognizedFlagError):  # the old alias is gone: one name per flag
            flags.FLAGS(["run", f"--logdir={tmp_path / 'r'}"])
    finally:
        flags.FLAGS.unparse_flags()
    # A run folder written before the rename resumes: its config's "logdir" is read as run_dir.
    old = TrainConfig().to_json()
    old["logdir"] = str(tmp_path / "old")
    del old["run_dir"]
    assert TrainConfig.from_json(old).run_dir == str(tmp_path / "old")


@dataclasses.dataclass
class _Options:
    """A configuration dataclass as the commands write theirs (`options.option` fields)."""

    count: int = option(3, "how many")
    rate: float | None = option(None, "a rate (default: per loss)")
    fast: bool = option(False, "go fast")
    kind: str = option("a", "which kind", choices=("a", "b"))
    size: tuple[int, int] = option(
        (4, 8), "HxW", parse=lambda t: tuple(int(v) for v in t.split("x")), text="4x8"
    )
    c2st_steps: int = option(7, "critic steps")
    palette: str = option("gray", "colours", choices=PALETTES)
    hook: int = -1  # no `option`: no flag


def test_dataclass_fields_generate_typed_flags_with_help_and_no_aliases():
    fv = flags.FlagValues()
    cli.define_flags(_Options, "tests.test_cli_options", fv)
    assert set(fv) == {"count", "rate", "fast", "kind", "size", "c2st_steps", "palette"}  # flag = field
    text = cli.help_text("usage", "tests.test_cli_options", fv)
    assert "--count: how many" in text and "--kind: <a|b>: which kind" in text and "--[no]fast" in text
    assert "Alias" not in text and "hook" not in text
    # A named table gives the enum its names and the help its one-line descriptions.
    assert "<red-green|magenta-green|gray>: colours: red-green (" in text and "colour-blind safe" in text
    fv(["prog", "--count=5", "--size=2x3", "--c2st_steps=9", "--nofast"])
    assert cli.explicit_values(_Options, fv) == {"count": 5, "fast": False, "size": (2, 3), "c2st_steps": 9}
    given = {"fast": False, "size": (2, 3), "c2st_steps": 9}
    assert cli.explicit_values(_Options, fv, skip={"count"}) == given
    assert cli.from_flags(_Options, fv) == _Options(count=5, size=(2, 3), c2st_steps=9)
    assert fv["rate"].value is None and isinstance(fv["count"].value, int)
    with pytest.raises(flags.IllegalFlagValueError, match=r"<a\|b>"):
        fv["kind"].parse("c")


@dataclasses.dataclass
class _ListOptions:
    """Fields whose flags are bounded ints, comma-separated lists and repeatable strings."""

    n: int = option(64, "cells", lower_bound=1)
    names: list[str] | None = option(None, "comma-separated names")
    paths: list[str] | None = option(None, "files, repeated", multi=True)


def test_option_lower_bound_list_and_multi_flags():
    fv = flags.FlagValues()
    cli.define_flags(_ListOptions, "tests.test_cli_list_options", fv)
    text = cli.help_text("usage", "tests.test_cli_list_options", fv)
    assert "(a positive integer)" in text and "(a comma separated list)" in text and "repeated" in text
    fv(["prog", "--names=a,b", "--paths=x", "--paths=y,z"])
    assert cli.from_flags(_ListOptions, fv) == _ListOptions(names=["a", "b"], paths=["x", "y,z"])
    with pytest.raises(flags.IllegalFlagValueError, match="positive integer"):
        fv["n"].parse("0")


@pytest.mark.parametrize(
    "module, old, new",
    [
        ("training.evaluate", "--steps=300", "--c2st_steps"),  # as docs/RESULTS.md's early commands
        ("training.run", "--logdir=runs/x", "--run_dir"),
        ("training.sample", "--noema", "--nouse_ema"),
        ("export.saved_model", "--ema", "--export_ema"),
    ],
)
def test_a_renamed_flag_fails_in_one_line_naming_its_new_name(module, old, new):
    from tests.conftest import run_cli

    p = run_cli(module, old, timeout=120)
    assert p.returncode == 2, p.stderr[-2000:]
    errors = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {old.split('=')[0]} was renamed {new} (see --help)"], p.stderr[-2000:]
    assert "Traceback" not in p.stderr


def test_renamed_flag_message_leaves_other_errors_alone():
    renamed = {"steps": "c2st_steps", "ema": "use_ema"}
    unknown = flags.UnrecognizedFlagError("bogus")
    assert cli.renamed_flag_message(unknown, renamed) is None
    assert cli.renamed_flag_message(flags.IllegalFlagValueError("--steps=x"), renamed) is None
    assert cli.renamed_flag_message(flags.UnrecognizedFlagError("noema"), renamed) == (
        "--noema was renamed --nouse_ema (see --help)"
    )
