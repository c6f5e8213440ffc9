"""Fixtures for the slide tests: the offline renderer on the path, Chromium, the decks.

The renderer lives in `slides/qmdrender` (it is part of the slide project, not the library),
so it is imported from there. Chromium and reveal.js come from `scripts/setup_browser.sh`;
when either is missing the tests fail with that instruction instead of skipping, so a CI run
without them cannot pass silently.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SLIDES = REPO / "slides"
sys.path.insert(0, str(SLIDES))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from chromium_cdp import Chromium, find_chromium  # noqa: E402

SETUP_HINT = "run `bash scripts/setup_browser.sh` (installs Chromium and reveal.js)"


@pytest.fixture
def chromium():
    executable = find_chromium()
    if executable is None:
        pytest.fail(f"Chromium not found; {SETUP_HINT}")
    with Chromium(executable) as browser:
        yield browser


@pytest.fixture(scope="session")
def revealjs() -> Path:
    path = SLIDES / "node_modules" / "reveal.js"
    if not (path / "dist" / "reveal.js").is_file():
        pytest.fail(f"{path} missing; {SETUP_HINT}")
    return path
