"""`--penalty` and `--critic_norm` in the config: defaults, checks, resume of runs that predate them."""

import json

import pytest

from biogans_tf.trainer.config import (
    RESUMABLE_CHANGES,
    ConfigError,
    load_config,
    merge_for_resume,
    resolve,
)


def test_defaults_keep_the_reference_settings():
    cfg = resolve({"run_dir": "x"})
    assert (cfg.critic_norm, cfg.penalty, cfg.loss().penalty_type) == ("none", "gp", "gp")
    assert resolve({"run_dir": "x", "critic_norm": "spectral"}).critic_norm == "spectral"
    assert not {"critic_norm", "penalty"} & RESUMABLE_CHANGES  # they change what is trained


@pytest.mark.parametrize(
    "flags, flag_named",
    [({"critic_norm": "weight"}, "--critic_norm='weight'"), ({"penalty": "l2"}, "--penalty='l2'")],
)
def test_bad_values_fail_naming_the_flag(flags, flag_named):
    with pytest.raises(ConfigError) as e:
        resolve({"run_dir": "x", **flags})
    assert flag_named in str(e.value)


def test_a_run_that_predates_the_options_resumes_unchanged(tmp_path):
    saved = resolve({"run_dir": str(tmp_path)}).to_json()
    old = {k: v for k, v in saved.items() if k not in ("critic_norm", "penalty")}  # an older config.json
    (tmp_path / "config.json").write_text(json.dumps(old))
    cfg = load_config(str(tmp_path / "config.json"))
    assert (cfg.critic_norm, cfg.penalty) == ("none", None)
    merged = merge_for_resume(cfg, {"steps": 7}, "config.json")
    assert merged.steps == 7 and merged.loss() == resolve({"run_dir": "y"}).loss()
    with pytest.raises(ConfigError, match="--critic_norm='spectral' differs"):
        merge_for_resume(cfg, {"critic_norm": "spectral"}, "config.json")
