"""Every notebook runs top to bottom headless in smoke mode, uses only the public API of
auroragpt, and is stored without outputs.

Time budget: the whole set executes in about three minutes on 2 CPU cores with
AURORAGPT_SMOKE=1 (each notebook well under two minutes).
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ALLOWED_TOP_LEVEL = {"auroragpt", "torch", "numpy", "matplotlib", "ipywidgets", "math", "os",
                     "time", "json", "pathlib", "tempfile", "collections", "itertools",
                     "subprocess", "sys", "shutil", "re", "IPython", "random", "textwrap",
                     "transformers"}


def code_of(nb) -> list[ast.AST]:
    return [ast.parse(c.source) for c in nb.cells if c.cell_type == "code"]


def test_notebooks_are_numbered_and_present():
    numbers = [p.name[:2] for p in NOTEBOOKS]
    assert {"00", "01", "02", "03", "04", "05", "10"} <= set(numbers), numbers
    assert len(numbers) == len(set(numbers)), "two notebooks share a number"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_clean_and_uses_public_api(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, (
                f"{path.name}: strip outputs before committing")
    for tree in code_of(nb):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
                names = []
            elif isinstance(node, ast.ImportFrom):
                modules, names = [node.module or ""], [a.name for a in node.names]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] in ALLOWED_TOP_LEVEL, f"{path.name}: imports {module}"
                assert not any(part.startswith("_") for part in module.split(".")), (
                    f"{path.name}: private module {module}")
            assert not any(n.startswith("_") for n in names), f"{path.name}: private name {names}"
    first = nb.cells[0].source
    assert "Learning goals" in first and "Prerequisites" in first, path.name
    assert "Check your understanding" in nb.cells[-1].source, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_in_smoke_mode(path, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("AURORAGPT_SMOKE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("AURORAGPT_NOTEBOOK_WORKDIR", str(tmp_path))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
