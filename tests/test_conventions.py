"""`biogans_tf.conventions`: pixel ranges, image-size parsing and seed derivations, each defined once."""

import subprocess
import sys

import numpy as np
import pytest

from biogans_tf import conventions as C
from biogans_tf.data.errors import DataError

ALL_UINT8 = np.arange(256, dtype=np.uint8)


# ---- uint8 <-> [-1, 1] ----------------------------------------------------------------------


def test_uint8_round_trip_numpy():
    u = C.to_model_range(ALL_UINT8)
    assert u.dtype == np.float32 and u[0] == -1.0 and u[-1] == 1.0
    np.testing.assert_array_equal(C.to_uint8(u), ALL_UINT8)
    assert C.to_uint8(ALL_UINT8) is ALL_UINT8  # uint8 input is returned as is
    np.testing.assert_array_equal(C.to_uint8(np.array([-3.0, 3.0], np.float32)), [0, 255])  # clipped


def test_float_input_passes_through():
    x = np.array([-0.5, 0.25], np.float64)
    assert C.to_model_range(x).dtype == np.float32
    np.testing.assert_array_equal(C.to_model_range(x), x.astype(np.float32))


def _ulps(a, b) -> int:
    return int(np.max(np.abs(a.view(np.int32).astype(np.int64) - b.view(np.int32).astype(np.int64))))


def test_the_two_old_formulas_agree_within_one_ulp_numpy():
    # x / 255 * 2 - 1 (the data pipeline) is the one kept; x / 127.5 - 1 was evaluation's.
    x = ALL_UINT8.astype(np.float32)
    old = x / np.float32(127.5) - np.float32(1.0)
    assert _ulps(C.to_model_range(ALL_UINT8), old) <= 1
    np.testing.assert_array_equal(C.to_model_range(ALL_UINT8), old)  # in fact bit-identical


def test_tf_versions_match_numpy_and_the_old_formula():
    tf = pytest.importorskip("tensorflow")
    u = C.to_model_range_tf(tf.constant(ALL_UINT8)).numpy()
    old = (tf.cast(tf.constant(ALL_UINT8), tf.float32) / 127.5 - 1.0).numpy()
    assert u.dtype == np.float32 and _ulps(u, old) <= 1
    np.testing.assert_array_equal(u, C.to_model_range(ALL_UINT8))
    np.testing.assert_array_equal(C.to_uint8_tf(u).numpy(), ALL_UINT8)
    noisy = np.linspace(-1.2, 1.2, 1001, dtype=np.float32)
    np.testing.assert_array_equal(C.to_uint8_tf(noisy).numpy(), C.to_uint8(noisy))
    assert C.to_model_range_tf(tf.constant([0.5])).dtype == tf.float32


# ---- image sizes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["48x80", "48X80", "48,80", " 48 x 80 ", (48, 80), [48, 80], (np.int64(48), 80), (48.0, 80)]
)
def test_parse_image_size_accepts(value):
    assert C.parse_image_size(value) == (48, 80)


BAD_SIZES = ["48", "48x", "x80", "48x80x2", "-48x80", "0x80", "48.5x80", "48by80", "", (48,), (48.5, 80),
             (True, 80), None]  # fmt: skip


@pytest.mark.parametrize("value", BAD_SIZES)
def test_parse_errors_are_one_line_naming_the_flag(value):
    with pytest.raises(ValueError) as e:
        C.parse_image_size(value)
    msg = str(e.value)
    assert msg.startswith("--image_size: ") and "\n" not in msg and "HEIGHTxWIDTH" in msg


def test_parse_errors_take_the_callers_exception_and_field():
    with pytest.raises(DataError) as e:
        C.parse_image_size("48by80", "config.json", DataError)
    assert (
        e.value.path == "config.json"
        and str(e.value) == "config.json: '48by80': expected HEIGHTxWIDTH, e.g. 48x80"
    )


def test_every_command_parses_sizes_the_same_way():
    from biogans_tf.data import simulator
    from biogans_tf.trainer.config import ConfigError
    from biogans_tf.trainer.config import parse_image_size as config_size

    assert config_size("24,40") == simulator.parse_image_size("24x40") == C.parse_image_size([24, 40])
    with pytest.raises(ConfigError, match="^--image_size: '48': expected HEIGHTxWIDTH"):
        config_size("48")
    with pytest.raises(DataError, match="^--image_size: "):
        simulator.parse_image_size("48")
    with pytest.raises(DataError, match="^--image_size: .*even width"):
        simulator.parse_image_size("48x81")  # parses, but the simulator cannot render it


def test_tower_sizes():
    tower = pytest.importorskip("biogans_tf.models.tower")
    assert tower.check_image_size("16x32") == (16, 32)
    with pytest.raises(ValueError, match="^image_size: expected two ints >= 8"):
        tower.check_image_size((4, 80))
    with pytest.raises(ValueError, match="^image_size: "):
        tower.check_image_size((48.5, 80))


# ---- seeds: the values stored results depend on (computed with the code before issue 13) -----


def test_derive_seed_keeps_its_values():
    # models/init.derive_seed: SeedSequence([seed, crc32("/".join(path))]) >> 1
    assert C.derive_seed(0, "conv", 0) == 1280515480
    assert C.derive_seed(7, "green", 3, "conv") == 52118417
    assert C.derive_seed(2**40, "critic", 5) == 1560242260
    for bad in (-1, True, 1.0, "3"):
        with pytest.raises(ValueError, match="^seed: "):
            C.derive_seed(bad, "conv")


def test_derive_key_keeps_its_values():
    # eval/c2st.derive_key (C2ST split keys) and data/pipeline._stream_seed (data order, flips).
    assert [C.derive_key(0, 3), C.derive_key(123, 1, 2), C.derive_key(5)] == [1306511473, 1727997109, 8411699]
    assert [C.derive_key(0, 1, 0), C.derive_key(0, 2, 0)] == [1982462498, 1570558271]
    assert [C.derive_key(42, 1, 3), C.derive_key(42, 3, 0)] == [6885629, 1270791718]


def test_pipeline_streams_use_derive_key():
    pipeline = pytest.importorskip("biogans_tf.data.pipeline")
    assert pipeline._stream_seed(42, 1, 3) == 6885629 and pipeline._stream_seed(0, 2) == 1570558271
    with pytest.raises(DataError, match="seed"):
        pipeline._stream_seed(-1, 1)


def test_stateless_seed_keeps_its_values():
    pytest.importorskip("tensorflow")
    assert C.stateless_seed(0, 3).numpy().tolist() == [530438388347493597, 3]
    assert C.stateless_seed(9, 17, 2).numpy().tolist() == [-6062570291660772581, 2]


# ---- names ------------------------------------------------------------------------------------


def test_protein_lists_and_names():
    assert C.SIM_PROTEINS[: len(C.PAPER_PROTEINS)] == C.PAPER_PROTEINS and len(set(C.SIM_PROTEINS)) == 8
    assert set(C.FAMILIES) == {"joint", "multichannel", "conditional"}
    assert C.STRATEGIES == ("default", "mirrored", "multi_worker")


@pytest.mark.e2e
def test_import_does_not_load_tensorflow():
    code = "import sys, biogans_tf.conventions; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
