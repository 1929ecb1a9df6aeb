"""Ground-truth multichannel evaluation against the simulator's joint split."""

import numpy as np
import pytest

from biogans_tf.data.simulator import simulate_joint
from biogans_tf.eval.c2st import C2STSettings
from biogans_tf.eval.joint import compare_statistics, joint_evaluation, joint_statistics
from biogans_tf.models import build_generator
from biogans_tf.models.registry import family, get_arch
from biogans_tf.runs.generator import GeneratorRun

PROTEINS = ("Arp3", "Mkh1", "Tea1")
SIZE = (24, 40)


@pytest.fixture(scope="module")
def truth():
    a, _ = simulate_joint(PROTEINS, 120, seed=0, image_size=SIZE)
    b, _ = simulate_joint(PROTEINS, 120, seed=0, image_size=SIZE, start=120)
    return a, b


def test_statistics_separate_true_from_shuffled_joint_cells(truth):
    a, b = truth
    st_a, st_b = joint_statistics(a), joint_statistics(b)
    assert st_a["pair_correlations"].shape == (3, 3) and st_a["enrichment"].shape == (3, 2)
    np.testing.assert_allclose(np.diag(st_a["pair_correlations"]), 1.0)
    # Tea1 sits at the tips; the enrichment measure says so.
    assert st_a["enrichment"][2, 0] > 1.1
    floor = compare_statistics(st_b, st_a)
    # Greens taken from other cells (wrong geometry): the joint statistics move well beyond the floor.
    rng = np.random.default_rng(0)
    shuffled = a.copy()
    for c in range(1, 4):
        shuffled[..., c] = a[rng.permutation(len(a)), ..., c]
    moved = compare_statistics(joint_statistics(shuffled), st_a)
    assert moved["pair_correlation_mad"] > 3 * floor["pair_correlation_mad"]
    assert moved["enrichment_mad"] > 3 * floor["enrichment_mad"]


@pytest.mark.parametrize("arch", ["star", "multichannel"])
def test_joint_evaluation_of_star_and_multichannel_generators(tmp_path, truth, arch):
    a, b = truth
    model = build_generator(arch, image_size=SIZE, n_proteins=3, nz=8, ngf=8, seed=0)
    run = GeneratorRun(model, arch, family(arch), PROTEINS, 8, SIZE, get_arch(arch).separable, {}, "mem")
    generated = run.generate(run.joint_fn(), run.latents(40, seed=0))
    assert generated.shape == (40, *SIZE, 4)
    settings = C2STSettings(n_splits=2, steps=30, batch_size=8, ndf=4)
    res = joint_evaluation(generated, a[:40], b[:40], PROTEINS, settings=settings, out_dir=str(tmp_path))
    # An untrained generator is far from the truth; two truth samples are not.
    assert res["c2st"]["median"] > res["c2st_truth_vs_truth"]["median"]
    s = res["summary"]
    assert s["generated_vs_truth"]["enrichment_mad"] > s["truth_reference_vs_truth"]["enrichment_mad"]
    assert len(res["statistics"]["generated"]["pair_correlations"]) == 3
    for name in res["figures"].values():
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_joint_evaluation_checks_channels(truth):
    a, b = truth
    with pytest.raises(ValueError, match="generated must be"):
        joint_evaluation(a[..., :3], a, b, PROTEINS)
