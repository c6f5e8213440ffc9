#!/usr/bin/env bash
# Install what rendering and testing the slide decks need, skipping whatever is already there:
#   - reveal.js from npm, at the version slides/package-lock.json pins (for the offline render);
#   - Chromium from Debian's packages (the browser the slide tests drive headless).
# Usage: scripts/setup_browser.sh [--revealjs-only]
set -euo pipefail
cd "$(dirname "$0")/.."

install_revealjs() {
    if [ -f slides/node_modules/reveal.js/dist/reveal.js ]; then
        return
    fi
    if ! command -v npm >/dev/null 2>&1; then
        echo "setup_browser: npm not found; install Node.js (Debian: apt-get install -y npm)" >&2
        exit 1
    fi
    npm ci --prefix slides --no-audit --no-fund --loglevel=error
}

install_chromium() {
    for name in chromium chromium-browser google-chrome; do
        if command -v "$name" >/dev/null 2>&1; then
            return
        fi
    done
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "setup_browser: no Chromium and no apt-get; install Chromium yourself" >&2
        exit 1
    fi
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    $sudo apt-get update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
}

install_revealjs
if [ "${1:-}" != "--revealjs-only" ]; then
    install_chromium
fi
