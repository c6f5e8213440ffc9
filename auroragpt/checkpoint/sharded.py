"""Sharded, resumable state: each rank writes its own shards once and reads only shards.

- `save_state` / `load_state`: any state dict of tensors and DTensors (FSDP shards, and the
  tensor- and pipeline-parallel state that plugs in the same way) as a torch distributed
  checkpoint in `distcp/`. Tensors are stored with their global shapes and offsets, so a run
  resumes under any number of ranks and any sharding of the same tensors.
- `save_deepspeed_state` / `load_deepspeed_state`: DeepSpeed's ZeRO checkpoint in
  `deepspeed/state/`; when the number of data-parallel ranks changed it is converted with
  DeepSpeed's universal-checkpoint tool and loaded from that.

Every save returns {relative path: sha256} of the files this rank wrote, for checksums.json.
Every load reads through `auroragpt.checkpoint.safe_load`, so no file can run code.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint import FileSystemWriter

from auroragpt.checkpoint.layout import (
    DEEPSPEED_STATE_DIR,
    DEEPSPEED_TAG,
    TORCH_STATE_DIR,
    CheckpointError,
    hash_written,
)
from auroragpt.checkpoint.safe_load import (
    SafeFileSystemReader,
    SafeLoadPlanner,
    check_torch_files,
    dcp_errors,
    read_dcp_metadata,
)


def _rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


# ----------------------------------------------------------------------------------------------
# Torch distributed checkpoint (fsdp; any DTensor state)
# ----------------------------------------------------------------------------------------------


class _HashingWriter(FileSystemWriter):
    """DCP's file writer that hashes the files this rank wrote (and, on the coordinator, the
    metadata) as soon as they are complete."""

    def __init__(self, path: Path, root: Path):
        super().__init__(str(path))
        self.root = root
        self.checksums: dict[str, str] = {}

    def write_data(self, plan, planner):
        future = super().write_data(plan, planner)
        files = {result.storage_data.relative_path for result in future.wait()}
        self.checksums.update(hash_written(self.root, *(Path(self.path) / f for f in files)))
        return future

    def finish(self, metadata, results) -> None:
        super().finish(metadata, results)
        self.checksums.update(hash_written(self.root, Path(self.path) / ".metadata"))


def save_state(state: dict, directory: Path) -> dict[str, str]:
    """Collective: write `state` into `directory/distcp/`; {file: sha256} of this rank's files."""
    import torch.distributed.checkpoint as dcp

    writer = _HashingWriter(Path(directory) / TORCH_STATE_DIR, Path(directory))
    dcp.save(state, storage_writer=writer, no_dist=not dist.is_initialized())
    return writer.checksums


def load_state(state: dict, directory: Path) -> None:
    """Collective: fill `state` (this run's tensors, any sharding) in place from `save_state`."""
    import torch.distributed.checkpoint as dcp

    source = Path(directory) / TORCH_STATE_DIR
    if not source.is_dir():
        raise CheckpointError(
            f"{source}: no torch distributed checkpoint here; was this run saved under another "
            "strategy? An fsdp run resumes from an fsdp checkpoint only")
    read_dcp_metadata(source / ".metadata")  # a clear error before DCP's collective wrapping
    with dcp_errors(source):
        dcp.load(state, storage_reader=SafeFileSystemReader(str(source)),
                 planner=SafeLoadPlanner(), no_dist=not dist.is_initialized())


def save_torch_state(module: nn.Module, optimizer: torch.optim.Optimizer,
                     directory: Path) -> dict[str, str]:
    """Collective: model and optimizer state, keyed by parameter names (not optimizer indices)."""
    from torch.distributed.checkpoint.state_dict import get_state_dict

    model_state, optim_state = get_state_dict(module, optimizer)
    return save_state({"model": model_state, "optim": optim_state}, directory)


def load_torch_state(module: nn.Module, optimizer: torch.optim.Optimizer, directory: Path) -> None:
    """Collective: restore what `save_torch_state` wrote, resharding to this run's layout."""
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    # get_state_dict gives tensors in this run's layout; load_state fills them in place.
    model_state, optim_state = get_state_dict(module, optimizer)
    state = {"model": model_state, "optim": optim_state}
    load_state(state, directory)
    set_state_dict(module, optimizer, model_state_dict=state["model"],
                   optim_state_dict=state["optim"])


# ----------------------------------------------------------------------------------------------
# DeepSpeed ZeRO checkpoint (zero1, zero2, zero3)
# ----------------------------------------------------------------------------------------------


class _HashingCheckpointEngine:
    """Wraps DeepSpeed's checkpoint engine: hashes each file it saves, checks each it loads."""

    def __init__(self, inner, root: Path):
        self.inner, self.root = inner, root
        self.checksums: dict[str, str] = {}

    def save(self, state_dict, path):
        result = self.inner.save(state_dict, path)
        self.checksums.update(hash_written(self.root, Path(path)))
        return result

    def __getattr__(self, name):
        return getattr(self.inner, name)


