"""Render Quarto revealjs decks without Quarto: the offline path behind `make slides`.

Quarto cannot be installed on machines without internet, so this package renders the same
`.qmd` sources with tools that can: the Python cells run in a Jupyter kernel (nbclient), their
outputs are woven back into the Markdown, and pandoc writes a self-contained revealjs page
against a local reveal.js from npm. It supports the subset of Quarto the decks are written in
(front matter, `##` slides, fenced divs, cell options `echo`/`eval`/`output`/`include`/
`fig-cap`, and the revealjs options in `OPTION_VARIABLES`) and refuses anything else with an
error naming the file and the key, so a deck never renders differently on the two paths.

Modules, in the order a deck flows through them: `qmd` (parse), `project` (merge `_quarto.yml`
with the deck's front matter), `execute` (run the cells), `weave` (outputs back into Markdown),
`pandoc` (Markdown to HTML), `render` (the whole pipeline for a project).
"""

from qmdrender.errors import RenderError
from qmdrender.render import render_deck, render_project

__all__ = ["RenderError", "render_deck", "render_project"]
