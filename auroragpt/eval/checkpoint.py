"""Find and load the checkpoints of a run directory.

Layout read here (written by `auroragpt train`):

    RUN_DIR/config.yaml, RUN_DIR/metrics.jsonl, RUN_DIR/tokenizer.model
    RUN_DIR/checkpoints/global_step{N}/{model.safetensors, config.yaml, tokenizer.model, ...}
    RUN_DIR/checkpoints/latest          text: the newest complete checkpoint directory

A checkpoint directory may instead hold sharded weights from a parallel run (a torch
distributed checkpoint or a DeepSpeed layout); `read_state_dict` consolidates those.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from auroragpt.config import Config, ModelConfig, load_config
from auroragpt.model import Transformer, build_model

CHECKPOINT_DIR_PATTERN = re.compile(r"global_step(\d+)")
WEIGHTS_FILE = "model.safetensors"


class CheckpointError(FileNotFoundError):
    """A run or checkpoint directory is missing something; the message names the path."""


@dataclass(frozen=True)
class Checkpoint:
    step: int
    path: Path


def list_checkpoints(run_dir: str | Path) -> list[Checkpoint]:
    """Complete checkpoints of a run, oldest first (directories still being written are skipped)."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        raise CheckpointError(f"{root}: no checkpoints directory (is {run_dir} a run directory?)")
    found = []
    for path in root.iterdir():
        match = CHECKPOINT_DIR_PATTERN.fullmatch(path.name)
        if match and path.is_dir() and is_complete(path):
            found.append(Checkpoint(int(match.group(1)), path))
    return sorted(found, key=lambda c: c.step)


def is_checkpoint_dir(path: Path) -> bool:
    return (path / "config.yaml").is_file() and has_weights(path)


def has_weights(path: Path) -> bool:
    """Consolidated model.safetensors, or a sharded checkpoint `consolidate` can read."""
    from auroragpt.eval.consolidate import find_sharded

    return (path / WEIGHTS_FILE).is_file() or find_sharded(path) is not None


def is_complete(path: Path) -> bool:
    """A checkpoint is complete once its config and weights are there, and, when the trainer
    writes one, its `checksums.json` (written after every other file)."""
    if not is_checkpoint_dir(path):
        return False
    trainer_state = path / "trainer_state.pt"
    return not trainer_state.exists() or (path / "checksums.json").is_file()


def resolve_checkpoint(run_dir: str | Path, step: int | None = None) -> Path:
    """The checkpoint directory for `step` of a run (None: the newest).

    `run_dir` may also be a checkpoint directory itself, which is then returned as is.
    """
    run_dir = Path(run_dir)
    if is_checkpoint_dir(run_dir):
        if step is not None:
            match = CHECKPOINT_DIR_PATTERN.fullmatch(run_dir.name)
            if match is None or int(match.group(1)) != step:
                raise CheckpointError(f"{run_dir} is a single checkpoint, not step {step}")
        return run_dir
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        raise CheckpointError(f"{run_dir}/checkpoints: no complete global_step* checkpoint")
    if step is None:
        return _latest(run_dir) or checkpoints[-1].path
    for ckpt in checkpoints:
        if ckpt.step == step:
            return ckpt.path
    steps = ", ".join(str(c.step) for c in checkpoints)
    raise CheckpointError(f"{run_dir}/checkpoints: no checkpoint for step {step} (have {steps})")


def _latest(run_dir: Path) -> Path | None:
    """The directory named by checkpoints/latest, if that file exists and names a checkpoint."""
    pointer = run_dir / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    name = Path(pointer.read_text().strip())
    path = name if name.is_absolute() else run_dir / "checkpoints" / name.name
    return path if is_complete(path) else None


def read_config(ckpt_dir: str | Path) -> Config:
    return load_config(Path(ckpt_dir) / "config.yaml")


def read_state_dict(ckpt_dir: str | Path) -> dict[str, torch.Tensor]:
    """The model's fp32 state dict: model.safetensors, else consolidated from the shards."""
    from safetensors.torch import load_file

    from auroragpt.eval.consolidate import consolidate

    ckpt_dir = Path(ckpt_dir)
    if (ckpt_dir / WEIGHTS_FILE).is_file():
        return load_file(ckpt_dir / WEIGHTS_FILE)
    return consolidate(ckpt_dir, read_config(ckpt_dir).model)


def check_state_dict(cfg: ModelConfig, state: dict[str, torch.Tensor], source: str) -> None:
    """Raise unless `state` holds exactly the weights, with the shapes, that `cfg` builds.

    With tied embeddings either of the two shared names suffices.
    """
    with torch.device("meta"):
        expected = {k: v.shape for k, v in Transformer(cfg).state_dict().items()}
    tied = {"tok_embeddings.weight", "output.weight"} if cfg.tie_embeddings else set()
    missing = set(expected) - set(state)
    unexpected = set(state) - set(expected)
    if unexpected or (missing - tied) or (tied and tied <= missing):
        raise CheckpointError(
            f"{source}: weights do not match config.yaml: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}"
        )
    for name, tensor in state.items():
        if tensor.shape != expected[name]:
            raise CheckpointError(f"{source}: {name} has shape {tuple(tensor.shape)}, "
                                  f"config.yaml implies {tuple(expected[name])}")


def load_model(ckpt_dir: str | Path, device: torch.device | str = "cpu",
               dtype: torch.dtype = torch.float32) -> Transformer:
    """Build the checkpoint's model from its config.yaml and load its weights, in eval mode."""
    ckpt_dir = Path(ckpt_dir)
    cfg = read_config(ckpt_dir)
    state = read_state_dict(ckpt_dir)
    check_state_dict(cfg.model, state, str(ckpt_dir))
    model = build_model(cfg.model, device)
    # tied embeddings are one Parameter under two names, so either name fills both
    model.load_state_dict(state, strict=False)
    return model.to(dtype).eval()


def tokenizer_path(ckpt_dir: str | Path) -> Path:
    """The checkpoint's tokenizer.model, else the run directory's."""
    ckpt_dir = Path(ckpt_dir)
    for path in (ckpt_dir / "tokenizer.model", ckpt_dir.parent.parent / "tokenizer.model"):
        if path.is_file():
            return path
    raise CheckpointError(f"{ckpt_dir}: no tokenizer.model here or in the run directory")


def load_checkpoint(run_dir: str | Path, step: int | None = None,
                    device: torch.device | str = "cpu"):
    """`(model, tokenizer)` of a run's checkpoint at `step` (None: the newest), ready to generate.

    `run_dir` may also be a checkpoint directory. The model is fp32, in eval mode, on `device`.
    """
    from auroragpt.tokenizer import Tokenizer

    ckpt = resolve_checkpoint(run_dir, step)
    return load_model(ckpt, device), Tokenizer.load(tokenizer_path(ckpt))


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
