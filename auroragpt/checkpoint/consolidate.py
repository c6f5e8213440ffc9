"""Full fp32 weights, named as in `Transformer.state_dict()`, from sharded models and shards.

Made on request only (evaluation, `export-hf`, `train.save_consolidated`), never on the way to
resuming, which reads shards alone:

- in memory, collectively, from a live sharded model (`torch_full_state_dict`,
  `deepspeed_full_state_dict`), and loaded back into one (`load_*_full_state_dict`);
- from disk, in one process, from a checkpoint that holds only shards (`consolidate`):
  a torch distributed checkpoint (`.metadata` + `*.distcp`; ours live in `distcp/`), where each
  model tensor is allocated at its global shape and filled by DCP, which assembles the shards;
  or a DeepSpeed ZeRO checkpoint (`*_model_states.pt` + `*_optim_states.pt` under a tag folder;
  ours: `deepspeed/state/`, Megatron-DeepSpeed's: `global_stepN/` itself), whose fp32 master
  weights DeepSpeed's own `zero_to_fp32` rebuilds from the optimizer partitions. Both read
  through `auroragpt.checkpoint.safe_load`.

Names are matched to the model's (a `model.` or `module.` prefix, as the saving wrapper left
it, is removed).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from auroragpt.checkpoint.layout import CheckpointError
from auroragpt.checkpoint.safe_load import (
    SafeFileSystemReader,
    SafeLoadPlanner,
    check_torch_files,
    dcp_errors,
)

_DCP_METADATA = ".metadata"
_DS_MODEL_STATES = "*model_states.pt"
_PREFIXES = ("", "model.", "module.", "model.module.")


def _rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


# ----------------------------------------------------------------------------------------------
# In memory, from a live sharded model
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
# From disk, in one process
# ----------------------------------------------------------------------------------------------


def find_sharded(ckpt_dir: str | Path) -> tuple[str, Path] | None:
    """("dcp" | "deepspeed", directory holding the shards) found at or below `ckpt_dir`.

    Looks in the directory itself and two levels below (`distcp/`, `deepspeed/<tag>/`).
    """
    ckpt_dir = Path(ckpt_dir)
    candidates = [ckpt_dir, *sorted(p for p in ckpt_dir.glob("*") if p.is_dir()),
                  *sorted(p for p in ckpt_dir.glob("*/*") if p.is_dir())]
    for directory in candidates:
        if (directory / _DCP_METADATA).is_file() and any(directory.glob("*.distcp")):
            return "dcp", directory
        if any(directory.glob(_DS_MODEL_STATES)):
            return "deepspeed", directory
    return None


def consolidate(ckpt_dir: str | Path, expected: list[str]) -> dict[str, torch.Tensor]:
    """The model's full fp32 state dict (names `expected`), assembled from the shards under
    `ckpt_dir`. The caller has verified the checkpoint's checksums."""
    found = find_sharded(ckpt_dir)
    if found is None:
        raise CheckpointError(
            f"{ckpt_dir}: no model.safetensors and no sharded checkpoint (torch distributed "
            "checkpoint .distcp files or DeepSpeed *_model_states.pt) at or below it")
    kind, directory = found
    state = _read_dcp(directory, expected) if kind == "dcp" else _read_deepspeed(directory)
    return {name: tensor.float().contiguous() for name, tensor in _strip_prefix(state, expected)}


def _read_dcp(directory: Path, expected: list[str]) -> dict[str, torch.Tensor]:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.metadata import TensorStorageMetadata

    reader = SafeFileSystemReader(str(directory))
    tensors = {key: meta for key, meta in reader.read_metadata().state_dict_metadata.items()
               if isinstance(meta, TensorStorageMetadata)}
    prefix = _best_prefix(tensors, expected)
    # NOTE: `dcp.load` nests on "." itself, so a flat dict of full keys is what it expects;
    # only these keys are read, never the optimizer's.
    wanted = {prefix + name: torch.empty(tensors[prefix + name].size,
                                         dtype=tensors[prefix + name].properties.dtype)
              for name in expected if prefix + name in tensors}
    with warnings.catch_warnings():  # "assuming ... a single process": yes, deliberately
        warnings.filterwarnings("ignore", message=".*single process", category=UserWarning)
        with dcp_errors(directory):
            dcp.load(wanted, storage_reader=reader, planner=SafeLoadPlanner(), no_dist=True)
    return wanted


def _read_deepspeed(directory: Path) -> dict[str, torch.Tensor]:
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

    # NOTE: zero_to_fp32 unpickles without restriction; every file is read safely first.
    check_torch_files(directory)
    return get_fp32_state_dict_from_zero_checkpoint(str(directory.parent), tag=directory.name)


def _best_prefix(keys, expected: list[str]) -> str:
    """The wrapper prefix under which most expected names are found."""
    return max(_PREFIXES, key=lambda prefix: sum(prefix + name in keys for name in expected))


def _strip_prefix(state: dict[str, torch.Tensor], expected: list[str]):
    prefix = _best_prefix(state, expected)
    for key, tensor in state.items():
        if key.startswith(prefix) and key[len(prefix):] in expected:
            yield key[len(prefix):], tensor
