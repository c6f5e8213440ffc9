"""Checkpoints that are either complete and verified, or ignored.

Layout (read by `auroragpt.eval`, keep it exact):

    RUN_DIR/checkpoints/global_step{N}/
        model.safetensors    fp32 weights, names exactly as in Transformer.state_dict()
        trainer_state.pt     optimizer, step, RNG states, data position (weights_only loadable)
        config.yaml          the effective config of the run
        tokenizer.model      the sentencepiece model the run trained with (when it has one)
        distcp/, deepspeed/  a parallel strategy's own sharded state (Engine.save_sharded)
        checksums.json       sha256 of every file above, by relative path
    RUN_DIR/checkpoints/latest   text file naming the newest complete checkpoint directory

A checkpoint is written into a hidden temporary directory and renamed into place, and `latest`
is rewritten (atomically) only after that, so a crash at any moment leaves either the old or
the new checkpoint, never a half-written one. Loading verifies every checksum and falls back to
the newest older checkpoint that verifies, saying why.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from auroragpt.config import Config, save_config

MODEL_FILE = "model.safetensors"
STATE_FILE = "trainer_state.pt"
CONFIG_FILE = "config.yaml"
TOKENIZER_FILE = "tokenizer.model"
CHECKSUMS_FILE = "checksums.json"
LATEST_FILE = "latest"
_STEP_DIR = re.compile(r"^global_step(\d+)$")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete or corrupt; the message names the file."""


@dataclass
class Checkpoint:
    path: Path  # the global_step{N} directory
    step: int  # optimizer steps completed when it was written
    model_state: dict[str, torch.Tensor]  # fp32 CPU weights
    trainer_state: dict  # optimizer, RNG states, data position, ...


def step_dir_name(step: int) -> str:
    return f"global_step{step}"


def checkpoint_step(path: Path) -> int | None:
    """N for a directory named global_step{N}, else None."""
    match = _STEP_DIR.match(Path(path).name)
    return int(match.group(1)) if match else None


def list_checkpoints(checkpoints_dir: Path) -> list[Path]:
    """Completed (renamed-into-place) checkpoint directories, oldest first."""
    checkpoints_dir = Path(checkpoints_dir)
    if not checkpoints_dir.is_dir():
        return []
    found = [p for p in checkpoints_dir.iterdir() if p.is_dir() and checkpoint_step(p) is not None]
    return sorted(found, key=checkpoint_step)


# ----------------------------------------------------------------------------------------------
# Saving
# ----------------------------------------------------------------------------------------------


def save_checkpoint(checkpoints_dir: Path, step: int, model_state: dict[str, torch.Tensor],
                    trainer_state: dict, cfg: Config, tokenizer_path: Path | None = None,
                    keep_last: int = 0) -> Path:
    """Single process: write checkpoint `step` atomically, point `latest` at it, prune.

    A multi-rank run calls the three phases itself, with barriers between them, so that every
    rank can add its shards (`Engine.save_sharded`) to the staging directory before it is
    committed.
    """
    staging = begin_checkpoint(checkpoints_dir, step)
    write_checkpoint_files(staging, step, model_state, trainer_state, cfg, tokenizer_path)
    return commit_checkpoint(staging, keep_last)


def staging_dir(checkpoints_dir: Path, step: int) -> Path:
    """The hidden directory checkpoint `step` is assembled in before it is renamed into place."""
    return Path(checkpoints_dir) / f".{step_dir_name(step)}.tmp"


def begin_checkpoint(checkpoints_dir: Path, step: int) -> Path:
    """Create an empty staging directory (removing one left by a crash); return it."""
    staging = staging_dir(checkpoints_dir, step)
    staging.parent.mkdir(parents=True, exist_ok=True)
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    return staging


def write_checkpoint_files(staging: Path, step: int, model_state: dict[str, torch.Tensor],
                           trainer_state: dict, cfg: Config,
                           tokenizer_path: Path | None = None) -> None:
    save_file(model_state, staging / MODEL_FILE, metadata={"format": "pt", "step": str(step)})
    torch.save(trainer_state, staging / STATE_FILE)
    save_config(cfg, staging / CONFIG_FILE)
    if tokenizer_path is not None:
        shutil.copyfile(tokenizer_path, staging / TOKENIZER_FILE)


def commit_checkpoint(staging: Path, keep_last: int = 0) -> Path:
    """Checksum every staged file, rename the directory into place, update `latest`, prune."""
    checksums = {p.relative_to(staging).as_posix(): sha256_file(p)
                 for p in sorted(staging.rglob("*")) if p.is_file()}
    (staging / CHECKSUMS_FILE).write_text(json.dumps(checksums, indent=2) + "\n")
    checkpoints_dir = staging.parent
    final = checkpoints_dir / staging.name[1:].removesuffix(".tmp")
    if final.exists():  # a stale checkpoint of this step, e.g. beyond a fallback point
        stale = checkpoints_dir / f".{final.name}.stale"
        shutil.rmtree(stale, ignore_errors=True)
        final.rename(stale)
        shutil.rmtree(stale)
    os.replace(staging, final)
    _write_atomic(checkpoints_dir / LATEST_FILE, final.name + "\n")
    if keep_last > 0:
        prune_checkpoints(checkpoints_dir, keep_last)
    return final


