"""Register the `auroragpt` Jupyter kernel: this project's Python, as a kernel any Jupyter finds.

    python scripts/jupyter_kernel.py                      # ~/.local/share/jupyter (JupyterHub)
    python scripts/jupyter_kernel.py --prefix DIR         # DIR/share/jupyter (a conda env, a test)
    python scripts/jupyter_kernel.py --module conda       # ALCF JupyterHub: start inside a module

Plain, the kernel runs `.venv/bin/python -m ipykernel_launcher`. With `--module NAME` (ALCF's
JupyterHub on Polaris or Sophia, whose kernels start outside any module), the kernel runs a
small wrapper, `start-kernel.sh` next to its `kernel.json`, that loads the modules (and
activates the module's conda base where the module provides one) and then execs the venv's
Python, so the kernel sees the module's libraries (CUDA, NCCL, MPI) as a batch job does.
Uses only the standard library, so it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WRAPPER = """#!/bin/bash
# Start the {name} Jupyter kernel inside `module load {modules}` (written by
# scripts/jupyter_kernel.py). JupyterHub starts kernels in a bare environment: set the module
# system up (Lmod's init comes with /etc/profile on ALCF), load the modules, then exec Python.
source "${{AURORAGPT_MODULE_INIT:-/etc/profile}}" >/dev/null 2>&1
if ! type module >/dev/null 2>&1; then
    echo "{name} kernel: no 'module' command after sourcing ${{AURORAGPT_MODULE_INIT:-/etc/profile}}" >&2
    exit 1
fi
{module_use}module load {modules} || exit 1
if [ -n "${{CONDA_PREFIX:-}}" ] && type conda >/dev/null 2>&1; then
    conda activate base 2>/dev/null || true
fi
exec {python} -m ipykernel_launcher "$@"
"""


def kernel_dir(name: str, prefix: str | None) -> Path:
    """Where Jupyter looks for kernel `name`: the user's data dir, or PREFIX/share/jupyter."""
    if prefix is not None:
        return Path(prefix) / "share" / "jupyter" / "kernels" / name
    data = os.environ.get("JUPYTER_DATA_DIR")
    if data is None:
        base = (Path.home() / "Library" / "Jupyter" if sys.platform == "darwin"
                else Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
                / "jupyter")
        data = str(base)
    return Path(data) / "kernels" / name


def install(name: str, display_name: str, python: str, prefix: str | None = None,
            modules: list[str] | None = None, module_use: str | None = None) -> Path:
    """Write the kernel spec (and, with `modules`, its wrapper); returns its directory."""
    target = kernel_dir(name, prefix)
    target.mkdir(parents=True, exist_ok=True)
    spec = {"display_name": display_name, "language": "python", "metadata": {"debugger": True}}
    if modules:
        wrapper = target / "start-kernel.sh"
        use = f"module use {shlex.quote(module_use)}\n" if module_use else ""
        _write(wrapper, WRAPPER.format(name=name, modules=" ".join(map(shlex.quote, modules)),
                                       module_use=use, python=shlex.quote(python)))
        wrapper.chmod(0o755)
        spec["argv"] = ["/bin/bash", str(wrapper), "-f", "{connection_file}"]
    else:
        spec["argv"] = [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    _write(target / "kernel.json", json.dumps(spec, indent=1) + "\n")
    return target


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", default="auroragpt", help="kernel name (default: auroragpt)")
    parser.add_argument("--display-name", default=None, help="name shown in Jupyter's launcher")
    parser.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"),
                        help="the kernel's Python (default: the project's .venv)")
    parser.add_argument("--prefix", default=None,
                        help="install into PREFIX/share/jupyter instead of the user's data dir")
    parser.add_argument("--module", action="append", dest="modules", metavar="NAME",
                        help="load this module before starting (repeatable), e.g. conda")
    parser.add_argument("--module-use", default=None, metavar="DIR",
                        help="`module use DIR` first (e.g. /soft/modulefiles)")
    args = parser.parse_args(argv)
    if not Path(args.python).is_file():
        parser.error(f"--python {args.python}: not found; run `make setup` (or `make course`)")
    display = args.display_name or (
        f"{args.name} ({' '.join(args.modules)})" if args.modules else args.name)
    where = install(args.name, display, args.python, args.prefix, args.modules, args.module_use)
    print(f"kernel {args.name!r} ({display}) -> {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
