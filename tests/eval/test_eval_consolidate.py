"""Checkpoints holding only sharded state (2 gloo ranks) consolidate to the framework's own
in-memory gather of the full weights, and export through the same path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from auroragpt.checkpoint import list_checkpoints, read_model_weights
from auroragpt.checkpoint.consolidate import find_sharded
from auroragpt.checkpoint.layout import write_checksums
from auroragpt.config import get_preset, save_config

WORKER = Path(__file__).with_name("sharded_worker.py")
TORCHRUN = Path(sys.executable).with_name("torchrun")


def _write_sharded(tmp_path: Path, fmt: str, sp_model_path: Path) -> Path:
    """RUN/checkpoints/global_step1 with config.yaml, tokenizer.model and only shards."""
    ckpt = tmp_path / "run" / "checkpoints" / "global_step1"
    ckpt.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run([str(TORCHRUN), "--standalone", "--nproc_per_node=2", str(WORKER),
                           "--format", fmt, "--out", str(ckpt)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-6000:]
    save_config(get_preset("debug"), ckpt / "config.yaml")
    (ckpt / "tokenizer.model").write_bytes(sp_model_path.read_bytes())
    return ckpt


def _check(ckpt: Path, kind: str) -> None:
    reference = load_file(ckpt / "reference.safetensors")
    (ckpt / "reference.safetensors").unlink()  # not part of the checkpoint
    write_checksums(ckpt)
    assert not (ckpt / "model.safetensors").exists()
    assert find_sharded(ckpt)[0] == kind
    assert [c.step for c in list_checkpoints(ckpt.parent.parent)] == [1]
    state = read_model_weights(ckpt)[1]
    assert state.keys() == reference.keys()
    for name, tensor in reference.items():
        assert state[name].dtype == torch.float32
        assert torch.equal(state[name], tensor), name


@pytest.mark.timeout(900)
def test_fsdp_distcp_consolidates(tmp_path, sp_model_path):
    _check(_write_sharded(tmp_path, "dcp", sp_model_path), "dcp")


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("stage", ["zero2", "zero3"])
def test_deepspeed_zero_consolidates_and_exports(tmp_path, sp_model_path, stage):
    pytest.importorskip("deepspeed")
    ckpt = _write_sharded(tmp_path, stage, sp_model_path)
    _check(ckpt, "deepspeed")
    from auroragpt.eval.export import export_hf

    transformers = pytest.importorskip("transformers")
    out = export_hf(ckpt, tmp_path / "hf")
    hf = transformers.LlamaForCausalLM.from_pretrained(out, dtype=torch.float32)
    assert torch.equal(hf.model.embed_tokens.weight, read_model_weights(ckpt)[1]["tok_embeddings.weight"])
