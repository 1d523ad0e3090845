"""examples/loop.ipynb runs from top to bottom: the whole loop through `cotmill.Workspace` in
a Jupyter kernel (generate inside the kernel's running event loop, verify, curate, mix,
export, a tiny model's SFT, GRPO and eval); its cells assert their results, so any failing
cell fails this test. Its stored outputs stay empty, so its diffs stay small."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("torch")  # the notebook trains

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "examples" / "loop.ipynb"


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)
    assert sum("assert " in cell.source for cell in code) >= 6  # it checks what it makes


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_notebook_runs(tmp_path, monkeypatch):
    # a kernel on this very Python and checkout (not whatever `python3` kernel is installed)
    spec = tmp_path / "jupyter" / "kernels" / "cotmill-test"
    spec.mkdir(parents=True)
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "cotmill test", "language": "python", "env": {"PYTHONPATH": pythonpath},
    }))  # fmt: skip
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.delenv("COTMILL_WORKSPACE", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="cotmill-test", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # a cell that raises fails here (CellExecutionError names it)
    assert (tmp_path / "loop-notebook" / "runs" / "grpo" / "final").is_dir()
    assert not (REPO / "loop-notebook").exists()  # it ran in tmp_path, not the checkout
