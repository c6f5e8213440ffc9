"""Measure the bytes of training state one rank really holds.

Sharding claims ("ZeRO-3 stores 1/N of everything per rank") are checked by measurement, not
by formula: starting from a root object (a training engine), every tensor reachable through Python attributes,
containers, parameter gradients and tensor-subclass internals (DTensor shards, DeepSpeed's
partition attributes) is found, and the storages behind them are summed once each. What the
engine keeps alive between steps is counted: parameters, gradients, optimizer state, master
copies, communication buckets; activations are not (they do not outlive a step).
"""

from __future__ import annotations

import gc
import types

import torch

# Objects whose references lead out of the engine into the whole interpreter (a function's
# globals, a module's namespace, a class's methods), never to training state.
_OPAQUE = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type,
           types.CodeType, types.FrameType, str, bytes, int, float)


def tensor_storage_bytes(*roots: object) -> int:
    """Bytes of the distinct tensor storages reachable from `roots` (meta tensors excluded)."""
    seen_objects: set[int] = set()
    storages: dict[tuple[str, int], int] = {}
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen_objects or isinstance(obj, _OPAQUE):
            continue
        seen_objects.add(id(obj))
        if isinstance(obj, torch.Tensor):
            stack.extend(_tensor_children(obj))
            if not _is_wrapper(obj) and obj.device.type != "meta":
                storage = obj.untyped_storage()
                storages[(str(obj.device), storage.data_ptr())] = storage.nbytes()
            continue
        stack.extend(gc.get_referents(obj))
    return sum(nbytes for (_, ptr), nbytes in storages.items() if ptr != 0)


def _is_wrapper(tensor: torch.Tensor) -> bool:
    """A tensor subclass (DTensor) whose data lives in inner tensors, not its own storage."""
    return hasattr(tensor, "__tensor_flatten__")


def _tensor_children(tensor: torch.Tensor) -> list[object]:
    # (only leaf tensors carry .grad; asking a non-leaf one warns)
    grad = tensor.grad if tensor.is_leaf else None
    children: list[object] = [grad] if grad is not None else []
    children.extend(vars(tensor).values())  # e.g. DeepSpeed's ds_tensor partition
    if _is_wrapper(tensor):
        inner_names, _ = tensor.__tensor_flatten__()
        children.extend(getattr(tensor, name) for name in inner_names)
    return children




class PeakStateBytes:
    """The largest `tensor_storage_bytes(root)` seen just before an optimizer update.

    At that moment parameters, their gradients and the optimizer state are all alive (torch
    frees gradients after the update, DeepSpeed keeps its gradient partitions), so it is the
    moment that decides whether a model fits. The optimizer's state appears from the second
    update on (AdamW creates it lazily during the first).

        peak = PeakStateBytes(engine, engine.optimizer)
        ...train a few steps...
        peak.bytes
    """

    def __init__(self, root: object, optimizer: torch.optim.Optimizer):
        self.root = root
        self.bytes = 0
        self._handle = optimizer.register_step_pre_hook(self._measure)

    def _measure(self, optimizer, args, kwargs) -> None:
        self.bytes = max(self.bytes, tensor_storage_bytes(self.root))

    def remove(self) -> None:
        self._handle.remove()
