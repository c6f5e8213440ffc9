"""`python -m auroragpt.distributed.supervise -- CMD ...`: run one rank's command and, if it
fails, say which rank on which host.

MPICH's Hydra reports a rank that dies by host and pid only ("BAD TERMINATION ... PID 15063
RUNNING AT node2 ... EXIT CODE: 9"), which on a job of hundreds of ranks leaves the reader to
guess the rank; and a rank that exits with an error does not end the job at all: the other
ranks wait for it in their next collective, or for ever in MPI_Finalize. So `auroragpt launch
--machine mpich` starts each rank's command under this small parent. It passes signals on to
the command and, when the command fails, prints

    auroragpt launch: rank 3 (local 1) on node2, pid 15063: killed by signal 9 (SIGKILL)

and ends the whole job as MPI_Abort would: it sends Hydra the PMI-1 `abort` command on the
rank's PMI socket (PMI_FD), with the command's exit status (128 + N for signal N), which
mpiexec then returns. Without a PMI socket it ends the way the command did. It imports no
torch: one small process per rank. The command dies with it (PR_SET_PDEATHSIG), so killing
the parent, as mpiexec's clean-up does, leaves no orphan behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping

from auroragpt.distributed.env import DistEnvError, discover_ranks
from auroragpt.distributed.watchdog import WATCHDOG_EXIT_CODE

# Signals a launcher or a user sends to stop or poke a job; passed on to the command.
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2)
_PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


def rank_label(env: Mapping[str, str], host: str) -> str:
    """`rank R (local L) on HOST`, from the launcher's variables; `rank ?` if they are unusable."""
    try:
        info = discover_ranks(env)
    except DistEnvError:
        return f"rank ? on {host}"
    return f"rank {info.rank} (local {info.local_rank}) on {host}"


def describe_end(status: int) -> str:
    """What a `Popen.returncode` means, in words."""
    if status < 0:
        return f"killed by signal {-status} ({signal.Signals(-status).name})"
    if status == WATCHDOG_EXIT_CODE:
        return f"exited with status {status} (the watchdog found it stuck)"
    return f"exited with status {status}"


def _die_with_parent(parent: int) -> None:
    """In the child before exec: receive SIGKILL when the supervisor dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


def supervise(cmd: list[str]) -> int:
    """Run `cmd`; report a failure; return its exit status (negative: killed by that signal)."""
    parent = os.getpid()
    preexec = (lambda: _die_with_parent(parent)) if sys.platform == "linux" else None
    label = rank_label(os.environ, socket.gethostname())
    try:
        # close_fds=False: the launcher's descriptors (Hydra's PMI_FD socket) are the rank's.
        child = subprocess.Popen(cmd, preexec_fn=preexec, close_fds=False)
    except OSError as err:
        _say(f"{label}: cannot run {cmd[0]!r}: {err.strerror or err}")
        return 127
    for sig in FORWARDED:
        signal.signal(sig, lambda number, frame: child.send_signal(number))
    status = child.wait()
    if status != 0:
        _say(f"{label}, pid {child.pid}: {describe_end(status)}")
    return status


def _say(message: str) -> None:
    # One write, so the lines of ranks sharing the launcher's stderr never interleave.
    os.write(2, f"auroragpt launch: {message}\n".encode())


def abort_job(exit_code: int, env: Mapping[str, str]) -> bool:
    """Ask the process manager to end every rank, as MPI_Abort does; False if there is no way.

    The PMI-1 wire command, exactly as MPICH's own ranks send it: `cmd=abort exitcode=N`.
    """
    try:
        os.write(int(env["PMI_FD"]), f"cmd=abort exitcode={exit_code}\n".encode())
    except (KeyError, ValueError, OSError):
        return False
    return True


def main(argv: list[str]) -> None:
    cmd = argv[1:] if argv[:1] == ["--"] else argv
    if not cmd:
        sys.exit("usage: python -m auroragpt.distributed.supervise -- CMD [ARGS...]")
    status = supervise(cmd)
    if status != 0:
        abort_job(128 - status if status < 0 else status, os.environ)
    if status < 0:  # end by the same signal, so the launcher reports what really happened
        if -status != signal.SIGKILL:
            signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    sys.exit(status)


if __name__ == "__main__":
    main(sys.argv[1:])
