"""Faults across the hosts of the fake cluster, and a 3-host job (slow mode).

A rank that hangs on host 2 is caught by its watchdog, a rank killed on host 2 ends the job
with its rank and host named, a host slowed on purpose (its CPU cgroup capped) is the one the
straggler report names, and nothing is left running on any host afterwards. References:
the rank placement of Hydra's `-ppn` (block per host) and the pids the ranks report.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from fake_cluster import LAUNCH, FakeCluster
from multiprocess_helpers import PYTHON

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("multihost_worker.py")
JOB_TIMEOUT_S = 300  # far below the ranks' 600 s collective timeout: only a watchdog ends it


def launch_worker(cluster: FakeCluster, tmp_path: Path, nodes: int, ppn: int, *args: str):
    nodefile = cluster.job_nodefile(tmp_path, nodes)
    return cluster.run_job([*LAUNCH, "--ppn", str(ppn), "--", PYTHON, str(WORKER), *args],
                           nodefile, timeout=JOB_TIMEOUT_S)


def rank_lines(stdout: str) -> list[dict]:
    return sorted((json.loads(line) for line in stdout.splitlines() if line.startswith("{")),
                  key=lambda r: r["rank"])


def assert_nothing_left(cluster: FakeCluster) -> None:
    """No process of the job stays on any host (the launcher's clean-up may need a moment)."""
    for _ in range(100):
        left = {host: cluster.pids(host) for host in cluster.hosts}
        if not any(left.values()):
            return
        time.sleep(0.1)
    raise AssertionError(f"processes left on the hosts: {left}")


def test_three_hosts_two_ranks_each(fake_cluster, tmp_path):
    result = launch_worker(fake_cluster, tmp_path, 3, 2, "layout")
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = rank_lines(result.stdout)
    hosts = [fake_cluster.hosts[r // 2] for r in range(6)]
    assert [(r["rank"], r["host"], r["node_rank"], r["local_rank"]) for r in ranks] == \
        [(r, hosts[r], r // 2, r % 2) for r in range(6)]
    for r in ranks:
        assert (r["world_size"], r["num_nodes"], r["local_world_size"]) == (6, 3, 2)
        assert r["all_reduce"] == 6 * 7 / 2
        assert r["hosts"] == hosts  # every rank reached every other host
        assert r["master_addr"] == fake_cluster.hosts[0]
    assert_nothing_left(fake_cluster)


def test_a_rank_hanging_on_host_2_is_caught_by_its_watchdog(fake_cluster, tmp_path):
    """Rank 3 loops in `stuck_in_step`; the others wait for it in a barrier, so every
    watchdog fires. The first rank to exit ends the job with the watchdog's status."""
    second = fake_cluster.hosts[1]
    result = launch_worker(fake_cluster, tmp_path, 2, 2, "hang", "3")
    err = result.stderr
    assert result.returncode == 124, err[-3000:]
    report = err[err.index(f"[auroragpt watchdog] rank 3 on {second}"):]
    assert "in stuck_in_step" in report.split("[auroragpt watchdog]")[1]
    assert re.search(r"auroragpt launch: rank \d \(local \d\) on \S+, pid \d+: exited with "
                     r"status 124 \(the watchdog found it stuck\)", err)
    assert_nothing_left(fake_cluster)


def test_a_rank_killed_on_host_2_ends_the_job_and_is_named(fake_cluster, tmp_path):
    second = fake_cluster.hosts[1]
    result = launch_worker(fake_cluster, tmp_path, 2, 2, "die", "3")
    assert result.returncode != 0
    ranks = rank_lines(result.stdout)
    assert [r["rank"] for r in ranks] == [0, 1, 2, 3]
    pid = ranks[3]["pid"]
    assert ranks[3]["host"] == second
    assert (f"auroragpt launch: rank 3 (local 1) on {second}, pid {pid}: killed by signal 9 "
            "(SIGKILL)") in result.stderr
    assert_nothing_left(fake_cluster)


def test_the_straggler_report_names_the_slowed_host(fake_cluster, tmp_path):
    """One rank per host. Once every rank is up, host 2 may use 2 % of one core, so its
    rank's fixed work takes longest; every rank's report names that host only."""
    second = fake_cluster.hosts[1]
    go = tmp_path / "go"
    job = fake_cluster.start_job([*LAUNCH, "--ppn", "1", "--", PYTHON, str(WORKER), "straggle",
                                  str(go)], fake_cluster.job_nodefile(tmp_path, 3))
    try:
        ready = []
        while len(ready) < 3:
            line = job.stdout.readline()
            assert line, job.stderr.read()[-3000:]
            ready += [line] if '"ready"' in line else []
        fake_cluster.script("throttle", second, "2")
        go.touch()
        stdout, stderr = job.communicate(timeout=JOB_TIMEOUT_S)
    finally:
        fake_cluster.script("throttle", second, "off")
        if job.poll() is None:
            job.kill()
    assert job.returncode == 0, stderr[-3000:]
    ranks = rank_lines(stdout)
    assert [r["host"] for r in ranks] == fake_cluster.hosts
    for r in ranks:
        assert r["reports"] == {"4": [[1, second]], "8": [[1, second]]}
        assert r["last"][1] == max(r["last"])
    assert_nothing_left(fake_cluster)
