"""docs/quickstart.ipynb runs end to end (nbclient, a real kernel) at tiny sizes, so it cannot rot."""

import os

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from biogans_tf.tiff import read_tiff
from tests.conftest import ROOT

NOTEBOOK = os.path.join(ROOT, "docs", "quickstart.ipynb")
# Bazel targets carry only their Python sources and deps; the notebook is checked by pytest (CI runs both).
pytestmark = pytest.mark.skipif(
    "TEST_SRCDIR" in os.environ and not os.path.isfile(NOTEBOOK),
    reason="docs/quickstart.ipynb is not in this Bazel target's runfiles",
)
TINY = {
    "QUICKSTART_STEPS": "2",
    "QUICKSTART_CELLS": "16",
    "QUICKSTART_SIZE": "24x40",
    "QUICKSTART_WIDTH": "8",
    "QUICKSTART_BATCH": "4",
    "QUICKSTART_ITERATIONS": "2",
    "QUICKSTART_INTERP_STEPS": "4",
}


def test_committed_notebook_has_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.e2e  # CI runs it (README's test command)
def test_quickstart_executes_at_tiny_sizes(tmp_path, monkeypatch):
    out = tmp_path / "quickstart"
    # The kernel inherits this environment: tiny parameters, the checkout importable, quiet TF, CPU.
    env = {**TINY, "QUICKSTART_OUT": str(out), "BIOGANS_ROOT": ROOT, "PYTHONPATH": ROOT}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws the figures
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError (with the cell's traceback) if any cell fails

    outputs = "".join(
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "stream"
    )
    assert "Spearman" in outputs
    images = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})
    ]
    assert len(images) >= 3  # simulated cells, samples, the TIFF's channels

    samples = read_tiff(str(out / "samples.ome.tif"))
    assert samples.axes == "QCYX" and samples.data.shape == (16, 4, 24, 40)
    assert samples.channels == ["Bgs4", "Alp14", "Arp3", "Tea1"] and samples.pixel_size_um == (0.1, 0.1)
    walk = read_tiff(str(out / "interpolation" / "interp_linear.ome.tif"))
    assert walk.axes == "TCYX" and walk.data.shape == (4, 4, 24, 40) and walk.dtype == np.uint8
    assert walk.channels == samples.channels
