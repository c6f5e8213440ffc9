"""Markdown to one self-contained revealjs page with pandoc (from `pypandoc-binary`).

reveal.js comes from the project's `node_modules` (installed by npm from `package.json`), and
`--embed-resources` inlines it, the theme, the stylesheets and every figure, so the page opens
from disk with no network. `--fail-if-warnings` turns a missing figure or stylesheet into an
error instead of a page with a hole in it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pypandoc

from qmdrender.errors import RenderError
from qmdrender.project import DeckSettings


def find_revealjs(project_root: Path) -> Path:
    """The reveal.js package npm installed for the project; a clear error if it is missing."""
    path = (project_root / "node_modules" / "reveal.js").resolve()
    if not (path / "dist" / "reveal.js").is_file():
        raise RenderError(
            f"{path}: reveal.js is not installed; run `npm ci --prefix {project_root}` "
            "(package.json pins the version)"
        )
    return path


def write_revealjs(markdown: str, settings: DeckSettings, out_path: Path, revealjs: Path,
                   resource_dirs: list[Path]) -> None:
    """Convert `markdown` and write it to `out_path` atomically (temporary name, then rename)."""
    args = [
        "--standalone",
        "--embed-resources",
        "--fail-if-warnings",
        "--slide-level=2",
        f"--variable=revealjs-url={revealjs}",
        f"--variable=theme={settings.theme}",
        f"--resource-path={os.pathsep.join(str(d) for d in resource_dirs)}",
        *[f"--css={path}" for path in settings.css],
        *[f"--variable={name}={value}" for name, value in settings.variables.items()],
    ]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    try:
        pypandoc.convert_text(markdown, "revealjs", format="markdown", extra_args=args,
                              outputfile=str(tmp))
    except RuntimeError as err:
        tmp.unlink(missing_ok=True)
        raise RenderError(f"{out_path}: pandoc failed: {err}") from err
    os.replace(tmp, out_path)
