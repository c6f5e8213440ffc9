"""Start `worker.py` (or any command) under torchrun, mpiexec or one plain process."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("worker.py")
BIN = Path(sys.executable).parent  # the venv's torchrun, mpiexec (mpich) and auroragpt
# Generous: the machine is shared with other test runs; load makes ranks slow, not wrong.
TIMEOUT_S = 420

# Variables a launcher sets; a child must not inherit them from whatever started pytest.
_LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
                  "MASTER_PORT", "TORCHELASTIC_RUN_ID", "PMI_RANK", "PMI_SIZE", "PALS_RANKID",
                  "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID", "SLURM_JOB_ID",
                  "PBS_JOBID", "PBS_NODEFILE")


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _LAUNCHER_VARS}
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_prefix(launcher: str, nproc: int) -> list[str]:
    """The command line prefix that starts `nproc` ranks of a Python script."""
    if launcher == "torchrun":
        return [str(BIN / "torchrun"), "--standalone", f"--nproc_per_node={nproc}"]
    if launcher == "mpiexec":
        return [str(BIN / "mpiexec"), "-n", str(nproc), sys.executable]
    if launcher == "python":
        assert nproc == 1
        return [sys.executable]
    raise ValueError(f"unknown launcher {launcher!r}")


def auroragpt_command(launcher: str, nproc: int) -> list[str]:
    """`auroragpt` started the way users start it: `torchrun ... $(which auroragpt)`,
    `mpiexec -n N auroragpt` or plain `auroragpt`."""
    auroragpt = str(BIN / "auroragpt")
    if launcher == "python":
        return [auroragpt]
    if launcher == "mpiexec":
        return [str(BIN / "mpiexec"), "-n", str(nproc), auroragpt]
    return [*launch_prefix(launcher, nproc), auroragpt]


def run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, env=child_env(), cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


def train(launcher: str, nproc: int, strategy: str, out: Path, *extra: str) -> dict:
    """Run worker.py and return its report (losses, grad_norms, state_bytes per rank)."""
    out.mkdir(parents=True, exist_ok=True)
    run([*launch_prefix(launcher, nproc), str(WORKER), "--strategy", strategy,
         "--out", str(out), *extra])
    return json.loads((out / "report.json").read_text())


def launcher_strategy_matrix(default: set[tuple[str, str]]) -> list:
    """Every (launcher, strategy) pair as pytest params; those not in `default` are slow."""
    return [pytest.param(launcher, strategy,
                         marks=() if (launcher, strategy) in default else pytest.mark.slow)
            for launcher in ("torchrun", "mpiexec")
            for strategy in ("ddp", "fsdp", "zero1", "zero2", "zero3")]
