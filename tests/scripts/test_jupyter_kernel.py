"""scripts/jupyter_kernel.py: the generated kernel specs start real kernels (jupyter_client),
plain and through the module wrapper ALCF's JupyterHub needs (with a stand-in `module`)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "scripts" / "jupyter_kernel.py"
pytest.importorskip("ipykernel")
pytest.importorskip("jupyter_client")


def _script():
    spec = importlib.util.spec_from_file_location("jupyter_kernel", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_in_kernel(prefix: Path, monkeypatch, code: str, env: dict) -> str:
    """Start kernel `auroragpt` found under PREFIX/share/jupyter, run `code`, return stdout."""
    from jupyter_client.manager import start_new_kernel

    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    km, kc = start_new_kernel(kernel_name="auroragpt", startup_timeout=120,
                              env={**os.environ, **env})
    out = []
    try:
        kc.execute_interactive(code, timeout=60, output_hook=lambda msg: out.append(
            msg["content"].get("text", "")) if msg["msg_type"] == "stream" else None)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return "".join(out)


def test_plain_kernel_runs_the_given_python(tmp_path, monkeypatch):
    assert _script().main(["--prefix", str(tmp_path), "--python", sys.executable]) == 0
    spec = json.loads((tmp_path / "share/jupyter/kernels/auroragpt/kernel.json").read_text())
    assert spec["argv"] == [sys.executable, "-m", "ipykernel_launcher", "-f",
                            "{connection_file}"]
    assert spec["display_name"] == "auroragpt"
    out = _run_in_kernel(tmp_path, monkeypatch,
                         "import sys, auroragpt; print(sys.executable, auroragpt.__name__)", {})
    assert out.strip() == f"{sys.executable} auroragpt"


def test_module_kernel_loads_the_module_then_starts(tmp_path, monkeypatch):
    init = tmp_path / "lmod-init.sh"  # stands in for /etc/profile's Lmod on ALCF
    init.write_text('module() { [ "$1" = load ] && shift && export LOADEDMODULES="$*"; '
                    '[ "$1" = use ] && export MODULEPATH="$2"; return 0; }\n')
    _script().main(["--prefix", str(tmp_path), "--python", sys.executable, "--module", "conda",
                    "--module", "cudatoolkit", "--module-use", "/soft/modulefiles"])
    kernel = tmp_path / "share/jupyter/kernels/auroragpt"
    spec = json.loads((kernel / "kernel.json").read_text())
    assert spec["argv"] == ["/bin/bash", str(kernel / "start-kernel.sh"), "-f",
                            "{connection_file}"]
    assert spec["display_name"] == "auroragpt (conda cudatoolkit)"
    out = _run_in_kernel(tmp_path, monkeypatch,
                         "import os, sys; print(os.environ['LOADEDMODULES'], "
                         "os.environ['MODULEPATH'], sys.executable)",
                         {"AURORAGPT_MODULE_INIT": str(init)})
    assert out.strip() == f"conda cudatoolkit /soft/modulefiles {sys.executable}"

    # without a module system the wrapper stops with a line saying so, before any Python
    proc = subprocess.run(["/bin/bash", str(kernel / "start-kernel.sh")], capture_output=True,
                          text=True, env={**os.environ, "AURORAGPT_MODULE_INIT": "/dev/null"})
    assert proc.returncode == 1
    assert "no 'module' command after sourcing /dev/null" in proc.stderr


def test_missing_python_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        _script().main(["--prefix", str(tmp_path), "--python", str(tmp_path / "nope")])
    assert "nope: not found; run `make setup`" in capsys.readouterr().err


def test_make_course_registers_the_kernel():
    """`make course` installs the notebook and HF extras, then registers the kernel."""
    out = subprocess.run(["make", "-n", "course", "KERNEL_ARGS=--prefix /tmp/x"],
                         cwd=SCRIPT.parents[1], capture_output=True, text=True, check=True).stdout
    assert "bash scripts/setup.sh hf,notebooks" in out
    assert ".venv/bin/python scripts/jupyter_kernel.py --prefix /tmp/x" in out
