"""The parallel tests' training runs: `worker.py` under torchrun, mpiexec or one process."""

import json
from pathlib import Path

import pytest
from multiprocess_helpers import launch_prefix, run

WORKER = Path(__file__).with_name("worker.py")


def train(launcher: str, nproc: int, strategy: str, out: Path, *extra: str) -> dict:
    """Run worker.py and return its report (losses, grad_norms, state_bytes per rank)."""
    out.mkdir(parents=True, exist_ok=True)
    run([*launch_prefix(launcher, nproc), str(WORKER), "--strategy", strategy,
         "--out", str(out), *extra], check=True)
    return json.loads((out / "report.json").read_text())


def launcher_strategy_matrix(default: set[tuple[str, str]]) -> list:
    """Every (launcher, strategy) pair as pytest params; those not in `default` are slow."""
    return [pytest.param(launcher, strategy,
                         marks=() if (launcher, strategy) in default else pytest.mark.slow)
            for launcher in ("torchrun", "mpiexec")
            for strategy in ("ddp", "fsdp", "zero1", "zero2", "zero3")]
