"""benchmarks/onednn_ops.py: oneDNN's verbose lines summed per primitive, only after the mark."""

import argparse
import json

import pytest

from benchmarks.demo_profile import parse_setting
from benchmarks.onednn_ops import MARK, summarise

# Lines as oneDNN 3.x prints them (copied in shape from a run of this TensorFlow build).
FWD = (
    "onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx2,forward_training,"
    "src:f32::blocked:acdb::f0 wei:f32:ap:blocked:aBdec8b::f0 bia:undef::undef::: "
    "dst:f32::blocked:acdb::f0,attr-scratchpad:user,alg:convolution_direct,"
    "g6mb16_ic96oc192_ih24oh12kh4sh2dh0ph1_iw40ow20kw4sw2dw0pw1,{ms}"
)
REORDER = (
    "onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,src:f32::blocked:decab::f0 "
    "dst:f32:p:blocked:aBdec8b::f0,,,6x128x64x4x4,{ms}"
)
CREATE = FWD.replace(",exec,", ",create:cache_miss,")


def test_only_executions_after_the_mark_count_per_iteration():
    before = [FWD.format(ms=100.0), REORDER.format(ms=50.0)]  # warm-up: not measured
    after = [FWD.format(ms=3.0), FWD.format(ms=5.0), REORDER.format(ms=1.0), CREATE.format(ms=99.0)]
    wall = json.dumps({"wall_ms_per_iter": 7.5})
    text = "\n".join([*before, MARK, "some TensorFlow log line", *after, wall])
    out = summarise(text, iters=2)
    assert out["wall_ms_per_iter"] == 7.5
    assert out["by_kind"] == pytest.approx(
        {"convolution forward_training (brg_conv_fwd:avx2)": 4.0, "reorder undef (jit:uni)": 0.5}
    )
    shape = "convolution forward_training g6mb16_ic96oc192_ih24oh12kh4sh2dh0ph1_iw40ow20kw4sw2dw0pw1"
    assert out["by_shape"][shape] == pytest.approx(4.0)


def test_settings_parse_as_json_values_or_strings():
    assert parse_setting("ndf=12") == ("ndf", 12)
    assert parse_setting("lr_d=0.0004") == ("lr_d", 0.0004)
    assert parse_setting("critic_bank=loop") == ("critic_bank", "loop")
    with pytest.raises(argparse.ArgumentTypeError, match="expected NAME=VALUE"):
        parse_setting("ndf")
