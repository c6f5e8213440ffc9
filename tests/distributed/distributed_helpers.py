"""Helpers for the distributed-runtime tests: clean child environments, free ports, paths."""

import os
import socket
import subprocess
import sys
from pathlib import Path

WORKER = Path(__file__).with_name("worker.py")
PYTHON = sys.executable
# The mpich wheel's mpiexec sits next to the venv's python; mixing MPIs would break mpi4py.
MPIEXEC = str(Path(sys.executable).with_name("mpiexec"))
# Generous: the machine is shared with other test runs; a hang shows up as this timeout.
CHILD_TIMEOUT_S = 240

# Variables a launcher sets; a child must not inherit them from whatever started pytest.
LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
                  "MASTER_PORT", "TORCHELASTIC_RUN_ID", "PMI_RANK", "PMI_SIZE", "PALS_RANKID",
                  "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID", "SLURM_JOB_ID",
                  "PBS_JOBID", "PBS_NODEFILE", "AURORAGPT_DEVICE", "AURORAGPT_BACKEND")


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARS}
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", **extra)
    return env


def run(argv: list[str], env: dict[str, str] | None = None, cwd=None,
        timeout: float = CHILD_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env or child_env(), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
