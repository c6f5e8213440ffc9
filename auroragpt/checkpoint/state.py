"""A training checkpoint as the trainer sees it: write its files, find and load a valid one.

The trainer assembles a checkpoint in a staging directory (`layout.begin_checkpoint`): every
rank adds its shards (`auroragpt.checkpoint.sharded`), rank 0 adds the files below, and rank 0
commits it with the checksums all ranks recorded (`layout.commit_checkpoint`). Loading verifies
first, every file hashed once over all ranks, and falls back to the newest older checkpoint
that verifies, saying why.
"""

from __future__ import annotations

import io
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from auroragpt.checkpoint.layout import (
    CONFIG_FILE,
    MODEL_FILE,
    STATE_FILE,
    TOKENIZER_FILE,
    CheckpointError,
    begin_checkpoint,
    checkpoint_step,
    commit_checkpoint,
    hash_written,
    list_checkpoints,
    read_latest,
    verify_checkpoint,
)
from auroragpt.checkpoint.safe_load import load_torch_file
from auroragpt.checkpoint.weights import read_safetensors
from auroragpt.config import Config, save_config


@dataclass
class Checkpoint:
    path: Path  # the global_step{N} directory
    step: int  # optimizer steps completed when it was written
    trainer_state: dict  # step, data position, RNG states, optimizer (unsharded engines), ...
    model_state: dict[str, torch.Tensor] | None  # fp32 CPU weights; None: not read or sharded


def write_checkpoint_files(staging: Path, step: int, trainer_state: dict, cfg: Config,
                           model_state: dict[str, torch.Tensor] | None = None,
                           tokenizer_path: Path | None = None) -> dict[str, str]:
    """Rank 0's files of a checkpoint; returns their {relative path: sha256}."""
    from safetensors.torch import save_file

    written = [staging / STATE_FILE, staging / CONFIG_FILE]
    # NOTE: through memory: torch.save straight to a file reports a full disk as an opaque
    # "unexpected pos" RuntimeError, a plain write as the OSError it is.
    buffer = io.BytesIO()
    torch.save(trainer_state, buffer)
    (staging / STATE_FILE).write_bytes(buffer.getbuffer())
    save_config(cfg, staging / CONFIG_FILE)
    if model_state is not None:
        save_file(model_state, staging / MODEL_FILE, metadata={"format": "pt", "step": str(step)})
        written.append(staging / MODEL_FILE)
    if tokenizer_path is not None:
        shutil.copyfile(tokenizer_path, staging / TOKENIZER_FILE)
        written.append(staging / TOKENIZER_FILE)
    return hash_written(staging, *written)


def save_checkpoint(root: Path, step: int, model_state: dict[str, torch.Tensor],
                    trainer_state: dict, cfg: Config, tokenizer_path: Path | None = None,
                    keep_last: int = 0) -> Path:
    """Single process: write checkpoint `step` atomically, point `latest` at it, prune."""
    staging = begin_checkpoint(root, step)
    checksums = write_checkpoint_files(staging, step, trainer_state, cfg, model_state,
                                       tokenizer_path)
    return commit_checkpoint(staging, checksums, keep_last)


def load_checkpoint(path: Path, read_model: bool = True, verify: bool = True) -> Checkpoint:
    """One global_step{N} directory: verified, its trainer state and (when `read_model` and
    the checkpoint holds it) its consolidated weights."""
    path = Path(path)
    if verify:
        verify_checkpoint(path)
    if not (path / STATE_FILE).is_file():
        raise CheckpointError(f"{path / STATE_FILE}: missing; not a training checkpoint")
    trainer_state = load_torch_file(path / STATE_FILE)
    model_state = None
    if read_model:
        if not (path / MODEL_FILE).is_file():
            raise CheckpointError(f"{path / MODEL_FILE}: missing; this checkpoint holds only "
                                  "sharded state, which the run's own strategy resumes from")
        model_state = read_safetensors(path / MODEL_FILE)
    return Checkpoint(path=path, step=checkpoint_step(path), trainer_state=trainer_state,
                      model_state=model_state)


def _verify_on_all_ranks(path: Path) -> str | None:
    """Collective when distributed: each rank hashes its share of the files; the first
    failure any rank found (every rank gets the same verdict), or None."""
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    try:
        verify_checkpoint(path, rank, world)
        error = None
    except CheckpointError as err:
        error = str(err)
    if world > 1:
        verdicts: list = [None] * world
        dist.all_gather_object(verdicts, error)
        error = next((v for v in verdicts if v is not None), None)
    return error


def load_latest_valid(root: Path, warn: Callable[[str], None] | None = None,
                      read_model: bool = True) -> Checkpoint:
    """Collective when distributed: the checkpoint `latest` names, else the newest older one
    that verifies. Every rejected checkpoint is reported through `warn` (default
    `warnings.warn`) with the reason, so a fallback can never hide lost steps."""
    warn = warn or (lambda message: warnings.warn(message, stacklevel=2))
    root = Path(root)
    candidates = [c.path for c in reversed(list_checkpoints(root))]
    latest = read_latest(root)
    if latest is not None:  # the pointer first, then everything older, newest first
        step = checkpoint_step(latest)
        candidates = [latest] + [p for p in candidates
                                 if p.name != latest.name and checkpoint_step(p) < step]
    if not candidates:
        raise CheckpointError(f"{root}: no checkpoints to resume from")
    errors = []
    for path in candidates:
        error = _verify_on_all_ranks(path)
        if error is None:
            try:
                checkpoint = load_checkpoint(path, read_model=read_model, verify=False)
            except CheckpointError as err:
                error = str(err)
        if error is not None:
            errors.append(error)
            warn(f"skipping checkpoint {path.name}: {error}")
            continue
        if errors:
            warn(f"falling back to checkpoint {path.name}")
        return checkpoint
    raise CheckpointError(
        f"{root}: no valid checkpoint; every candidate failed verification: " + "; ".join(errors))
