"""Replicated data parallelism with torch's DistributedDataParallel.

Every rank holds the whole model, gradients and optimizer state, runs its own share of the
global batch, and DDP averages the gradients over ranks during backward (bucketed all-reduces
that overlap with the rest of the backward pass). Memory per rank does not shrink with more
ranks; throughput grows.

Tensor-parallel weights are DTensors, which `DistributedDataParallel` cannot hold; for those,
`apply_replicate` does the same job with torch's FSDP2-based `replicate`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import MixedPrecisionPolicy
from torch.nn.parallel import DistributedDataParallel


def apply_ddp(model: nn.Module, mesh: DeviceMesh | None = None) -> DistributedDataParallel:
    """Wrap `model` in DDP over `mesh` (default: the whole world).

    The model must already sit on this rank's device. DDP broadcasts rank 0's parameters at
    construction, so every replica starts identical even if the ranks initialised differently.
    """
    device = next(model.parameters()).device
    device_ids = None if device.type == "cpu" else [device.index]
    group = mesh.get_group() if mesh is not None else None
    return DistributedDataParallel(model, device_ids=device_ids, process_group=group)


def apply_replicate(model: nn.Module, mesh: DeviceMesh,
                    param_dtype: torch.dtype = torch.float32) -> nn.Module:
    """Replicate `model` (DTensor weights allowed, meta device allowed) over the 1-D `mesh`.

    Each block is its own unit, so its gradients are all-reduced as soon as its backward ends;
    returns `model`, changed in place. NOTE: `replicate_with_fsdp` is torch's FSDP2-based DDP
    (what torchtitan uses for DDP), still under `_composable`.
    """
    from torch.distributed._composable.replicate_with_fsdp import replicate

    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32)
    for block in model.layers.values():
        replicate(block, mesh=mesh, mp_policy=policy)
    replicate(model, mesh=mesh, mp_policy=policy)
    return model
