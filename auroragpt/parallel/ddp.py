"""Replicated data parallelism with torch's DistributedDataParallel.

Every rank holds the whole model, gradients and optimizer state, runs its own share of the
global batch, and DDP averages the gradients over ranks during backward (bucketed all-reduces
that overlap with the rest of the backward pass). Memory per rank does not shrink with more
ranks; throughput grows.
"""

from __future__ import annotations

from torch import nn
from torch.distributed.device_mesh import DeviceMesh
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
