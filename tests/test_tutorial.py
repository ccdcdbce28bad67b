"""The tutorial notebook runs top to bottom (in a temporary directory: it writes nothing into the
repository) and is stored without outputs."""
import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "examples" / "tutorial.ipynb"
TOOLS = ("nbformat", "nbclient", "ipykernel")
SKIP = "the notebook tools are not installed (pip install -e '.[dev]': nbformat, nbclient, ipykernel)"


def read_notebook():
    if any(importlib.util.find_spec(tool) is None for tool in TOOLS):
        pytest.skip(SKIP)
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    return notebook


def test_stored_notebook_has_no_outputs():
    notebook = read_notebook()
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, \
                f"cell {index} holds outputs: clear them (jupyter nbconvert --clear-output --inplace {NOTEBOOK.name})"


def test_tutorial_runs_in_a_temporary_directory(tmp_path, monkeypatch):
    notebook = read_notebook()
    from nbclient import NotebookClient

    if importlib.util.find_spec("pynapple") is None:  # the export section needs the export extra
        notebook.cells = [cell for cell in notebook.cells if "export" not in cell.metadata.get("tags", [])]
    # The kernel imports the package from this checkout, whether or not it is installed.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = NotebookClient(notebook, timeout=240, kernel_name="python3", resources={"metadata": {"path": tmp_path}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, if a cell fails
    run = tmp_path / "runs" / "tutorial"
    assert (run / "checkpoint.pt").exists() and (run / "eval-square-8.json").exists()
    assert (run / "ratemaps-square-10.json").exists()
    images = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
              if output.output_type == "display_data" and "image/png" in output.data]
    assert len(images) >= 3  # learning curve, accuracy against visited, rate maps
