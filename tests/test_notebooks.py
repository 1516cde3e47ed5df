"""Every notebook in notebooks/ runs top to bottom on its tiny settings (``WMGYM_NOTEBOOK_FAST=1``).

Executed with nbclient in a fresh kernel, in a temporary folder (what a notebook writes lands
there), so a notebook that raises, or hangs past its time limit, fails here. Together they take
about 40 s of CPU (80 s on a busy 2-core machine), so they are marked slow: CI runs them with
``python -m pytest -m slow tests/test_notebooks.py``.
"""

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks_to_run():
    assert len(NOTEBOOKS) >= 3, NOTEBOOKS


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_notebook_runs_on_its_tiny_settings(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="the dev extra installs nbformat, nbclient and ipykernel")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("WMGYM_NOTEBOOK_FAST", "1")
    monkeypatch.setenv("MUJOCO_GL", "egl")
    nb = nbformat.read(path, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{path.name}: strip its outputs"
    client = nbclient.NotebookClient(
        nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
