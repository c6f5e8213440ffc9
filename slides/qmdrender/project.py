"""Read `_quarto.yml` and merge it with a deck's front matter into the settings of one render.

Quarto merges project options under each document's own (`format: revealjs:` and `execute:`
keys, the document winning); this module does the same for the keys both paths understand and
translates Quarto's revealjs option names to the variables of pandoc's revealjs template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from qmdrender.errors import RenderError
from qmdrender.qmd import Cell, Deck

# Quarto revealjs option -> pandoc revealjs template variable (reveal.js config name).
OPTION_VARIABLES = {
    "slide-number": "slideNumber",
    "transition": "transition",
    "transition-speed": "transitionSpeed",
    "background-transition": "backgroundTransition",
    "width": "width",
    "height": "height",
    "margin": "margin",
    "min-scale": "minScale",
    "max-scale": "maxScale",
    "center": "center",
    "controls": "controls",
    "controls-layout": "controlsLayout",
    "progress": "progress",
    "hash": "hash",
    "history": "history",
    "navigation-mode": "navigationMode",
    "show-slide-number": "showSlideNumber",
}

# Variables the template already wraps in quotes; the rest are pasted into JavaScript as is.
_QUOTED_IN_TEMPLATE = {"transition", "transitionSpeed", "backgroundTransition", "controlsLayout",
                       "navigationMode", "showSlideNumber"}

# Quarto theme -> the reveal.js theme it is built on. Only themes whose fonts ship with
# reveal.js are allowed: the others @import web fonts, which cannot be fetched offline.
THEMES = {"default": "white", "dark": "black", "serif": "serif"}

# Options handled here rather than passed to the template.
_HANDLED = {"theme", "css", "embed-resources", "auto-stretch", "fig-width", "fig-height",
            "fig-dpi", "fig-format"}

EXECUTE_DEFAULTS = {"echo": True, "eval": True, "output": True, "include": True, "warning": True}


@dataclass
class Project:
    """A Quarto project directory: its options, where output goes and which files it renders."""

    root: Path
    options: dict[str, Any]

    @property
    def output_dir(self) -> Path:
        return self.root / self.options.get("project", {}).get("output-dir", "_site")

    def deck_paths(self) -> list[Path]:
        """The `.qmd` files named by `project.render` globs (default: all), sorted by name."""
        globs = self.options.get("project", {}).get("render", ["*.qmd"])
        paths = {p for pattern in globs for p in self.root.glob(pattern)
                 if p.suffix == ".qmd" and not p.name.startswith(("_", "."))}
        return sorted(paths)


@dataclass
class DeckSettings:
    """Everything the executor, weaver and pandoc need to know about one deck."""

    execute: dict[str, Any]  # echo, eval, output, include, warning defaults for cells
    kernel: str  # Jupyter kernel name
    theme: str  # reveal.js theme file name
    css: list[Path]  # stylesheets, embedded into the page
    fig_width: float  # inches
    fig_height: float  # inches
    fig_dpi: int
    variables: dict[str, str] = field(default_factory=dict)  # pandoc -V name=value


def load_project(root: str | Path) -> Project:
    root = Path(root)
    path = root / "_quarto.yml"
    if not path.is_file():
        raise RenderError(f"{path}: not found; a Quarto project needs a _quarto.yml")
    try:
        options = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise RenderError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(options, dict):
        raise RenderError(f"{path}: expected a mapping of options")
    return Project(root=root, options=options)


def deck_settings(project: Project, deck: Deck) -> DeckSettings:
    """Project options overlaid with the deck's own, validated and translated for pandoc."""
    reveal = {**_revealjs_options(project.options, project.root / "_quarto.yml"),
              **_revealjs_options(deck.front_matter, deck.path)}
    execute = {**EXECUTE_DEFAULTS, **project.options.get("execute", {}),
               **deck.front_matter.get("execute", {})}
    where = f"{deck.path} (with {project.root / '_quarto.yml'})"
    # NOTE: `freeze` is Quarto's cache of cell results (_freeze/); this renderer keeps no cache
    # and always executes, so the option is accepted and has nothing to do here.
    execute.pop("freeze", None)
    unknown = sorted(set(execute) - set(EXECUTE_DEFAULTS))
    if unknown:
        raise RenderError(f"{where}: execute option(s) {', '.join(unknown)} are not supported; "
                          f"supported: {', '.join(EXECUTE_DEFAULTS)}")
    if reveal.get("embed-resources") is not True:
        raise RenderError(f"{where}: set format.revealjs.embed-resources: true (the decks are "
                          "self-contained pages on both render paths)")
    if reveal.get("auto-stretch", True) is not False:
        raise RenderError(f"{where}: set format.revealjs.auto-stretch: false (the offline "
                          "renderer does not stretch figures, so Quarto must not either)")
    if reveal.get("fig-format", "png") != "png":
        raise RenderError(f"{where}: fig-format={reveal['fig-format']!r}: only png is supported")
    theme = reveal.get("theme", "default")
    if theme not in THEMES:
        raise RenderError(f"{where}: theme={theme!r}: expected one of {', '.join(THEMES)} "
                          "(other themes load web fonts, which an offline render cannot embed)")
    unknown = sorted(set(reveal) - set(OPTION_VARIABLES) - _HANDLED)
    if unknown:
        raise RenderError(f"{where}: revealjs option(s) {', '.join(unknown)} are not supported "
                          f"offline; supported: {', '.join(sorted(set(OPTION_VARIABLES) | _HANDLED))}")
    css = reveal.get("css", [])
    css_paths = [_resolve(project, deck, name) for name in ([css] if isinstance(css, str) else css)]
    return DeckSettings(
        execute=execute,
        kernel=str(deck.front_matter.get("jupyter", project.options.get("jupyter", "python3"))),
        theme=THEMES[theme],
        css=css_paths,
        fig_width=float(reveal.get("fig-width", 10)),
        fig_height=float(reveal.get("fig-height", 5)),
        fig_dpi=int(reveal.get("fig-dpi", 96)),
        variables={OPTION_VARIABLES[k]: _js_value(OPTION_VARIABLES[k], v)
                   for k, v in reveal.items() if k in OPTION_VARIABLES},
    )


def _revealjs_options(options: dict[str, Any], source: Path) -> dict[str, Any]:
    fmt = options.get("format", {})
    if fmt == "revealjs":
        return {}
    if not isinstance(fmt, dict) or set(fmt) - {"revealjs"}:
        raise RenderError(f"{source}: format must be 'revealjs' or a mapping with only a "
                          f"'revealjs' key, got {fmt!r}")
    reveal = fmt.get("revealjs") or {}
    if not isinstance(reveal, dict):
        raise RenderError(f"{source}: format.revealjs must be a mapping of options")
    return reveal


def _resolve(project: Project, deck: Deck, name: str) -> Path:
    for base in (deck.path.parent, project.root):
        if (base / name).is_file():
            return (base / name).resolve()
    raise RenderError(f"{deck.path}: css file {name!r} not found next to the deck or project")


def _js_value(variable: str, value: Any) -> str:
    """A YAML value as the text pandoc pastes into the reveal.js config object."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) or variable in _QUOTED_IN_TEMPLATE:
        return str(value)
    return json.dumps(str(value))


def cell_option(cell: Cell, settings: DeckSettings, name: str) -> Any:
    """A cell's own option, else the deck's `execute` default."""
    return cell.options.get(name, settings.execute[name])
