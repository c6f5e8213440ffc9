"""Load a run's checkpoints for evaluation: the model and tokenizer, ready to generate.

    from auroragpt.eval import load_model, list_checkpoints
    for ckpt in list_checkpoints("runs/tiny"):
        model, tokenizer = load_model("runs/tiny", ckpt.step)

The layout, checksums and safe reading belong to `auroragpt.checkpoint`; everything loaded
here went through `read_model_weights` (verified, shape-checked, finite).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from auroragpt.checkpoint import read_model_weights, resolve_checkpoint, tokenizer_path
from auroragpt.config import Config
from auroragpt.model import Transformer, build_model


def model_from_checkpoint(ckpt_dir: str | Path, device: torch.device | str = "cpu",
                          dtype: torch.dtype = torch.float32) -> Transformer:
    """Build the checkpoint's model from its config.yaml and load its weights, in eval mode."""
    cfg, state = read_model_weights(ckpt_dir)
    model = build_model(cfg.model, device)
    # tied embeddings are one Parameter under two names, so either name fills both
    model.load_state_dict(state, strict=False)
    return model.to(dtype).eval()


def load_model(run_dir: str | Path, step: int | None = None,
               device: torch.device | str = "cpu"):
    """`(model, tokenizer)` of a run's checkpoint at `step` (None: the newest).

    `run_dir` may also be a checkpoint directory. The model is fp32, in eval mode, on `device`.
    """
    from auroragpt.tokenizer import Tokenizer

    ckpt = resolve_checkpoint(run_dir, step)
    return model_from_checkpoint(ckpt, device), Tokenizer.load(tokenizer_path(ckpt))


def logged_tokens_seen(run_dir: str | Path) -> dict[int, int]:
    """step -> tokens_seen, from the run's metrics.jsonl (empty if there is none)."""
    metrics = Path(run_dir) / "metrics.jsonl"
    seen: dict[int, int] = {}
    if metrics.is_file():
        for line in metrics.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written as we read
            if "step" in row and "tokens_seen" in row:
                seen[int(row["step"])] = int(row["tokens_seen"])
    return seen


def tokens_seen(step: int, cfg: Config, logged: dict[int, int]) -> int:
    """Training tokens consumed up to `step`: as logged (see `logged_tokens_seen`), else
    step x global batch x sequence length (exact unless the batch size changed on resume)."""
    if step in logged:
        return logged[step]
    return step * cfg.train.global_batch_size * cfg.model.max_seq_len
