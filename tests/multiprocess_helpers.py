"""Starting real ranks from tests: clean child environments and the launchers' command lines.

One module for every test folder that spawns processes (tests/conftest.py's folder is on
sys.path, so `from multiprocess_helpers import ...` works from any of them). Rendezvous never
hands a port number around: torchrun runs `--standalone` (its store binds port 0 and the ranks
read the address back), and ranks under mpiexec meet through a port-0 TCPStore whose address
rank 0 broadcasts over MPI (`auroragpt.distributed.setup`); so parallel test runs cannot
collide on a port.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PYTHON = sys.executable
BIN = Path(sys.executable).parent  # the venv's torchrun, mpiexec (mpich) and auroragpt
# The mpich wheel's mpiexec sits next to the venv's python; mixing MPIs would break mpi4py.
MPIEXEC = str(BIN / "mpiexec")
TORCHRUN = [PYTHON, "-m", "torch.distributed.run", "--standalone"]
# Generous: the machine is shared with other test runs; load makes ranks slow, not wrong, and a
# hang shows up as this timeout.
TIMEOUT_S = 420

# Variables a launcher sets; a child must not inherit them from whatever started pytest.
LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
                 "MASTER_PORT", "TORCHELASTIC_RUN_ID", "PMI_RANK", "PMI_SIZE", "PALS_RANKID",
                 "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID", "SLURM_JOB_ID",
                 "PBS_JOBID", "PBS_NODEFILE", "AURORAGPT_DEVICE", "AURORAGPT_BACKEND")


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment without launcher variables, one thread, unbuffered output."""
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARS}
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", **extra)
    return env


def run(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = TIMEOUT_S, check: bool = False) -> subprocess.CompletedProcess:
    """Run a command to completion, output captured; `check` turns a failure into an
    AssertionError that shows the command's output."""
    proc = subprocess.run(argv, env=env or child_env(), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


def launch_prefix(launcher: str, nproc: int) -> list[str]:
    """The command line prefix that starts `nproc` ranks of a Python script."""
    if launcher == "torchrun":
        return [*TORCHRUN, f"--nproc-per-node={nproc}"]
    if launcher == "mpiexec":
        return [MPIEXEC, "-n", str(nproc), PYTHON]
    if launcher == "python":
        assert nproc == 1
        return [PYTHON]
    raise ValueError(f"unknown launcher {launcher!r}")


def auroragpt_command(launcher: str, nproc: int) -> list[str]:
    """`auroragpt` started the way users start it: `torchrun ... $(which auroragpt)`,
    `mpiexec -n N auroragpt` or plain `auroragpt`."""
    auroragpt = str(BIN / "auroragpt")
    if launcher == "python":
        return [auroragpt]
    if launcher == "mpiexec":
        return [MPIEXEC, "-n", str(nproc), auroragpt]
    return [str(BIN / "torchrun"), "--standalone", f"--nproc-per-node={nproc}", auroragpt]
