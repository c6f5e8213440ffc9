#!/usr/bin/env bash
# Create .venv if absent and install auroragpt into it, editable, with the extras given as $1
# (e.g. "dev"). An existing torch (ALCF `frameworks` module, a conda env) is kept: the venv
# then sees the system site-packages. Otherwise the pinned CPU build of torch is installed
# first, so no dependency can pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
    if "$python" -c "import torch" 2>/dev/null; then
        echo "setup: using the torch already installed for $python"
        "$python" -m venv --system-site-packages .venv
    else
        "$python" -m venv .venv
    fi
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    .venv/bin/pip install --disable-pip-version-check -q "torch==2.13.0"
fi
spec="."
[ -n "$extras" ] && spec=".[${extras}]"
.venv/bin/pip install --disable-pip-version-check -q -e "$spec" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import auroragpt, torch; print(f'setup: auroragpt {auroragpt.__version__}, torch {torch.__version__}')"
