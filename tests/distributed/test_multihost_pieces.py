"""The pieces of the multi-host path that need no cluster: the mpich launch line, node ranks
from host names, and the rank supervisor run as a real process.

References: the mpiexec line written out by hand, node numbering by lowest rank worked by
hand, and the PMI-1 abort command in the form MPICH's own ranks send it
(`cmd=abort exitcode=N`, as Hydra logs it).
"""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from multiprocess_helpers import PYTHON, child_env

from auroragpt.distributed.env import DistEnvError, node_layout
from auroragpt.distributed.launcher import build_plan

CMD = ["auroragpt", "train", "--preset", "debug"]
SUPERVISE = [PYTHON, "-m", "auroragpt.distributed.supervise", "--"]
HYDRA_RANK_3 = {"PMI_RANK": "3", "PMI_SIZE": "4", "MPI_LOCALRANKID": "1", "MPI_LOCALNRANKS": "2"}


def test_mpich_line_from_a_pbs_node_file(tmp_path):
    nodes = tmp_path / "nodefile"
    nodes.write_text("n1\nn1\nn2\nn2\n")  # PBS lists a host once per chunk/core: counted once
    plan = build_plan(CMD, {"PBS_NODEFILE": str(nodes)}, "mpich", ranks_per_node=2, python="py")
    assert plan.argv == ["mpiexec", "--envall", "--np", "4", "--ppn", "2", "--hostfile",
                         str(nodes), "py", "-m", "auroragpt.distributed.supervise", "--", *CMD]
    assert plan.env == {"MASTER_ADDR": "n1", "MASTER_PORT": "29500"}
    assert (plan.nodes, plan.hosts, plan.world_size) == (2, ["n1", "n2"], 4)
    # no Hydra settings of its own: how to reach the nodes is left to HYDRA_* variables
    assert not [a for a in plan.argv if "launcher" in a or "iface" in a]


def test_mpich_outside_a_job_is_still_mpiexec():
    plan = build_plan(CMD, {}, "mpich", local_devices=0, python="py")
    assert plan.argv == ["mpiexec", "--envall", "--np", "1", "--ppn", "1", "py", "-m",
                         "auroragpt.distributed.supervise", "--", *CMD]


@pytest.mark.parametrize("hosts, want", [
    (["a", "a", "b", "b"], [(0, 2), (0, 2), (1, 2), (1, 2)]),  # blocks (Hydra -ppn)
    (["a", "b", "a", "b"], [(0, 2), (1, 2), (0, 2), (1, 2)]),  # round robin
    (["b", "a", "a"], [(0, 2), (1, 2), (1, 2)]),  # named by lowest rank, not alphabetically
    (["a"], [(0, 1)]),
])
def test_node_layout(hosts, want):
    assert [node_layout(hosts, rank) for rank in range(len(hosts))] == want


def test_node_layout_rejects_an_unknown_rank():
    with pytest.raises(DistEnvError, match="rank 2 is outside the 2 ranks"):
        node_layout(["a", "b"], 2)


def test_the_supervisor_imports_no_torch():
    code = "import sys, auroragpt.distributed.supervise; print('torch' in sys.modules)"
    out = subprocess.run([PYTHON, "-c", code], env=child_env(), capture_output=True, text=True,
                         timeout=60)
    assert out.stdout == "False\n", out.stderr


def supervise(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SUPERVISE, PYTHON, "-c", code], env=child_env(**env),
                          capture_output=True, text=True, timeout=60)


def test_a_killed_rank_is_named_and_ends_the_same_way():
    code = "import os, signal; print(os.getpid(), flush=True); os.kill(os.getpid(), signal.SIGKILL)"
    done = supervise(code, **HYDRA_RANK_3)
    assert done.returncode == -signal.SIGKILL
    pid = int(done.stdout)
    assert done.stderr == (f"auroragpt launch: rank 3 (local 1) on {socket.gethostname()}, "
                           f"pid {pid}: killed by signal 9 (SIGKILL)\n")


@pytest.mark.parametrize("status, words", [(3, "exited with status 3"),
                                           (124, "(the watchdog found it stuck)")])
def test_a_failing_rank_is_named_with_its_status(status, words):
    done = supervise(f"raise SystemExit({status})", **HYDRA_RANK_3)
    assert done.returncode == status
    assert done.stderr.startswith(f"auroragpt launch: rank 3 (local 1) on {socket.gethostname()}")
    assert words in done.stderr


def test_success_is_silent_and_without_launcher_variables_the_rank_is_unknown():
    assert supervise("print('hi')").stdout == "hi\n"
    assert supervise("print('hi')").stderr == ""
    assert "rank 0 (local 0)" in supervise("raise SystemExit(5)").stderr  # single: rank 0


def test_a_failure_aborts_the_job_over_the_pmi_socket():
    read, write = os.pipe()
    try:
        done = subprocess.run([*SUPERVISE, PYTHON, "-c", "raise SystemExit(7)"],
                              env=child_env(**HYDRA_RANK_3, PMI_FD=str(write)),
                              pass_fds=(write,), capture_output=True, text=True, timeout=60)
        os.close(write)
        write = -1
        assert done.returncode == 7
        assert os.read(read, 1000) == b"cmd=abort exitcode=7\n"
    finally:
        os.close(read)
        if write >= 0:
            os.close(write)


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG and /proc are Linux's")
def test_signals_pass_through_and_the_rank_dies_with_its_supervisor():
    code = ("import os, signal, time; signal.signal(signal.SIGTERM, lambda *a: print('term', "
            "flush=True)); print(os.getpid(), flush=True); time.sleep(60)")
    parent = subprocess.Popen([*SUPERVISE, PYTHON, "-c", code], env=child_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        parent.send_signal(signal.SIGTERM)
        assert parent.stdout.readline() == "term\n"  # the rank's own handler ran
        parent.kill()  # as mpiexec's clean-up does
        parent.wait(timeout=60)
        for _ in range(100):
            if not _alive(child):
                break
            time.sleep(0.1)
        assert not _alive(child), "the rank outlived its supervisor"
    finally:
        parent.kill()
        parent.communicate()


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped no longer runs)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False
