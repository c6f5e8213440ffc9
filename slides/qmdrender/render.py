"""The pipeline for one deck (parse, merge settings, execute, weave, pandoc) and for a project."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from qmdrender.errors import RenderError
from qmdrender.execute import execute_deck
from qmdrender.pandoc import find_revealjs, write_revealjs
from qmdrender.project import Project, deck_settings, load_project
from qmdrender.qmd import parse_qmd
from qmdrender.weave import weave

METRICS_FILE = "render.jsonl"


@dataclass
class Rendered:
    """What one render produced; also the line written to `<output dir>/render.jsonl`."""

    deck: str
    html: str
    seconds: float
    cells: int
    html_bytes: int


def render_deck(project: Project, deck_path: Path, out_dir: Path,
                progress: bool = True) -> Rendered:
    """Render one `.qmd` of `project` to `out_dir/<name>.html`."""
    start = time.perf_counter()
    revealjs = find_revealjs(project.root)
    deck = parse_qmd(deck_path)
    settings = deck_settings(project, deck)
    outputs = execute_deck(deck, settings, progress=progress)
    html = out_dir / f"{deck.name}.html"
    with tempfile.TemporaryDirectory(prefix=f"{deck.name}-") as assets:
        markdown = weave(deck, settings, outputs, Path(assets))
        write_revealjs(markdown, settings, html, revealjs,
                       resource_dirs=[Path(assets), deck.path.parent.resolve()])
    return Rendered(deck=deck.name, html=str(html), seconds=round(time.perf_counter() - start, 2),
                    cells=len(deck.cells), html_bytes=html.stat().st_size)


def render_project(root: str | Path, decks: list[str] | None = None,
                   out_dir: str | Path | None = None, progress: bool = True) -> list[Rendered]:
    """Render the project's decks (all, or those named by stem or path) into its output dir.

    One JSON line per deck goes to `render.jsonl` in the output directory.
    """
    project = load_project(root)
    paths = project.deck_paths()
    if decks:
        by_name = {p.stem: p for p in paths}
        unknown = [d for d in decks if Path(d).stem not in by_name]
        if unknown:
            raise RenderError(f"{project.root}: no deck named {', '.join(unknown)}; "
                              f"decks: {', '.join(by_name)}")
        paths = [by_name[Path(d).stem] for d in decks]
    if not paths:
        raise RenderError(f"{project.root}: project.render matches no .qmd files")
    out = Path(out_dir) if out_dir is not None else project.output_dir
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for path in paths:
        result = render_deck(project, path, out, progress=progress)
        with open(out / METRICS_FILE, "a", encoding="utf-8") as log:
            log.write(json.dumps({**asdict(result), "renderer": "offline",
                                  "time": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")
        if progress:
            print(f"rendered {result.deck}: {result.html} ({result.html_bytes / 1e6:.1f} MB, "
                  f"{result.seconds:.1f} s)")
        results.append(result)
    return results
