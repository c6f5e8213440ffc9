"""Full fp32 weights from a sharded checkpoint, for checkpoints without `model.safetensors`.

`auroragpt train` writes a consolidated `model.safetensors` into every checkpoint whatever the
strategy, so this is the fallback for directories that only hold the sharded resume state:

- a torch distributed checkpoint (`.metadata` + `*.distcp`; ours live in `distcp/`), as FSDP,
  DDP or plain runs save it, under any number of ranks. Only the model's tensors are read:
  each is allocated at its global shape and filled by `torch.distributed.checkpoint.load`,
  which assembles the shards, in one process;
- a DeepSpeed ZeRO checkpoint (`*_model_states.pt` + `*_optim_states.pt` under a tag folder;
  ours: `deepspeed/state/`, Megatron-DeepSpeed's: `global_stepN/` itself). The fp32 master
  weights are rebuilt from the optimizer partitions with DeepSpeed's own `zero_to_fp32`.

Names are matched to `Transformer.state_dict()` of the checkpoint's config (a `model.` or
`module.` prefix, as the saving wrapper left it, is removed).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from auroragpt.config import ModelConfig
from auroragpt.model import Transformer

_DCP_METADATA = ".metadata"
_DS_MODEL_STATES = "*model_states.pt"
_PREFIXES = ("", "model.", "module.", "model.module.")


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


def consolidate(ckpt_dir: str | Path, cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """The model's full fp32 state dict, assembled from the shards under `ckpt_dir`."""
    found = find_sharded(ckpt_dir)
    if found is None:
        raise FileNotFoundError(
            f"{ckpt_dir}: no model.safetensors and no sharded checkpoint (torch distributed "
            "checkpoint .distcp files or DeepSpeed *_model_states.pt) at or below it"
        )
    kind, directory = found
    with torch.device("meta"):
        expected = list(Transformer(cfg).state_dict())
    state = _read_dcp(directory, expected) if kind == "dcp" else _read_deepspeed(directory)
    return {name: tensor.float().contiguous() for name, tensor in _strip_prefix(state, expected)}


def _read_dcp(directory: Path, expected: list[str]) -> dict[str, torch.Tensor]:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.metadata import TensorStorageMetadata

    reader = dcp.FileSystemReader(str(directory))
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
        dcp.load(wanted, storage_reader=reader, no_dist=True)
    return wanted


def _read_deepspeed(directory: Path) -> dict[str, torch.Tensor]:
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

    return get_fp32_state_dict_from_zero_checkpoint(str(directory.parent), tag=directory.name)


def _best_prefix(keys, expected: list[str]) -> str:
    """The wrapper prefix under which most expected names are found."""
    return max(_PREFIXES, key=lambda prefix: sum(prefix + name in keys for name in expected))


def _strip_prefix(state: dict[str, torch.Tensor], expected: list[str]):
    prefix = _best_prefix(state, expected)
    for key, tensor in state.items():
        if key.startswith(prefix) and key[len(prefix):] in expected:
            yield key[len(prefix):], tensor
