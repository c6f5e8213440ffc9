"""Render the slide decks offline: `python slides/render.py [DECK ...] [--out-dir DIR]`.

The same `.qmd` sources render with `quarto render slides/` where Quarto is installed; this is
the path for machines without it (see `qmdrender`). With no DECK, every deck of the project is
rendered into `slides/_site/`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from qmdrender import RenderError, render_project  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("decks", nargs="*", help="deck names (e.g. 03_llama_architecture) or paths")
    parser.add_argument("--project", default=str(HERE), help="the Quarto project directory")
    parser.add_argument("--out-dir", default=None, help="default: the project's output-dir")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    args = parser.parse_args(argv)
    try:
        render_project(args.project, args.decks or None, args.out_dir, progress=not args.quiet)
    except RenderError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
