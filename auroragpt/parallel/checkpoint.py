"""Checkpoints of sharded strategies: shards to resume from, full weights to share.

A checkpoint directory (`global_step{N}/`, see `auroragpt.train.checkpoint`) always holds
`model.safetensors`: every weight, fp32, named exactly as in `Transformer.state_dict()`, so
evaluation and export never need to know how the run was sharded. The functions here gather
those full weights from the shards (`*_full_state_dict`), and save and restore the resumable
model + optimizer state in each strategy's own sharded format:

- `distcp/`: a torch distributed checkpoint (FSDP);
- `deepspeed/`: DeepSpeed's ZeRO checkpoint (zero1, zero2, zero3).

Both resume at a different world size. A torch distributed checkpoint stores each tensor with
its global shape and offsets, so any sharding can read it. A DeepSpeed checkpoint stores flat
per-rank partitions; when the number of data-parallel ranks changed, it is converted with
DeepSpeed's own universal-checkpoint tool and loaded from that.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

TORCH_STATE_DIR = "distcp"
DEEPSPEED_STATE_DIR = "deepspeed"
# DeepSpeed files one save under a tag (a subfolder); ours are already one directory per step.
DEEPSPEED_TAG = "state"


def _rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


# ----------------------------------------------------------------------------------------------
# Consolidated weights
# ----------------------------------------------------------------------------------------------


def torch_full_state_dict(module: nn.Module) -> dict[str, torch.Tensor] | None:
    """Collective: the full state dict of an FSDP (or plain) model on rank 0, on the CPU."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    state = get_model_state_dict(
        module, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
    )
    return state if _rank() == 0 else None


def load_torch_full_state_dict(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load full weights (present on every rank) into a plain, DDP or FSDP model."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    set_model_state_dict(module, state, options=StateDictOptions(full_state_dict=True))


def deepspeed_full_state_dict(ds_engine) -> dict[str, torch.Tensor] | None:
    """Collective: the fp32 master weights of a ZeRO engine, gathered one tensor at a time.

    NOTE: under bf16 the module holds bf16 copies; `safe_get_full_fp32_param` assembles the
    fp32 master partitions the optimizer updates, which is what a resumed run would use.
    Gathering one parameter at a time keeps the peak at one full tensor per rank.
    """
    from deepspeed.utils import safe_get_full_fp32_param

    module = ds_engine.module
    params = dict(module.named_parameters(remove_duplicate=False))
    buffers = dict(module.named_buffers())
    full: dict[str, torch.Tensor] = {}
    for name in module.state_dict():
        if name in params:
            tensor = safe_get_full_fp32_param(params[name])
        else:
            tensor = buffers[name]
        if _rank() == 0:
            full[name] = tensor.detach().to("cpu", torch.float32).clone()
    return full if _rank() == 0 else None


def load_deepspeed_full_state_dict(ds_engine, state: dict[str, torch.Tensor]) -> None:
    """Load full weights (present on every rank) into a ZeRO engine: the module's copy (its
    partition, under ZeRO-3) and the optimizer's fp32 master partition alike."""
    import deepspeed
    from deepspeed.utils import safe_set_full_fp32_param

    for name, param in ds_engine.module.named_parameters():
        value = state[name]
        with deepspeed.zero.GatheredParameters([param], modifier_rank=0):
            param.data.copy_(value)  # ZeRO-3 re-partitions rank 0's copy on exit
        safe_set_full_fp32_param(param, value.to(param.device, torch.float32))


# ----------------------------------------------------------------------------------------------
# Resumable state: torch distributed checkpoint (fsdp)
# ----------------------------------------------------------------------------------------------


def save_torch_state(module: nn.Module, optimizer: torch.optim.Optimizer, directory: Path) -> None:
    """Collective: model and optimizer state as a torch distributed checkpoint.

    Keys are parameter names (not optimizer indices) and tensors are saved with their global
    shapes, so the checkpoint loads under any number of ranks. Each rank writes its own shards
    into `directory/distcp/`; `directory` is the trainer's staging directory, renamed into
    place only once every rank has written.
    """
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    model_state, optim_state = get_state_dict(module, optimizer)
    dcp.save({"model": model_state, "optim": optim_state},
             checkpoint_id=str(directory / TORCH_STATE_DIR))


def load_torch_state(module: nn.Module, optimizer: torch.optim.Optimizer, directory: Path) -> None:
    """Collective: restore what `save_torch_state` wrote, resharding to this run's layout."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    source = directory / TORCH_STATE_DIR
    if not source.is_dir():
        raise FileNotFoundError(
            f"{source}: no torch distributed checkpoint here; was this run saved under another "
            "strategy? An fsdp run resumes from an fsdp checkpoint only"
        )
    # get_state_dict gives tensors in this run's layout; dcp.load fills them in place.
    model_state, optim_state = get_state_dict(module, optimizer)
    state = {"model": model_state, "optim": optim_state}
    dcp.load(state, checkpoint_id=str(source))
    set_state_dict(module, optimizer, model_state_dict=state["model"],
                   optim_state_dict=state["optim"])


# ----------------------------------------------------------------------------------------------
# Resumable state: DeepSpeed ZeRO checkpoint (zero1, zero2, zero3)
# ----------------------------------------------------------------------------------------------


def save_deepspeed_state(ds_engine, directory: Path) -> None:
    """Collective: DeepSpeed's own ZeRO checkpoint under `directory/deepspeed/state/`."""
    from deepspeed.checkpoint.constants import (
        UNIVERSAL_CHECKPOINT_INFO,
        UNIVERSAL_CHECKPOINT_VERSION_KEY,
        UNIVERSAL_CHECKPOINT_VERSION_VALUE,
    )

    # The universal-checkpoint converter refuses checkpoints that lack this marker.
    client_state = {
        UNIVERSAL_CHECKPOINT_INFO: {UNIVERSAL_CHECKPOINT_VERSION_KEY: UNIVERSAL_CHECKPOINT_VERSION_VALUE}
    }
    ds_engine.save_checkpoint(str(directory / DEEPSPEED_STATE_DIR), tag=DEEPSPEED_TAG,
                              client_state=client_state, save_latest=False)
    _barrier()


def saved_dp_world_size(directory: Path) -> int:
    """Data-parallel ranks of the run that wrote the DeepSpeed checkpoint in `directory`."""
    files = list((directory / DEEPSPEED_STATE_DIR / DEEPSPEED_TAG).glob("*zero_pp_rank_*_optim_states.pt"))
    if not files:
        raise FileNotFoundError(
            f"{directory / DEEPSPEED_STATE_DIR / DEEPSPEED_TAG}: no DeepSpeed ZeRO checkpoint "
            "here; was this run saved under another strategy? A zero1/2/3 run resumes from a "
            "zero1/2/3 checkpoint only"
        )
    return len(files)


def load_deepspeed_state(ds_engine, directory: Path) -> None:
    """Collective: restore a ZeRO checkpoint, through a universal checkpoint if dp changed."""
    saved_dp = saved_dp_world_size(directory)
    source = directory / DEEPSPEED_STATE_DIR
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
        raise RuntimeError(f"{load_dir / tag}: DeepSpeed could not load this checkpoint")


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
