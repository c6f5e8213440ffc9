"""Run a deck's Python cells, in order, in one Jupyter kernel, and collect their outputs.

The kernel starts in the deck's directory (as Quarto's does), so a deck can import helper
modules that sit next to it. Before the first cell a hidden set-up cell gives matplotlib the
figure size, resolution and PNG format from the deck's settings, the same three rcParams
Quarto sets for Jupyter documents.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from tqdm import tqdm

from qmdrender.errors import RenderError
from qmdrender.project import DeckSettings, cell_option
from qmdrender.qmd import Deck

CELL_TIMEOUT_S = 600
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def setup_source(settings: DeckSettings) -> str:
    return "\n".join([
        "%matplotlib inline",
        "import matplotlib.pyplot as _plt",
        "from matplotlib_inline.backend_inline import set_matplotlib_formats as _formats",
        "_formats('png')",
        f"_plt.rcParams['figure.figsize'] = ({settings.fig_width}, {settings.fig_height})",
        f"_plt.rcParams['figure.dpi'] = {settings.fig_dpi}",
        f"_plt.rcParams['savefig.dpi'] = {settings.fig_dpi}",
    ])


def execute_deck(deck: Deck, settings: DeckSettings,
                 progress: bool = True) -> dict[int, list[dict[str, Any]]]:
    """Outputs (nbformat dicts) of every evaluated cell, keyed by the cell's index in deck.cells.

    Raises RenderError naming the deck, the cell's line and the Python error if a cell fails.
    """
    to_run = [(i, cell) for i, cell in enumerate(deck.cells) if cell_option(cell, settings, "eval")]
    if not to_run:
        return {}
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": settings.kernel, "display_name": settings.kernel,
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(setup_source(settings))]
    nb.cells += [nbformat.v4.new_code_cell(cell.source) for _, cell in to_run]
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name=settings.kernel,
                            resources={"metadata": {"path": str(deck.path.parent.resolve())}})
    outputs: dict[int, list[dict[str, Any]]] = {}
    bar = tqdm(total=len(nb.cells), desc=deck.name, unit="cell", disable=not progress,
               leave=False)
    # NOTE: the kernel process's own stderr only carries ZMQ start-up chatter; everything a
    # cell prints or raises arrives through the messaging protocol and is reported below.
    with client.setup_kernel(stderr=subprocess.DEVNULL):
        for nb_index, nb_cell in enumerate(nb.cells):
            cell = None if nb_index == 0 else to_run[nb_index - 1][1]
            where = f"{deck.path}:{cell.line}" if cell else f"{deck.path} (set-up cell)"
            try:
                client.execute_cell(nb_cell, nb_index)
            except CellExecutionError as err:
                message = _ANSI.sub("", str(err)).strip()
                raise RenderError(f"{where}: cell failed while rendering:\n{message}") from None
            except (CellTimeoutError, DeadKernelError) as err:
                raise RenderError(f"{where}: the kernel timed out or died: {err}") from err
            bar.update()
            if cell is not None:
                outputs[to_run[nb_index - 1][0]] = list(nb_cell.outputs)
    bar.close()
    return outputs

