"""Every notebook runs top to bottom on the micro organism, including the code behind its widgets,
and the committed notebooks are exactly what notebooks/build.py generates (no outputs stored)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
# Notebook -> (plotly figures its cells show directly, widgets whose callbacks must have drawn something)
EXPECTED = {"01_activations": (3, 1), "02_interventions": (1, 1), "03_drift": (2, 2)}


def _build_module():
    spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_notebooks_are_generated_and_empty(tmp_path):
    written = _build_module().main(tmp_path)
    assert sorted(p.stem for p in written) == sorted(EXPECTED) == sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    for path in written:
        assert path.read_bytes() == (NOTEBOOKS / path.name).read_bytes(), f"{path.name} is stale: run notebooks/build.py"
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code and all(not c.outputs and c.execution_count is None for c in code)
        assert "KOLANG_NOTEBOOK_MODEL" in code[0].source + code[1].source  # one variable points it at any model


def _widget_outputs(nb) -> list[list[dict]]:
    """The outputs captured by each Output widget (where `interact` callbacks print, plot or fail)."""
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return [m["state"].get("outputs", []) for m in state.values() if m.get("model_name") == "OutputModel"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs(name, micro_organism, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("KOLANG_NOTEBOOK_MODEL", str(micro_organism))
    monkeypatch.setenv("KOLANG_THREADS", "1")
    monkeypatch.delenv("KOLANG_NOTEBOOK_RUN", raising=False)  # 03 makes its own tiny run
    monkeypatch.delenv("KOLANG_NOTEBOOK_NEURONS", raising=False)
    monkeypatch.setenv("KOLANG_CACHE", str(tmp_path / "cache"))  # nothing may fall back to building the full organism
    from nbclient.exceptions import CellTimeoutError

    # A cell takes seconds. Rarely, under load, the client never hears the kernel's reply to a cell
    # that has finished (the kernel sits idle), so a cell gets 90 s and the notebook fresh retries.
    for attempt in (1, 2, 3):
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        try:
            NotebookClient(nb, timeout=90, kernel_name="python3", store_widget_state=True,
                           resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises on any cell error
            break
        except CellTimeoutError:
            if attempt == 3:
                raise
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    figures = sum("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs)
    n_figures, n_widgets = EXPECTED[name]
    assert figures >= n_figures
    captured = _widget_outputs(nb)
    errors = [o for out in captured for o in out if o.get("output_type") == "error"]
    assert not errors, [f"{e['ename']}: {e['evalue']}" for e in errors]
    assert sum(bool(out) for out in captured) >= n_widgets
    assert not (tmp_path / "cache").exists()
