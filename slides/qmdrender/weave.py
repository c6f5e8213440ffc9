"""Weave executed cells back into Markdown: code (if echoed), then text, tables and figures.

Output classes follow the ones Quarto puts on the same elements (`cell-code`, `cell-output`,
`cell-output-stdout`, `cell-output-display`), so one stylesheet styles both paths. Figures are
written as PNG files into `assets_dir` and referenced by name; pandoc embeds them.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from qmdrender.errors import RenderError
from qmdrender.project import DeckSettings, cell_option
from qmdrender.qmd import Cell, Deck


def weave(deck: Deck, settings: DeckSettings, outputs: dict[int, list[dict[str, Any]]],
          assets_dir: Path) -> str:
    """The deck as plain pandoc Markdown (front matter included), cells replaced by results."""
    parts = [_front_matter_block(deck)]
    cell_index = 0
    for block in deck.blocks:
        if isinstance(block, str):
            parts.append(block)
            continue
        cell = block
        if cell_option(cell, settings, "include"):
            parts.append(_cell_markdown(deck, cell, cell_index, settings,
                                        outputs.get(cell_index, []), assets_dir))
        cell_index += 1
    return "\n".join(parts) + "\n"


def _front_matter_block(deck: Deck) -> str:
    # NOTE: only the keys pandoc reads; `format`/`execute`/`jupyter` were consumed already and
    # would otherwise leak into pandoc's metadata.
    meta = {k: v for k, v in deck.front_matter.items()
            if k in ("title", "subtitle", "author", "date", "lang")}
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"


def _cell_markdown(deck: Deck, cell: Cell, index: int, settings: DeckSettings,
                   outputs: list[dict[str, Any]], assets_dir: Path) -> str:
    parts = []
    if cell_option(cell, settings, "echo"):
        parts.append(_fenced(cell.source, "{.python .cell-code}"))
    mode = cell_option(cell, settings, "output")
    if mode is not False:
        if not cell_option(cell, settings, "warning"):
            outputs = [o for o in outputs
                       if not (o["output_type"] == "stream" and o["name"] == "stderr")]
        parts.extend(_outputs_markdown(deck, cell, index, outputs, mode == "asis", assets_dir))
    return "\n" + "\n\n".join(parts) + "\n"


def _outputs_markdown(deck: Deck, cell: Cell, index: int, outputs: list[dict[str, Any]],
                      asis: bool, assets_dir: Path) -> list[str]:
    parts: list[str] = []
    figures: list[str] = []
    stream_text = {"stdout": "", "stderr": ""}

    def flush_streams() -> None:
        for name, text in stream_text.items():
            if text:
                parts.append(text if asis else
                             _fenced(text.rstrip("\n"), f"{{.cell-output .cell-output-{name}}}"))
                stream_text[name] = ""

    for output in outputs:
        kind = output["output_type"]
        if kind == "stream":
            stream_text[output["name"]] += output["text"]
            continue
        flush_streams()
        if kind not in ("display_data", "execute_result"):
            continue  # errors raise in execute_deck; nothing else carries content
        data = output.get("data", {})
        if "image/png" in data:
            name = f"{deck.name}-cell{index}-fig{len(figures)}.png"
            (assets_dir / name).write_bytes(base64.b64decode(data["image/png"]))
            figures.append(name)
            parts.append(f"![]({name})")  # caption filled in below, once figures are counted
        elif "text/markdown" in data:
            parts.append(data["text/markdown"])
        elif "text/html" in data:
            parts.append(_fenced(data["text/html"], "{=html}"))
        elif "text/plain" in data:
            text = data["text/plain"]
            parts.append(text if asis else _fenced(text, "{.cell-output .cell-output-display}"))
    flush_streams()

    caption = cell.options.get("fig-cap")
    if caption is not None:
        if len(figures) != 1:
            raise RenderError(f"{deck.path}:{cell.line}: fig-cap needs exactly one figure from "
                              f"the cell, it produced {len(figures)}")
        parts = [f"![{caption}]({figures[0]})" if p == f"![]({figures[0]})" else p
                 for p in parts]
    return parts


def _fenced(text: str, info: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}{info}\n{text}\n{fence}"
