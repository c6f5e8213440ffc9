"""Parse a `.qmd` file into its front matter, Markdown blocks and executable Python cells.

Only the subset the decks use is recognised: a YAML front matter block at the very top, and
```` ```{python} ```` cells whose leading `#| key: value` lines are cell options (YAML). Other
fenced code blocks (```` ```bash ````, ```` ```python ````) are Markdown and pass through
untouched, as do cells shown inside them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from qmdrender.errors import RenderError

# Cell options both Quarto and this renderer honour; anything else is refused so that a deck
# cannot depend on a feature only one of the two paths implements.
CELL_OPTIONS = {"echo", "eval", "output", "include", "fig-cap", "label", "warning"}

# Front-matter keys with the same meaning on both paths (revealjs options go under `format`).
FRONT_MATTER_KEYS = {"title", "subtitle", "author", "date", "format", "execute", "jupyter", "lang"}

_CELL_OPEN = re.compile(r"^(`{3,})\{python\}\s*$")
_FENCE_OPEN = re.compile(r"^(`{3,}|~{3,})")


@dataclass
class Cell:
    """A ```` ```{python} ```` cell: its code (option lines removed) and its options."""

    source: str
    options: dict[str, Any]
    line: int  # 1-based line of the opening fence in the .qmd, for error messages


@dataclass
class Deck:
    """A parsed deck: front matter, then Markdown text (str) and cells in document order."""

    path: Path
    front_matter: dict[str, Any]
    blocks: list[str | Cell] = field(default_factory=list)

    @property
    def cells(self) -> list[Cell]:
        return [b for b in self.blocks if isinstance(b, Cell)]

    @property
    def name(self) -> str:
        return self.path.stem


def parse_qmd(path: str | Path) -> Deck:
    """Read and parse one `.qmd` file; errors name the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise RenderError(f"{path}: cannot read: {err}") from err
    lines = text.splitlines()
    front_matter, body_start = _front_matter(path, lines)
    deck = Deck(path=path, front_matter=front_matter)
    _split_blocks(deck, lines, body_start)
    return deck


def _front_matter(path: Path, lines: list[str]) -> tuple[dict[str, Any], int]:
    if not lines or lines[0].strip() != "---":
        raise RenderError(f"{path}: a deck must start with a YAML front matter block ('---')")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() in ("---", "..."))
    except StopIteration:
        raise RenderError(f"{path}: the front matter opened on line 1 is never closed") from None
    try:
        data = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as err:
        raise RenderError(f"{path}: front matter is not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise RenderError(f"{path}: front matter must be a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - FRONT_MATTER_KEYS)
    if unknown:
        raise RenderError(
            f"{path}: front matter key(s) {', '.join(unknown)} are not supported by the offline "
            f"renderer; supported: {', '.join(sorted(FRONT_MATTER_KEYS))}"
        )
    if "title" not in data:
        raise RenderError(f"{path}: front matter needs a 'title' (it makes the title slide)")
    return data, end + 1


def _split_blocks(deck: Deck, lines: list[str], start: int) -> None:
    markdown: list[str] = []
    i = start
    while i < len(lines):
        line = lines[i]
        cell_open = _CELL_OPEN.match(line)
        fence_open = _FENCE_OPEN.match(line)
        if cell_open:
            close = _closing_fence(deck.path, lines, i, cell_open.group(1))
            if markdown:
                deck.blocks.append("\n".join(markdown))
                markdown = []
            deck.blocks.append(_cell(deck.path, lines[i + 1:close], i + 1))
            i = close + 1
        elif fence_open:  # a plain code block: copy it whole, cells inside it are just text
            close = _closing_fence(deck.path, lines, i, fence_open.group(1))
            markdown.extend(lines[i:close + 1])
            i = close + 1
        else:
            markdown.append(line)
            i += 1
    if markdown:
        deck.blocks.append("\n".join(markdown))


def _closing_fence(path: Path, lines: list[str], open_index: int, fence: str) -> int:
    char, width = fence[0], len(fence)
    for j in range(open_index + 1, len(lines)):
        stripped = lines[j].strip()
        if stripped and set(stripped) == {char} and len(stripped) >= width:
            return j
    raise RenderError(f"{path}:{open_index + 1}: code block opened here is never closed")


def _cell(path: Path, body: list[str], line: int) -> Cell:
    option_lines = []
    for text in body:
        if not text.startswith("#|"):
            break
        option_lines.append(text[2:].strip())
    where = f"{path}:{line}"
    try:
        options = yaml.safe_load("\n".join(option_lines)) or {}
    except yaml.YAMLError as err:
        raise RenderError(f"{where}: cell options ('#| key: value' lines) are not valid YAML: "
                          f"{err}") from err
    if not isinstance(options, dict):
        raise RenderError(f"{where}: cell options must be 'key: value' lines")
    unknown = sorted(set(options) - CELL_OPTIONS)
    if unknown:
        raise RenderError(
            f"{where}: cell option(s) {', '.join(unknown)} are not supported; "
            f"supported: {', '.join(sorted(CELL_OPTIONS))}"
        )
    output = options.get("output", True)
    if output not in (True, False, "asis"):
        raise RenderError(f"{where}: output={output!r}: expected true, false or asis")
    source = "\n".join(body[len(option_lines):]).strip("\n")
    return Cell(source=source, options=options, line=line)
