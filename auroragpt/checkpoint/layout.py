"""The on-disk layout of a checkpoint: names, the `latest` pointer, checksums, commit, pruning.

    RUN_DIR/checkpoints/global_step{N}/
        config.yaml          the effective config of the run (data paths absolute)
        trainer_state.pt     step, data position, RNG states, optimizer state of unsharded
                             engines (tensors, numbers and strings only)
        model.safetensors    fp32 weights named as in Transformer.state_dict(): written by
                             unsharded engines, and by sharded ones only on request
                             (train.save_consolidated); otherwise made from the shards when
                             evaluating or exporting
        tokenizer.model      the sentencepiece model the run trained with (when it has one)
        distcp/              torch distributed checkpoint shards (FSDP, and any DTensor state)
        deepspeed/state/     DeepSpeed ZeRO shards
        checksums.json       sha256 of every other file, by relative path
    RUN_DIR/checkpoints/latest   one line: the name of the newest complete checkpoint

Each file is hashed once, by the rank that wrote it, right after writing it; rank 0 collects
the hashes into checksums.json, then renames the hidden staging directory into place and only
then rewrites `latest`, so a crash at any moment leaves the old or the new checkpoint, never a
half-written one. Every reader checks the same way (`verify_checkpoint`): each listed file
matches, and no file is there that the list does not name.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

CHECKPOINTS_DIR = "checkpoints"
MODEL_FILE = "model.safetensors"
STATE_FILE = "trainer_state.pt"
CONFIG_FILE = "config.yaml"
TOKENIZER_FILE = "tokenizer.model"
CHECKSUMS_FILE = "checksums.json"
LATEST_FILE = "latest"
TORCH_STATE_DIR = "distcp"
DEEPSPEED_STATE_DIR = "deepspeed"
DEEPSPEED_TAG = "state"  # DeepSpeed files one save under a tag; ours are one directory per step
_STEP_DIR = re.compile(r"global_step(\d+)")
_MAX_LATEST_BYTES = 256


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete, corrupt or unsafe; the message names the file."""


@dataclass(frozen=True)
class StepDir:
    """A complete checkpoint directory and the optimizer steps done when it was written."""

    step: int
    path: Path


def step_dir_name(step: int) -> str:
    return f"global_step{step}"


def checkpoint_step(path: str | Path) -> int | None:
    """N for a directory named global_step{N}, else None."""
    match = _STEP_DIR.fullmatch(Path(path).name)
    return int(match.group(1)) if match else None


def checkpoints_dir(directory: str | Path) -> Path:
    """RUN_DIR/checkpoints for a run directory; a checkpoints directory itself as it is."""
    directory = Path(directory)
    nested = directory / CHECKPOINTS_DIR
    return nested if nested.is_dir() or not directory.is_dir() else directory


def list_checkpoints(directory: str | Path) -> list[StepDir]:
    """Complete checkpoints of a run (run or checkpoints directory), oldest first.

    Checkpoints being written live in hidden staging directories, so every global_step{N}
    directory was renamed into place complete.
    """
    root = checkpoints_dir(directory)
    if not root.is_dir():
        return []
    found = [StepDir(checkpoint_step(p), p) for p in root.iterdir()
             if p.is_dir() and checkpoint_step(p) is not None]
    return sorted(found, key=lambda c: c.step)


def read_latest(directory: str | Path) -> Path | None:
    """The checkpoint directory `latest` names, or None when there is no pointer.

    `latest` must be one line naming a global_step{N} directory beside it: a pointer that is
    not text, or that names anything else (`../..`, an absolute path), is refused rather than
    followed into another run.
    """
    root = checkpoints_dir(directory)
    pointer = root / LATEST_FILE
    if not pointer.is_file():
        return None
    raw = pointer.read_bytes()[:_MAX_LATEST_BYTES + 1]
    try:
        name = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        name = None
    if name is None or len(raw) > _MAX_LATEST_BYTES or checkpoint_step(name) is None \
            or name != Path(name).name:
        shown = repr(raw[:40]) if name is None else repr(name[:60])
        raise CheckpointError(
            f"{pointer}: expected one line naming a global_step<N> directory beside it, found "
            f"{shown}; fix or delete the file"
        )
    return root / name


def is_checkpoint_dir(path: Path) -> bool:
    """A single checkpoint (ours, or one written by import-hf), not a run directory."""
    return (path / CHECKSUMS_FILE).is_file() or (
        (path / CONFIG_FILE).is_file() and not (path / CHECKPOINTS_DIR).is_dir())


