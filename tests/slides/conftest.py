"""Fixtures for the slide tests: the offline renderer on the path, reveal.js, and a browser.

The renderer lives in `slides/qmdrender` (it is part of the slide project, not the library),
so it is imported from there. The browser is the system's Chromium driven by Playwright
(`executable_path`; Playwright's own browser download needs the internet and is never used).

Set-up belongs to these tests, not to every `make test`: when Chromium or reveal.js is missing,
the first test that needs them runs `scripts/setup_browser.sh` (npm for reveal.js, apt for
Chromium), once, under a file lock that the pytest-xdist workers share. If that cannot work
(no apt, no npm, no permission) the tests fail with the script's message instead of skipping,
so a CI run without a browser cannot pass silently.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from filelock import FileLock

REPO = Path(__file__).resolve().parents[2]
SLIDES = REPO / "slides"
sys.path.insert(0, str(SLIDES))

SETUP_SCRIPT = REPO / "scripts" / "setup_browser.sh"
REVEALJS = SLIDES / "node_modules" / "reveal.js"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
# Schemes a self-contained page may load; anything else (http, https, ws) is a network request.
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome-error:")


def find_chromium() -> str | None:
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def _revealjs_present() -> bool:
    return (REVEALJS / "dist" / "reveal.js").is_file()


@pytest.fixture(scope="session")
def browser_setup(tmp_path_factory) -> str:
    """The Chromium executable, with reveal.js in place; installs whatever is missing, once."""
    if find_chromium() is None or not _revealjs_present():
        # the parent of the base temp dir is shared by every xdist worker of this run
        with FileLock(tmp_path_factory.getbasetemp().parent / "setup_browser.lock"):
            if find_chromium() is None or not _revealjs_present():
                done = subprocess.run(["bash", str(SETUP_SCRIPT)], capture_output=True,
                                      text=True)
                if done.returncode != 0:
                    pytest.fail(f"{SETUP_SCRIPT.relative_to(REPO)} failed "
                                f"({done.returncode}): {done.stderr.strip()[-2000:]}")
    executable = find_chromium()
    if executable is None or not _revealjs_present():
        pytest.fail(f"{SETUP_SCRIPT.relative_to(REPO)} ran, yet Chromium or {REVEALJS} is "
                    "still missing")
    return executable


@pytest.fixture(scope="session")
def revealjs(browser_setup) -> Path:
    return REVEALJS


@pytest.fixture(scope="session")
def browser(browser_setup):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=browser_setup, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class PageLog:
    """What a page did that a self-contained deck must not: errors and network requests."""

    errors: list[str] = field(default_factory=list)
    network_requests: list[str] = field(default_factory=list)


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture
def page(browser, page_log):
    """A fresh 1280x720 page whose console errors, uncaught exceptions, failed loads and
    non-local requests land in `page_log`."""
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.on("console", lambda message: message.type in ("error", "assert") and
            page_log.errors.append(f"console.{message.type}: {message.text}"))
    page.on("pageerror", lambda error: page_log.errors.append(f"uncaught exception: {error}"))
    page.on("requestfailed", lambda request: page_log.errors.append(
        f"failed to load {request.url[:80]}: {request.failure}"))
    page.on("request", lambda request: request.url.startswith(LOCAL_SCHEMES) or
            page_log.network_requests.append(request.url))
    yield page
    page.close()
