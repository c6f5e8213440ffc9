"""Fixtures for evaluation tests: a real sentencepiece tokenizer and run directories on disk.

`make_run` writes the run/checkpoint layout of the working agreement by hand (a test helper,
not library code), from a debug-preset model whose weights are drawn at random per step, so
tests do not depend on the trainer.
"""

from __future__ import annotations

import json
import sysconfig
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


def _stdlib_text(max_chars: int) -> str:
    """Real code and English docstrings from the interpreter's own standard library."""
    root = Path(sysconfig.get_paths()["stdlib"])
    chunks, total = [], 0
    for path in sorted(root.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        chunks.append(text)
        total += len(text)
        if total >= max_chars:
            break
    return "\n".join(chunks)[:max_chars]


@pytest.fixture(scope="session")
def sp_model_path(tmp_path_factory) -> Path:
    """A 512-piece sentencepiece BPE model with byte fallback, trained on stdlib source."""
    Tokenizer = pytest.importorskip("auroragpt.tokenizer").Tokenizer
    text = _stdlib_text(400_000)
    path = tmp_path_factory.mktemp("tokenizer") / "tokenizer.model"
    Tokenizer.train(text.split("\n\n"), vocab_size=512, path=path)
    return path


def _randomise(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every parameter drawn at random (norm gains too), so logits are far from uniform."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.copy_(torch.rand(param.shape, generator=gen) + 0.5)
            else:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.2)
    return model.eval()


@pytest.fixture
def randomise():
    """randomise(model, seed): every parameter drawn at random, for far-from-uniform logits."""
    return _randomise


@pytest.fixture
def make_run(tmp_path, sp_model_path):
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
            model = _randomise(build_model(cfg.model), seed=step)
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
