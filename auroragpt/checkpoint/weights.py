"""A checkpoint's model: its config, its full fp32 weights, checked before anyone uses them.

`read_model_weights` is the one way evaluation, generation and export read weights: it
verifies the checksums (`layout.verify_checkpoint`), reads `model.safetensors` or consolidates
the shards, and refuses weights that do not fit the checkpoint's config or are not finite.
"""

from __future__ import annotations

from pathlib import Path

import torch

from auroragpt.checkpoint.layout import (
    CONFIG_FILE,
    MODEL_FILE,
    TOKENIZER_FILE,
    CheckpointError,
    verify_checkpoint,
)
from auroragpt.config import Config, ConfigError, ModelConfig, load_config


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path)
    except SafetensorError as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from None


def read_config(ckpt_dir: str | Path) -> Config:
    path = Path(ckpt_dir) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; not a checkpoint directory")
    try:
        return load_config(path)
    except ConfigError as err:
        raise CheckpointError(f"{path}: {err}") from None


def model_names(cfg: ModelConfig) -> dict[str, torch.Size]:
    """Name -> shape of every tensor in `Transformer(cfg).state_dict()` (built on meta)."""
    from auroragpt.model import Transformer

    with torch.device("meta"):
        return {k: v.shape for k, v in Transformer(cfg).state_dict().items()}


def check_state_dict(cfg: ModelConfig, state: dict[str, torch.Tensor], source: str) -> None:
    """Raise unless `state` holds exactly the weights, with the shapes, that `cfg` builds.

    With tied embeddings either of the two shared names suffices.
    """
    expected = model_names(cfg)
    tied = {"tok_embeddings.weight", "output.weight"} if cfg.tie_embeddings else set()
    missing = set(expected) - set(state)
    unexpected = set(state) - set(expected)
    if unexpected or (missing - tied) or (tied and tied <= missing):
        raise CheckpointError(
            f"{source}: weights do not match config.yaml: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}")
    for name, tensor in state.items():
        if tensor.shape != expected[name]:
            raise CheckpointError(f"{source}: {name} has shape {tuple(tensor.shape)}, "
                                  f"config.yaml implies {tuple(expected[name])}")


def check_finite(state: dict[str, torch.Tensor], source: str) -> None:
    """Raise naming the first tensor that holds a NaN or an infinity."""
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{source}: {name} holds NaN or infinite values; the "
                                  "checkpoint is from a diverged run or corrupt")


def read_model_weights(ckpt_dir: str | Path) -> tuple[Config, dict[str, torch.Tensor]]:
    """The checkpoint's config and full fp32 weights, verified, shape-checked and finite."""
    from auroragpt.checkpoint.consolidate import consolidate

    ckpt_dir = Path(ckpt_dir)
    verify_checkpoint(ckpt_dir)
    cfg = read_config(ckpt_dir)
    if (ckpt_dir / MODEL_FILE).is_file():
        state = read_safetensors(ckpt_dir / MODEL_FILE)
        source = str(ckpt_dir / MODEL_FILE)
    else:
        state = consolidate(ckpt_dir, list(model_names(cfg.model)))
        source = f"{ckpt_dir} (consolidated from its shards)"
    check_state_dict(cfg.model, state, source)
    check_finite(state, source)
    return cfg, state


def tokenizer_path(ckpt_dir: str | Path) -> Path:
    """The checkpoint's tokenizer.model, else its run directory's."""
    ckpt_dir = Path(ckpt_dir)
    for path in (ckpt_dir / TOKENIZER_FILE, ckpt_dir.parent.parent / TOKENIZER_FILE):
        if path.is_file():
            return path
    raise CheckpointError(f"{ckpt_dir}: no {TOKENIZER_FILE} here or in the run directory")
