"""The acceptance contract: `auroragpt train --preset debug parallel.strategy=S` under torchrun
and mpiexec writes the same losses to metrics.jsonl as one process with the same global batch.

Every run shares one data cache (the built-in corpora, tokenized once by the reference run).
"""

import json

import pytest
import torch
from multiprocess_helpers import auroragpt_command, run
from parallel_helpers import launcher_strategy_matrix

STEPS = 6  # the debug preset validates at the last step, so val_loss is compared too

slow = pytest.mark.slow


def train_run(launcher: str, nproc: int, run_dir, cache_dir, *overrides: str) -> list[dict]:
    run([*auroragpt_command(launcher, nproc), "train", "--preset", "debug", "--run-dir",
         str(run_dir), "--no-progress", f"train.max_steps={STEPS}",
         f"data.cache_dir={cache_dir}", *overrides], check=True)
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def cli_reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    metrics = train_run("python", 1, root / "reference", root / "cache")
    return root, metrics


def assert_same_metrics(got: list[dict], want: list[dict]) -> None:
    assert [r["step"] for r in got] == [r["step"] for r in want] == list(range(1, STEPS + 1))
    for key in ("loss", "grad_norm", "val_loss"):
        pairs = [(g[key], w[key]) for g, w in zip(got, want, strict=True) if key in w]
        assert pairs, key
        torch.testing.assert_close(torch.tensor(pairs)[:, 0], torch.tensor(pairs)[:, 1],
                                   rtol=1e-5, atol=0, msg=key)


@pytest.mark.parametrize("launcher, strategy", launcher_strategy_matrix(
    {("torchrun", "zero3"), ("mpiexec", "zero1")}))
def test_two_ranks_write_the_losses_of_one_process(cli_reference, deepspeed_ops, launcher,
                                                    strategy):
    root, want = cli_reference
    run_dir = root / f"{launcher}-{strategy}"
    got = train_run(launcher, 2, run_dir, root / "cache", f"parallel.strategy={strategy}")
    assert_same_metrics(got, want)


@slow
@pytest.mark.parametrize("strategy", ["fsdp", "zero3"])
def test_resume_on_one_process_what_two_ranks_saved(cli_reference, deepspeed_ops, tmp_path,
                                                    strategy):
    root, want = cli_reference
    run_dir = tmp_path / strategy
    train_run("torchrun", 2, run_dir, root / "cache", f"parallel.strategy={strategy}",
              "train.save_every=3", "train.stop_step=3")
    run([*auroragpt_command("python", 1), "train", "--run-dir", str(run_dir), "--resume",
         "--no-progress", "train.stop_step=null"], check=True)
    got = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert_same_metrics(got, want)
