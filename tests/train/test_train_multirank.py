"""One command, any number of ranks: 2 data-parallel ranks train like one process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from auroragpt.checkpoint import read_model_weights

TORCHRUN = Path(sys.executable).with_name("torchrun")


def run_train(prefix: list[str], run_dir: Path, cache: Path, strategy: str) -> list[dict]:
    args = ["-m", "auroragpt.cli", "train", "--preset", "debug", "--run-dir", str(run_dir),
            "--no-progress", f"data.cache_dir={cache}", "train.max_steps=4",
            "train.eval_every=0", "train.sample_every=0", "train.log_every=1",
            "train.cpu_threads=1", f"parallel.strategy={strategy}"]
    done = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def single_process(tmp_path_factory, data_cache):
    run_dir = tmp_path_factory.mktemp("one") / "run"
    return run_dir, run_train([sys.executable], run_dir, data_cache, "single")


@pytest.mark.skipif(shutil.which(str(TORCHRUN)) is None, reason="torchrun not installed")
@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_ranks_match_one_process(tmp_path, data_cache, single_process, strategy):
    """Same global batches, micro-batch 4: accumulation 2 on one rank, 1 on each of two."""
    one_dir, single = single_process
    double = run_train([str(TORCHRUN), "--standalone", "--nproc_per_node", "2"],
                       tmp_path / "two", data_cache, strategy)
    assert [r["step"] for r in double] == [1, 2, 3, 4]
    for a, b in zip(single, double, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-5)
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-4)
    one = load_file(one_dir / "checkpoints" / "global_step4" / "model.safetensors")
    # fsdp checkpoints hold shards only: consolidated here, as eval and export-hf do
    _, two = read_model_weights(tmp_path / "two" / "checkpoints" / "global_step4")
    assert (strategy == "fsdp") != (tmp_path / "two" / "checkpoints" / "global_step4"
                                    / "model.safetensors").is_file()
    assert one.keys() == two.keys()
    for name in one:
        # NOTE: atol 5e-5, not 1e-5: AdamW divides by sqrt(v), which magnifies summation-order
        # differences in rare embedding rows whose gradients are tiny (measured: 2.9e-5 on one
        # of 32,768 entries while every loss agreed to 1e-6).
        torch.testing.assert_close(two[name], one[name], rtol=1e-4, atol=5e-5, msg=name)
