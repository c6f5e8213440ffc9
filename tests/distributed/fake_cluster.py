"""The fake cluster of scripts/fake_cluster.sh as a pytest fixture, and how to run jobs on it.

`fake_cluster` (session scope) brings up HOSTS hosts under a cluster name no other test session
holds (a file lock per name, so parallel pytest workers and other people's runs each get
their own cluster), and tears it down at the end, whatever happened. Where the machine cannot
host one (not root, no `ip`, no namespaces) the tests that use it skip with the script's reason.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from multiprocess_helpers import PYTHON, child_env

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "fake_cluster.sh"
SSH = REPO / "scripts" / "fake_cluster_ssh"
STATE_ROOT = Path("/tmp/fake-cluster")
HOSTS = 3  # the 2-host tests use a node file of the first two
NAMES = [f"agpt{k}" for k in range(1, 9)]  # `agpt` itself is left to people at a terminal
EX_UNSUPPORTED = 77
LAUNCH = [PYTHON, "-m", "auroragpt.cli", "launch", "--machine", "mpich"]


@dataclass(frozen=True)
class FakeCluster:
    name: str
    hosts: list[str]
    nodefile: Path  # every host

    @property
    def state(self) -> Path:
        return self.nodefile.parent

    def disk(self, host: str) -> Path:
        """What `node_local` holds on `host`, seen from outside the cluster."""
        return self.state / "disks" / host

    @property
    def node_local(self) -> Path:
        """A path that is each host's own storage when seen from a process on that host."""
        return self.state / "node-local"

    def script(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(SCRIPT), *args], env=self.env(), capture_output=True,
                              text=True, check=check, timeout=timeout)

    def env(self, **extra: str) -> dict[str, str]:
        return child_env(FAKE_CLUSTER_NAME=self.name, **extra)

    def job_nodefile(self, tmp_path: Path, nodes: int) -> Path:
        """A PBS node file of the job's first `nodes` hosts."""
        path = tmp_path / f"nodefile-{nodes}"
        path.write_text("".join(f"{host}\n" for host in self.hosts[:nodes]))
        return path

    def run_job(self, command: list[str], nodefile: Path,
                timeout: float = 300) -> subprocess.CompletedProcess:
        """Run `command` on the first host as a PBS job script would, with PBS_NODEFILE set and
        Hydra told to reach the other hosts through the fake cluster's ssh."""
        args, kwargs = self._job(command, nodefile)
        return subprocess.run(args, **kwargs, capture_output=True, text=True, timeout=timeout)

    def start_job(self, command: list[str], nodefile: Path) -> subprocess.Popen:
        """`run_job`, running: stdout and stderr are pipes of text."""
        args, kwargs = self._job(command, nodefile)
        return subprocess.Popen(args, **kwargs, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def _job(self, command: list[str], nodefile: Path) -> tuple[list[str], dict]:
        env = self.env(PBS_NODEFILE=str(nodefile), HYDRA_LAUNCHER="ssh",
                       HYDRA_LAUNCHER_EXEC=str(SSH))
        return ["bash", str(SCRIPT), "exec", self.hosts[0], *command], {"env": env}

    def pids(self, host: str) -> list[int]:
        """Processes running on `host` now."""
        out = subprocess.run(["ip", "netns", "pids", host], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]


def _take_free_name(locks: list) -> str:
    STATE_ROOT.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        handle = open(STATE_ROOT / f"{name}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        locks.append(handle)
        return name
    pytest.skip(f"every fake-cluster name ({NAMES[0]}..{NAMES[-1]}) is held by another session")


@pytest.fixture(scope="session")
def fake_cluster() -> Iterator[FakeCluster]:
    if os.geteuid() != 0:
        pytest.skip("the fake cluster needs root (network namespaces and a bridge)")
    locks: list = []
    name = _take_free_name(locks)
    env = child_env(FAKE_CLUSTER_NAME=name)
    script = ["bash", str(SCRIPT)]
    try:
        # We hold the name's lock, so anything left under it is a dead session's: clear it.
        subprocess.run([*script, "down"], env=env, capture_output=True, timeout=120)
        up = subprocess.run([*script, "up", str(HOSTS)], env=env, capture_output=True,
                            text=True, timeout=120)
        if up.returncode == EX_UNSUPPORTED:
            pytest.skip(up.stderr.strip())
        assert up.returncode == 0, up.stderr
        nodefile = Path(up.stdout.strip())
        yield FakeCluster(name, nodefile.read_text().split(), nodefile)
    finally:
        down = subprocess.run([*script, "down"], env=env, capture_output=True, text=True,
                              timeout=120)
        for handle in locks:
            handle.close()
        assert down.returncode == 0, down.stderr
