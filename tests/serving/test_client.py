"""serving.client: the typed client and its CLI (PNG/GIF output) against the server subprocess."""

import json

import numpy as np
from PIL import Image

from biogans_tf import viz
from biogans_tf.serving import client as cl
from tests.serving.conftest import MODEL, NZ, SIZE


def test_typed_client(served):
    c = cl.ServingClient(served.server.target, MODEL)
    try:
        meta = c.metadata()
        assert meta == {"proteins": ["Alp14"], "channels": ["red:Bgs4", "green:Alp14"], "nz": NZ}
        assert c.status()[0]["state"] == "AVAILABLE"
        out = c.sample(3, seed=2)
        np.testing.assert_array_equal(c.generate(out["z"]), out["images"])
        assert "reconstruct" in c.signature_defs()
    finally:
        c.close()


def test_cli_sample_reconstruct_interpolate(served, tmp_path, capsys):
    common = ["--target", served.server.target, "--model_name", MODEL]
    grid = tmp_path / "grid.png"
    assert cl.main(common + ["sample", "--n", "16", "--seed", "1", "--out", str(grid), "--scale", "1",
                             "--npy", str(tmp_path / "s.npy")]) == 0  # fmt: skip
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["n"] == 16
    # 16 cells, 8 per row, 2 px gutters: the viewer used in training.
    assert Image.open(grid).size == (8 * (SIZE[1] + 2) + 2, 2 * (SIZE[0] + 2) + 2)

    # Real-cell round trip: PNG cells as LIN stores them (R = red, G = green) -> reconstruct.
    cells = np.load(tmp_path / "s.npy")[:2]
    paths = []
    for i, cell in enumerate(cells):
        paths.append(str(tmp_path / f"cell{i}.png"))
        viz.save_png(paths[-1], viz.composite(cell))
    out = tmp_path / "rec.png"
    assert cl.main(common + ["reconstruct", "--images", *paths, "--iterations", "30", "--restarts", "2",
                             "--out", str(out)]) == 0  # fmt: skip
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(rec["l2"]) == 2 and max(rec["l2"]) < 0.01  # 8-bit quantised targets: not exactly zero
    assert out.is_file()

    gif = tmp_path / "walk.gif"
    assert cl.main(common + ["interpolate", "--seed", "3", "--interp_steps", "5", "--out", str(gif)]) == 0
    assert Image.open(gif).n_frames == 5


def test_cli_errors_are_clear(served, tmp_path, capsys):
    common = ["--target", served.server.target]
    assert cl.main(common + ["--model_name", "nope", "sample", "--out", str(tmp_path / "x.png")]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err
    bad = tmp_path / "small.png"
    Image.new("RGB", (5, 5)).save(bad)
    assert cl.main(common + ["--model_name", MODEL, "reconstruct", "--images", str(bad)]) == 2
    assert "expected cells of shape [16, 32, 2]" in capsys.readouterr().err


def test_observed_cells_place_red_and_one_green_in_a_star_layout():
    cells = np.stack([np.full((4, 6), 0.5, np.float32), np.full((4, 6), 0.25, np.float32)], axis=-1)[None]
    images, mask = cl._observed_cells(cells, (4, 6, 4), channel=2)  # red, 3 greens; the 2nd observed
    np.testing.assert_array_equal(mask, [1, 0, 1, 0])
    np.testing.assert_array_equal(images[0, ..., 0], 0.5)
    np.testing.assert_array_equal(images[0, ..., 2], 0.25)
    np.testing.assert_array_equal(images[0, ..., [1, 3]], -1.0)  # unknown greens: background, ignored


def test_cli_reconstruct_with_protein_uses_the_masked_signature(served, tmp_path, capsys):
    common = ["--target", served.server.target, "--model_name", MODEL]
    c = cl.ServingClient(served.server.target, MODEL)
    try:
        cells = c.sample(2, seed=4)["images"]
    finally:
        c.close()
    paths = []
    for i, cell in enumerate(cells):
        paths.append(str(tmp_path / f"cell{i}.png"))
        viz.save_png(paths[-1], viz.composite(cell))
    args = ["reconstruct", "--protein", "Alp14", "--images", *paths, "--iterations", "30", "--restarts", "2"]
    assert cl.main(common + args + ["--out", str(tmp_path / "rec.png")]) == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rec["l2_channels"] == "Bgs4+Alp14" and len(rec["l2"]) == 2 and max(rec["l2"]) < 0.01
    assert cl.main(common + ["reconstruct", "--protein", "Tea1", "--images", paths[0]]) == 2
    assert "--protein='Tea1': expected one of this model's proteins: Alp14" in capsys.readouterr().err
