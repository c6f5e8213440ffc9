"""Fully sharded data parallelism with FSDP2 (`torch.distributed.fsdp.fully_shard`).

Each parameter is split along its first dimension over the `dp_shard` ranks and stored as a
DTensor shard, so parameters, gradients and AdamW state all take 1/N of the memory per rank.
Each transformer block is its own FSDP unit: its full weights are all-gathered just before its
forward (and again for backward) and freed right after, and its gradients are reduce-scattered
as soon as they are ready. The root unit holds what is left (embeddings, final norm, output).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard


def apply_fsdp(model: nn.Module, mesh: DeviceMesh, param_dtype: torch.dtype = torch.float32,
               reduce_dtype: torch.dtype = torch.float32) -> nn.Module:
    """Shard `model` in place over the 1-D data-parallel `mesh`; returns the same module.

    `param_dtype` is the compute dtype the gathered weights are cast to (bf16 halves the
    all-gather traffic); the sharded master weights and the optimizer state stay fp32, and
    gradients are reduced in `reduce_dtype` (keep fp32 so averaging over many ranks does not
    lose precision).
    """
    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=reduce_dtype)
    blocks = list(model.layers.values())
    for i, block in enumerate(blocks):
        # NOTE: the last block's weights are needed again at the start of backward, so keeping
        # them gathered after its forward saves one all-gather per step.
        fully_shard(block, mesh=mesh, mp_policy=policy,
                    reshard_after_forward=i < len(blocks) - 1)
    fully_shard(model, mesh=mesh, mp_policy=policy)
    return model
