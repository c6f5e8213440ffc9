"""Real ranks on this CPU: torchrun, the venv's mpiexec (mpich + mpi4py), and `auroragpt launch`.

Each rank of tests/distributed/worker.py prints one JSON line; the references are formulas: the
all-reduce of (rank + 1) over n ranks is n (n + 1) / 2, and the broadcast is rank 0's tensor
7 * [0, 1, 2, 3].
"""

import json
from pathlib import Path

import pytest
from multiprocess_helpers import MPIEXEC, PYTHON, TORCHRUN, run

WORKER = Path(__file__).with_name("worker.py")
LAUNCH = [PYTHON, "-m", "auroragpt.cli", "launch"]


def rank_lines(stdout: str) -> list[dict]:
    return sorted((json.loads(line) for line in stdout.splitlines() if line.startswith("{")),
                  key=lambda r: r["rank"])


def check_collectives(result, world: int, launcher: str) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = rank_lines(result.stdout)
    assert [r["rank"] for r in ranks] == list(range(world))
    for r in ranks:
        assert r["launcher"] == launcher
        assert (r["world_size"], r["torch_rank"], r["backend"], r["device"]) == \
            (world, r["rank"], "gloo", "cpu")
        assert r["all_reduce"] == world * (world + 1) / 2
        assert r["broadcast"] == [0.0, 7.0, 14.0, 21.0]


def test_torchrun_two_ranks_standalone():
    """`--standalone`: torchrun's own store on a port the OS picks, so runs never collide."""
    result = run([*TORCHRUN, "--nproc-per-node", "2", str(WORKER), "collectives"])
    check_collectives(result, world=2, launcher="torchrun")
    assert [r["local_rank"] for r in rank_lines(result.stdout)] == [0, 1]


def test_mpiexec_two_ranks_meet_through_mpi4py():
    result = run([MPIEXEC, "-n", "2", PYTHON, str(WORKER), "collectives"])
    check_collectives(result, world=2, launcher="pmi")
    assert [r["local_world_size"] for r in rank_lines(result.stdout)] == [2, 2]


def test_auroragpt_launch_runs_two_local_ranks():
    result = run([*LAUNCH, "--machine", "local", "--nproc", "2", "--", PYTHON, str(WORKER),
                  "collectives"])
    check_collectives(result, world=2, launcher="torchrun")


def test_auroragpt_launch_propagates_failure():
    failing = [PYTHON, "-c", "import sys; sys.exit(3)"]
    assert run([*LAUNCH, "--machine", "local", "--", *failing]).returncode == 3
    assert run([*LAUNCH, "--machine", "local", "--nproc", "2", "--", *failing]).returncode != 0


@pytest.mark.parametrize("launcher", ["torchrun", "mpiexec"])
def test_watchdog_ends_a_hung_job(launcher):
    """Rank 1 stops in `sleep_forever_in_step` while rank 0 waits in a barrier: the job must
    exit non-zero (not hang until the subprocess timeout) and name the sleeping function."""
    if launcher == "torchrun":
        argv = [*TORCHRUN, "--nproc-per-node", "2"]
    else:
        argv = [MPIEXEC, "-n", "2", PYTHON]
    result = run([*argv, str(WORKER), "hang"], timeout=120)
    assert result.returncode != 0
    assert "[auroragpt watchdog] rank" in result.stderr
    assert "in sleep_forever_in_step" in result.stderr


def test_stragglers_are_named_on_every_rank():
    # Rank 1 takes 0.3 s per step, ranks 0 and 2 take 0.1 s: median 0.1, rank 1 is +200 %.
    result = run([MPIEXEC, "-n", "3", PYTHON, str(WORKER), "stragglers"])
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = rank_lines(result.stdout)
    assert len(ranks) == 3
    for r in ranks:
        assert set(r["reports"]) == {"4", "8"}
        for found in r["reports"].values():
            assert len(found) == 1
            rank, host, step_time, median = found[0]
            assert (rank, step_time, median) == (1, pytest.approx(0.3), pytest.approx(0.1))
        assert r["last"] == [pytest.approx(0.1), pytest.approx(0.3), pytest.approx(0.1)]


def test_doctor_checks_all_reduce_across_ranks():
    result = run([*LAUNCH, "--machine", "local", "--nproc", "2", "--", PYTHON, "-m",
                  "auroragpt.cli", "doctor", "--sizes", "4K,256K", "--iters", "3"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "job: 2 rank(s), launcher torchrun, backend gloo" in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.rstrip().endswith(" ok")]
    assert [row.split()[0:2] for row in rows] == [["4", "KiB"], ["256", "KiB"]]
