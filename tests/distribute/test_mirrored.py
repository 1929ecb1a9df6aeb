"""MirroredStrategy on 2 logical CPU devices: one training run equals the single-device run.

Both runs use the same seeds and the same GLOBAL batch of 4 (2 per replica under the strategy),
through `biogans_tf.trainer.setup.build_trainer` and `distribute.replica_datasets`. Tolerance: every weight
(generator, critic, EMA generator) within 1e-5 absolute after 4 critic updates / 2 generator
updates (measured: ~1e-7, float32 rounding of the cross-replica sums), and every logged loss within
1e-5 relative. The probe runs in a subprocess because logical devices must be configured before
TensorFlow initialises.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

# wgan-gp on the star family (conditional data: the batch axis is 1; eps [C, B] sliced), and the
# joint family with a BatchNorm critic and weight clipping (synchronized BatchNorm in both nets,
# clipping through assign_synced).
SPECS = ("star:wgan-gp", "dcgan:wgan")
ATOL_WEIGHTS = 1e-5
RTOL_LOSSES = 1e-5


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    out = tmp_path_factory.mktemp("mirrored") / "result.json"
    cmd = [sys.executable, "-m", "tests.distribute.mirrored_probe", str(out), "4", *SPECS]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize("spec", SPECS)
def test_mirrored_step_equals_single_device_step(probe, spec):
    r = probe[spec]
    assert r["replicas"] == [1, 2]
    assert r["counters"][0] == r["counters"][1] == [2, 4, 0]  # 2 generator its = 4 critic updates
    for model, diff in r["max_abs_diff"].items():
        assert diff <= ATOL_WEIGHTS, (spec, model, diff)
    single, mirrored = r["logs"]
    assert [s["generator_updated"] for s in single] == [0.0, 1.0, 0.0, 1.0]
    for a, b in zip(single, mirrored, strict=True):
        for key in ("d_loss", "g_loss", "wdist", "gp", "step", "generator_updated"):
            np.testing.assert_allclose(b[key], a[key], rtol=RTOL_LOSSES, atol=1e-7, err_msg=f"{spec} {key}")
