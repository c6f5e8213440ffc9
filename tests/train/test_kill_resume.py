"""Kill-and-resume: SIGKILL at random points (steps, and every phase of a checkpoint save),
then `--resume` until done; weights, losses and RNG state equal an uninterrupted run's.

One process (plain engine) and two ranks (FSDP: shards only, checksummed by each rank). The
reference is the same command run without interruption; everything is compared exactly.
A few points run by default, many more with --runslow.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from auroragpt.checkpoint import load_checkpoint, read_model_weights

WORKER = Path(__file__).with_name("kill_worker.py")
TORCHRUN = Path(sys.executable).with_name("torchrun")
STEPS = 6
# hook -> how many calls one uninterrupted run makes at least (N is drawn in 1..that)
ONE_PROCESS = {"step": STEPS, "weights": 3, "write_atomic": 6, "rename": 6, "prune": 2}
TWO_RANKS = {"step": STEPS, "shards": 3, "write_atomic": 6, "rename": 6}
RANK0_ONLY = {"weights", "write_atomic", "rename", "prune"}  # what rank 0 alone calls


def _command(ranks: int, run_dir: Path, cache: Path, resume: bool) -> list[str]:
    prefix = ([sys.executable, str(WORKER)] if ranks == 1 else
              [str(TORCHRUN), "--standalone", "--nproc_per_node=2", str(WORKER)])
    strategy = "single" if ranks == 1 else "fsdp"
    return [*prefix, "train", "--preset", "debug", "--run-dir", str(run_dir), "--no-progress",
            *(["--resume"] if resume else []), f"data.cache_dir={cache}",
            f"train.max_steps={STEPS}", "train.save_every=2", "train.keep_last=2",
            "train.eval_every=0", "train.sample_every=0", "train.log_every=1",
            "train.cpu_threads=1", f"parallel.strategy={strategy}"]


def _run(ranks: int, run_dir: Path, cache: Path, resume: bool = False, kill: str | None = None,
         kill_rank: int | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURORAGPT_TEST_KILL")}
    env["OMP_NUM_THREADS"] = "1"
    if kill:
        env["AURORAGPT_TEST_KILL"] = kill
        if kill_rank is not None:
            env["AURORAGPT_TEST_KILL_RANK"] = str(kill_rank)
    done = subprocess.run(_command(ranks, run_dir, cache, resume), env=env, capture_output=True,
                          text=True, timeout=600)
    assert kill or done.returncode == 0, done.stderr[-3000:]
    return done.returncode


def _outcome(run_dir: Path) -> tuple[dict, dict, dict]:
    final = run_dir / "checkpoints" / f"global_step{STEPS}"
    _, weights = read_model_weights(final)
    rng = load_checkpoint(final, read_model=False).trainer_state["rng"]
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = {r["step"]: (r["loss"], r["grad_norm"]) for r in rows}
    return weights, losses, rng


def _assert_same(a: tuple, b: tuple) -> None:
    (wa, la, ra), (wb, lb, rb) = a, b
    assert wa.keys() == wb.keys()
    for name in wa:
        assert torch.equal(wa[name], wb[name]), name
    assert la == lb
    assert torch.equal(ra["torch"], rb["torch"]) and ra["python"] == rb["python"]
    assert torch.equal(ra["numpy"]["key"], rb["numpy"]["key"])


@pytest.fixture(scope="module")
def references(tmp_path_factory, data_cache, debug_data):
    """Uninterrupted runs, per number of ranks, made when first needed."""
    made: dict[int, tuple] = {}

    def reference(ranks: int) -> tuple:
        if ranks not in made:
            run_dir = tmp_path_factory.mktemp(f"uninterrupted{ranks}") / "run"
            _run(ranks, run_dir, data_cache)
            made[ranks] = _outcome(run_dir)
        return made[ranks]

    return reference


def _kill_and_resume(tmp_path: Path, cache: Path, ranks: int, seed: int) -> tuple:
    hooks = ONE_PROCESS if ranks == 1 else TWO_RANKS
    rng = random.Random(seed)
    name = rng.choice(sorted(hooks))
    spec = f"{name}:{rng.randint(1, hooks[name])}"
    kill_rank = None if ranks == 1 else 0 if name in RANK0_ONLY else rng.randrange(ranks)
    run_dir = tmp_path / "run"
    code = _run(ranks, run_dir, cache, kill=spec, kill_rank=kill_rank)
    assert code != 0, f"{spec} was never reached"
    for _ in range(3):  # resume until done (each resume is uninterrupted)
        if (run_dir / "checkpoints" / f"global_step{STEPS}").is_dir():
            break
        _run(ranks, run_dir, cache, resume=True)
    return _outcome(run_dir)


def _skip_without_torchrun(ranks: int) -> None:
    if ranks > 1 and shutil.which(str(TORCHRUN)) is None:
        pytest.skip("torchrun not installed")


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("ranks, seed", [(1, 1), (1, 2), (2, 0)])
def test_kill_and_resume(tmp_path, data_cache, references, ranks, seed):
    _skip_without_torchrun(ranks)
    _assert_same(_kill_and_resume(tmp_path, data_cache, ranks, seed), references(ranks))


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("ranks, seed", [(1, s) for s in (0, *range(3, 25))] + [(2, s) for s in range(1, 9)])
def test_kill_and_resume_many(tmp_path, data_cache, references, ranks, seed):
    _skip_without_torchrun(ranks)
    _assert_same(_kill_and_resume(tmp_path, data_cache, ranks, seed), references(ranks))