def save_deepspeed_state(ds_engine, directory: Path) -> dict[str, str]:
    """Collective: DeepSpeed's ZeRO checkpoint under `directory/deepspeed/state/`."""
    from deepspeed.checkpoint.constants import (
        UNIVERSAL_CHECKPOINT_INFO,
        UNIVERSAL_CHECKPOINT_VERSION_KEY,
        UNIVERSAL_CHECKPOINT_VERSION_VALUE,
    )

    # The universal-checkpoint converter refuses checkpoints that lack this marker.
    client_state = {
        UNIVERSAL_CHECKPOINT_INFO: {UNIVERSAL_CHECKPOINT_VERSION_KEY: UNIVERSAL_CHECKPOINT_VERSION_VALUE}
    }
    recorder = _HashingCheckpointEngine(ds_engine.checkpoint_engine, Path(directory))
    ds_engine.checkpoint_engine = recorder
    try:
        ds_engine.save_checkpoint(str(directory / DEEPSPEED_STATE_DIR), tag=DEEPSPEED_TAG,
                                  client_state=client_state, save_latest=False)
    finally:
        ds_engine.checkpoint_engine = recorder.inner
    if _rank() == 0:  # what rank 0 copies in itself, not through the engine (zero_to_fp32.py)
        extra = [p for p in (directory / DEEPSPEED_STATE_DIR).rglob("*")
                 if p.is_file() and p.suffix != ".pt"]
        recorder.checksums.update(hash_written(directory, *extra))
    _barrier()
    return recorder.checksums


def saved_dp_world_size(directory: Path) -> int:
    """Data-parallel ranks of the run that wrote the DeepSpeed checkpoint in `directory`."""
    files = list((directory / DEEPSPEED_STATE_DIR / DEEPSPEED_TAG).glob("*zero_pp_rank_*_optim_states.pt"))
    if not files:
        raise CheckpointError(
            f"{directory / DEEPSPEED_STATE_DIR / DEEPSPEED_TAG}: no DeepSpeed ZeRO checkpoint "
            "here; was this run saved under another strategy? A zero1/2/3 run resumes from a "
            "zero1/2/3 checkpoint only")
    return len(files)


def load_deepspeed_state(ds_engine, directory: Path) -> None:
    """Collective: restore a ZeRO checkpoint, through a universal checkpoint if dp changed."""
    saved_dp = saved_dp_world_size(directory)
    source = directory / DEEPSPEED_STATE_DIR
    # NOTE: DeepSpeed unpickles its files without restriction; read them safely first.
    check_torch_files(source / DEEPSPEED_TAG)
    if saved_dp == ds_engine.dp_world_size:
        _load_deepspeed(ds_engine, source, DEEPSPEED_TAG)
        return
    universal = directory.parent / f".{directory.name}.universal"
    if _rank() == 0:
        _convert_to_universal(source / DEEPSPEED_TAG, universal / DEEPSPEED_TAG)
    _barrier()
    # NOTE: DeepSpeed reads this switch from its config at load time only; setting it here
    # spares every run from knowing at start-up whether it will resume at another world size.
    ds_engine._config.load_universal_checkpoint = True
    hyperparameters = [{k: v for k, v in group.items() if k != "params"}
                       for group in ds_engine.optimizer.param_groups]
    try:
        _load_deepspeed(ds_engine, universal, DEEPSPEED_TAG)
        _repair_universal_load(ds_engine.optimizer, hyperparameters)
    finally:
        ds_engine._config.load_universal_checkpoint = False
        _barrier()
        if _rank() == 0:
            shutil.rmtree(universal, ignore_errors=True)


def _repair_universal_load(zero_optimizer, hyperparameters: list[dict]) -> None:
    """Undo two side effects of DeepSpeed's ZeRO-3 universal-checkpoint loader.

    It copies the first parameter group's hyperparameters into every group (which would give
    norms and embeddings weight decay): this run's own, identical to the saved run's, are put
    back. And it gives every group the same `step` tensor object, which AdamW increments in
    place once per group and step, so later groups would see a wrong bias correction: each
    group gets its own copy.
    """
    for group, saved in zip(zero_optimizer.param_groups, hyperparameters, strict=True):
        group.update(saved)
    for state in zero_optimizer.optimizer.state.values():
        if isinstance(state.get("step"), torch.Tensor):
            state["step"] = state["step"].clone()


def _load_deepspeed(ds_engine, load_dir: Path, tag: str) -> None:
    path, _ = ds_engine.load_checkpoint(str(load_dir), tag=tag, load_optimizer_states=True,
                                        load_lr_scheduler_states=False)
    if path is None:
        raise CheckpointError(f"{load_dir / tag}: DeepSpeed could not load this checkpoint")


def _convert_to_universal(source: Path, target: Path) -> None:
    """DeepSpeed's ds_to_universal conversion, run in this process, written atomically."""
    from argparse import Namespace

    from deepspeed.checkpoint.ds_to_universal import main as ds_to_universal

    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    ds_to_universal(Namespace(input_folder=str(source), output_folder=str(tmp),
                              num_extract_workers=1, num_merge_workers=1,
                              keep_temp_folder=False, strict=True, inject_missing_state=False))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
