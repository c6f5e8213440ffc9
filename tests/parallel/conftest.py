"""Fixtures for the parallel tests: the DeepSpeed op build, and training runs shared by tests."""

import fcntl
import json
import subprocess
import sys
from pathlib import Path

import pytest
from multiprocess_helpers import child_env
from parallel_helpers import train


@pytest.fixture(scope="session")
def deepspeed_ops() -> None:
    """Build DeepSpeed's shared-memory comm op once before any rank needs it.

    On CPU, DeepSpeed JIT-compiles `deepspeed_shm_comm` at its first use (about a minute) and
    caches it in TORCH_EXTENSIONS_DIR; building it here keeps that minute out of every rank's
    start-up and out of the distributed tests' timeouts.
    """
    code = ("from deepspeed.accelerator import get_accelerator; "
            "get_accelerator().create_op_builder('ShareMemCommBuilder').load()")
    subprocess.run([sys.executable, "-c", code], env=child_env(), check=True,
                   capture_output=True, timeout=900)


class Runs:
    """Training runs keyed by their arguments, each run once per test session.

    Several tests compare the same runs (the one-process reference, a run that saved a
    checkpoint). Reports are kept on disk under a directory shared by pytest-xdist workers and
    guarded by a file lock, so a run is done once even when tests using it land on different
    workers.
    """

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def get(self, launcher: str, nproc: int, strategy: str, *extra: str) -> dict:
        name = "-".join([launcher, str(nproc), strategy, *extra]).replace("/", "_")
        out = self.root / name[:200]
        with open(self.root / (name[:200] + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            report_file = out / "report.json"
            report = (json.loads(report_file.read_text()) if report_file.exists()
                      else train(launcher, nproc, strategy, out, *extra))
        report["dir"] = out
        return report


@pytest.fixture(scope="session")
def runs(tmp_path_factory, deepspeed_ops) -> Runs:
    # The parent of the base temp dir is shared by all xdist workers of one session.
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if base.name.startswith("popen-gw") else base
    return Runs(shared / "parallel-runs")