def prune_checkpoints(checkpoints_dir: Path, keep_last: int) -> list[Path]:
    """Delete all but the newest `keep_last` checkpoints (never the one `latest` names)."""
    latest = read_latest(checkpoints_dir)
    removed = []
    for path in list_checkpoints(checkpoints_dir)[:-keep_last]:
        if latest is not None and path.name == latest.name:
            continue
        shutil.rmtree(path)
        removed.append(path)
    return removed


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------


def read_latest(checkpoints_dir: Path) -> Path | None:
    """The directory `latest` names, or None when there is no pointer."""
    pointer = Path(checkpoints_dir) / LATEST_FILE
    if not pointer.is_file():
        return None
    return Path(checkpoints_dir) / pointer.read_text().strip()


def verify_checkpoint(path: Path) -> None:
    """Raise CheckpointError unless every file listed in checksums.json matches its sha256."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path}: checkpoint directory not found")
    sums_path = path / CHECKSUMS_FILE
    try:
        checksums = json.loads(sums_path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{sums_path}: missing; the checkpoint is incomplete") from None
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{sums_path}: not valid JSON ({err})") from None
    for required in (MODEL_FILE, STATE_FILE, CONFIG_FILE):
        if required not in checksums:
            raise CheckpointError(f"{sums_path}: lists no {required}; the checkpoint is incomplete")
    for name, expected in checksums.items():
        file = path / name
        if not file.is_file():
            raise CheckpointError(f"{file}: missing; the checkpoint is incomplete")
        actual = sha256_file(file)
        if actual != expected:
            raise CheckpointError(
                f"{file}: sha256 {actual[:12]}... does not match {expected[:12]}... recorded in "
                f"{CHECKSUMS_FILE}; the file is corrupt"
            )


def resolve_checkpoint_dir(path: Path) -> Path:
    """A global_step{N} directory from itself, a checkpoints/ directory or a run directory."""
    path = Path(path)
    if checkpoint_step(path) is not None:
        return path
    for checkpoints_dir in (path / "checkpoints", path):
        latest = read_latest(checkpoints_dir)
        if latest is not None:
            return latest
        found = list_checkpoints(checkpoints_dir)
        if found:
            return found[-1]
    raise CheckpointError(f"{path}: no checkpoint found (expected global_step<N>/ or checkpoints/)")


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Verify and load one global_step{N} directory."""
    path = Path(path)
    verify_checkpoint(path)
    model_state = load_file(path / MODEL_FILE, device=str(map_location))
    # NOTE: weights_only: the state holds tensors, numbers and strings only, and loading it must
    # never run code from a file someone handed us.
    try:
        trainer_state = torch.load(path / STATE_FILE, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{path / STATE_FILE}: holds objects other than tensors, numbers and strings, which "
            f"are never unpickled ({str(err).splitlines()[0]})"
        ) from None
    return Checkpoint(path=path, step=checkpoint_step(path), model_state=model_state,
                      trainer_state=trainer_state)


def load_latest_valid(checkpoints_dir: Path,
                      warn: Callable[[str], None] | None = None) -> Checkpoint:
    """Load the checkpoint `latest` names; if it fails verification, fall back to older ones.

    Every rejected checkpoint is reported through `warn` (default: `warnings.warn`) with the
    reason, so a silent fallback can never hide lost steps.
    """
    warn = warn or (lambda message: warnings.warn(message, stacklevel=2))
    checkpoints_dir = Path(checkpoints_dir)
    candidates = list(reversed(list_checkpoints(checkpoints_dir)))
    latest = read_latest(checkpoints_dir)
    if latest is not None:  # the pointer first, then everything older, newest first
        step = checkpoint_step(latest)
        candidates = [latest] + [p for p in candidates
                                 if p.name != latest.name and (step is None or checkpoint_step(p) < step)]
    if not candidates:
        raise CheckpointError(f"{checkpoints_dir}: no checkpoints to resume from")
    errors = []
    for path in candidates:
        try:
            checkpoint = load_checkpoint(path)
        except CheckpointError as err:
            errors.append(str(err))
            warn(f"skipping checkpoint {path.name}: {err}")
            continue
        if errors:
            warn(f"falling back to checkpoint {path.name}")
        return checkpoint
    raise CheckpointError(
        f"{checkpoints_dir}: no valid checkpoint; every candidate failed verification:\n  "
        + "\n  ".join(errors)
    )
