"""Fixtures for evaluation tests: run directories on disk (the tokenizer is tests/conftest.py's).

`make_run` writes the run/checkpoint layout of the working agreement by hand (a test helper,
not library code), from a debug-preset model whose weights are drawn at random per step, so
tests do not depend on the trainer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from auroragpt.checkpoint.layout import write_checksums
from auroragpt.config import get_preset, save_config


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny matmuls on a 2-core machine shared with other test workers run ~10x faster on
    one thread than on two contending ones; restored after each test."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def make_run(tmp_path, sp_model_path, randomise):
    """make_run(steps=(5, 10), tie=False, cfg=None, tokenizer=None, **model_fields) -> run dir.

    `cfg` defaults to the debug preset; `tokenizer` (a .model path) to the stdlib one above.
    """
    from safetensors.torch import save_file

    from auroragpt.model import build_model

    def make(steps=(5, 10), tie: bool = False, name: str = "run", cfg=None,
             tokenizer: Path | None = None, **model_fields) -> Path:
        cfg = cfg if cfg is not None else get_preset("debug")
        cfg.name = name
        cfg.model.tie_embeddings = tie
        for key, value in model_fields.items():
            setattr(cfg.model, key, value)
        cfg.validate()
        tokenizer_bytes = Path(tokenizer or sp_model_path).read_bytes()
        run = tmp_path / name
        (run / "checkpoints").mkdir(parents=True)
        save_config(cfg, run / "config.yaml")
        (run / "tokenizer.model").write_bytes(tokenizer_bytes)
        metrics = []
        for step in steps:
            model = randomise(build_model(cfg.model), seed=step)
            ckpt = run / "checkpoints" / f"global_step{step}"
            ckpt.mkdir()
            state = {k: v.clone() for k, v in model.state_dict().items()}
            save_file(state, ckpt / "model.safetensors")
            save_config(cfg, ckpt / "config.yaml")
            (ckpt / "tokenizer.model").write_bytes(tokenizer_bytes)
            write_checksums(ckpt)
            metrics.append({"step": step, "loss": 1.0, "tokens_seen": step * 1000})
        (run / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
        if steps:
            (run / "checkpoints" / "latest").write_text(f"global_step{max(steps)}\n")
        return run

    return make
