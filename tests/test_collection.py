"""Every `tests/**/test_*.py` is collected by pytest.

pytest's default `norecursedirs` silently skips folders such as `dist`, `build` and `venv`, and
a file whose import fails is reported as an error rather than as missing tests. For two rounds
the distributed-runtime tests lived in `tests/dist/` and never ran; this test makes that
impossible to repeat: it asks a separate pytest process which files it collects and compares
with the files on disk.
"""

import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def test_every_test_file_is_collected():
    on_disk = {p.relative_to(ROOT).as_posix() for p in TESTS.rglob("test_*.py")}
    assert Path(__file__).relative_to(ROOT).as_posix() in on_disk

    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "tests"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    # `-q` lists one node id a line: "tests/x/test_y.py::test_z[param]".
    collected = {line.split("::", 1)[0] for line in proc.stdout.splitlines() if "::" in line}
    missing = sorted(on_disk - collected)
    assert not missing, (
        f"pytest does not collect {missing} (a folder name in norecursedirs, or an import "
        f"error):\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
    )
