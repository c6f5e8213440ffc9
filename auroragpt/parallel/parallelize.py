"""`parallelize(model, dims, cfg)`: every parallel transformation, applied in one fixed order.

The model file knows nothing of parallelism; this function takes a built `Transformer` and
rewrites it for the run's strategy. The order matters and is fixed:

1. tensor parallelism first, because it replaces weights by DTensors split inside one layer
   and every later step must see those;
2. data parallelism last, because FSDP shards whatever parameters it finds (plain or
   tensor-parallel) and DDP must register hooks on the final parameters.

ZeRO strategies leave the module untouched here: DeepSpeed partitions it inside
`deepspeed.initialize` (see `zero.py`), which also needs the optimizer.
"""

from __future__ import annotations

import torch
from torch import nn

from auroragpt.config import Config, ConfigError
from auroragpt.parallel.ddp import apply_ddp
from auroragpt.parallel.dims import ParallelDims, resolve_strategy
from auroragpt.parallel.fsdp import apply_fsdp


def parallelize(model: nn.Module, dims: ParallelDims, cfg: Config,
                compute_dtype: torch.dtype = torch.float32) -> nn.Module:
    """Apply `cfg.parallel` to `model` (already on this rank's device); returns the module to run.

    For `ddp` the result wraps `model` (reach the original as `.module`); for `fsdp` it is
    `model` itself, sharded in place, gathering its weights in `compute_dtype` for each layer's
    forward; for `single` and the ZeRO strategies it is `model` unchanged. Needs an initialised
    process group when `dims.world_size > 1` or the strategy shards.
    """
    strategy = resolve_strategy(cfg.parallel.strategy, dims.world_size)
    device = next(model.parameters()).device

    # 1. Tensor / pipeline / context parallelism.
    if dims.tp > 1 or dims.pp > 1 or dims.cp > 1:
        raise ConfigError(
            f"parallel.tp={dims.tp}, parallel.pp={dims.pp}, cp={dims.cp}: this version "
            "implements data parallelism only (ddp, fsdp, zero1-3); set them to 1"
        )

    # 2. Data parallelism.
    if strategy == "fsdp":
        mesh = dims.build_mesh(device.type)
        return apply_fsdp(model, mesh["dp_shard"], param_dtype=compute_dtype)
    if strategy == "ddp":
        return apply_ddp(model)
    return model