def resolve_checkpoint(path: str | Path, step: int | None = None) -> Path:
    """The checkpoint directory for `step` (None: the newest) of a run directory, a checkpoints
    directory, or a checkpoint directory itself."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: not found")
    if is_checkpoint_dir(path):
        own = checkpoint_step(path)
        if step is not None and own != step:
            raise CheckpointError(f"{path} is a single checkpoint, not step {step}")
        return path
    found = list_checkpoints(path)
    if not found:
        raise CheckpointError(
            f"{path}: no checkpoint found (expected a global_step<N>/ checkpoint or a run "
            f"directory with {CHECKPOINTS_DIR}/global_step<N>/)")
    if step is None:
        latest = read_latest(path)
        return latest if latest is not None and latest.is_dir() else found[-1].path
    for ckpt in found:
        if ckpt.step == step:
            return ckpt.path
    steps = ", ".join(str(c.step) for c in found)
    raise CheckpointError(f"{checkpoints_dir(path)}: no checkpoint for step {step} (have {steps})")


# ----------------------------------------------------------------------------------------------
# Checksums
# ----------------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hash_written(root: Path, *paths: Path) -> dict[str, str]:
    """{path relative to the checkpoint root: sha256} for files this rank has just written."""
    return {Path(p).relative_to(root).as_posix(): sha256_file(Path(p)) for p in paths}


def write_checksums(directory: Path) -> None:
    """Seal a checkpoint one process wrote whole (import-hf): hash every file in it."""
    directory = Path(directory)
    checksums = hash_written(directory, *(directory / name for name in checkpoint_files(directory)))
    write_atomic(directory / CHECKSUMS_FILE, json.dumps(checksums, indent=2) + "\n")


def read_checksums(path: Path) -> dict[str, str]:
    sums_path = path / CHECKSUMS_FILE
    try:
        checksums = json.loads(sums_path.read_text())
    except FileNotFoundError:
        raise CheckpointError(
            f"{sums_path}: missing; the checkpoint is incomplete (or was not written by "
            "auroragpt)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{sums_path}: not valid JSON ({err})") from None
    if not isinstance(checksums, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in checksums.items()):
        raise CheckpointError(f"{sums_path}: expected an object of file name -> sha256")
    return checksums


def checkpoint_files(path: Path) -> list[str]:
    """Every file under a checkpoint directory but checksums.json, relative, sorted."""
    names = (p.relative_to(path).as_posix() for p in path.rglob("*")
             if p.is_file() or p.is_symlink())
    return sorted(name for name in names if name != CHECKSUMS_FILE)


def verify_checkpoint(path: str | Path, rank: int = 0, world_size: int = 1) -> None:
    """Raise CheckpointError unless the checkpoint in `path` is complete and intact.

    Every file must be listed in checksums.json with its sha256 and every listed file must be
    there. With `world_size` > 1 each rank hashes only every world_size-th file (the caller
    combines the verdicts), so a resume reads each file once in all, not once per rank.
    """
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path}: checkpoint directory not found")
    checksums = read_checksums(path)
    if CONFIG_FILE not in checksums:
        raise CheckpointError(f"{path / CHECKSUMS_FILE}: lists no {CONFIG_FILE}; the checkpoint "
                              "is incomplete")
    present = checkpoint_files(path)
    unlisted = sorted(set(present) - set(checksums))
    if unlisted:
        raise CheckpointError(
            f"{path / unlisted[0]}: not listed in {CHECKSUMS_FILE}; a checkpoint holds only "
            f"the files it was written with ({len(unlisted)} unlisted)")
    for i, name in enumerate(sorted(checksums)):
        file = path / name
        if not file.is_file() or file.is_symlink():
            raise CheckpointError(f"{file}: missing; the checkpoint is incomplete")
        if i % world_size != rank:
            continue
        actual = sha256_file(file)
        if actual != checksums[name]:
            raise CheckpointError(
                f"{file}: sha256 {actual[:12]}... does not match {checksums[name][:12]}... "
                f"recorded in {CHECKSUMS_FILE}; the file is corrupt")


# ----------------------------------------------------------------------------------------------
# Writing: stage, commit, prune
# ----------------------------------------------------------------------------------------------


def staging_dir(root: Path, step: int) -> Path:
    """The hidden directory checkpoint `step` is assembled in before it is renamed into place."""
    return Path(root) / f".{step_dir_name(step)}.tmp"


def begin_checkpoint(root: Path, step: int) -> Path:
    """Create an empty staging directory (removing one left by a crash); return it."""
    staging = staging_dir(root, step)
    staging.parent.mkdir(parents=True, exist_ok=True)
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    return staging


def abandon_checkpoint(staging: Path) -> None:
    """Remove a staging directory after a failed save (the previous checkpoint stays)."""
    shutil.rmtree(staging, ignore_errors=True)


def commit_checkpoint(staging: Path, checksums: dict[str, str], keep_last: int = 0) -> Path:
    """Write checksums.json (the hashes the writing ranks recorded), rename the staging
    directory into place, point `latest` at it, prune to `keep_last` (0: keep all)."""
    unhashed = sorted(set(checkpoint_files(staging)) - set(checksums))
    if unhashed:  # a writer that forgot to report its files would make the checkpoint unreadable
        raise CheckpointError(f"{staging / unhashed[0]}: written without a recorded checksum")
    write_atomic(staging / CHECKSUMS_FILE, json.dumps(dict(sorted(checksums.items())), indent=2)
                 + "\n")
    root = staging.parent
    final = root / staging.name[1:].removesuffix(".tmp")
    if final.exists():  # a stale checkpoint of this step, e.g. beyond a fallback point
        stale = root / f".{final.name}.stale"
        shutil.rmtree(stale, ignore_errors=True)
        final.rename(stale)
        shutil.rmtree(stale)
    os.replace(staging, final)
    write_atomic(root / LATEST_FILE, final.name + "\n")
    if keep_last > 0:
        prune_checkpoints(root, keep_last)
    return final


def prune_checkpoints(root: Path, keep_last: int) -> list[Path]:
    """Delete all but the newest `keep_last` checkpoints (never the one `latest` names)."""
    latest = read_latest(root)
    removed = []
    for ckpt in list_checkpoints(root)[:-keep_last]:
        if latest is not None and ckpt.path.name == latest.name:
            continue
        shutil.rmtree(ckpt.path)
        removed.append(ckpt.path)
    return removed


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
