"""Activation checkpointing: recompute block activations in backward instead of storing them.

- `full`: a block keeps only its input; backward reruns the whole block first.
- `selective`: attention and feed-forward keep the outputs of their matrix multiplies and of
  attention (the expensive ops) and recompute the cheap rest (rotary, SiLU, products), which
  are many of the stored bytes but little of the FLOPs; norms are stored.

NOTE: the composable `checkpoint` hooks each block in place instead of wrapping it, so
parameter names (and therefore checkpoints) stay exactly those of the plain model.
"""

from __future__ import annotations

import torch
from torch import nn

MODES = ("none", "full", "selective")

# Ops whose outputs selective checkpointing keeps: the FLOP-heavy ones.
_SAVED_OPS = {
    torch.ops.aten.mm.default,
    torch.ops.aten.addmm.default,
    torch.ops.aten.bmm.default,
    torch.ops.aten._scaled_dot_product_efficient_attention.default,
    torch.ops.aten._scaled_dot_product_flash_attention.default,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu.default,
}


def resolve_mode(value: bool | str) -> str:
    """`train.activation_checkpointing` as one of MODES (true means full)."""
    if value is True:
        return "full"
    if value is False:
        return "none"
    return value


def _save_expensive(ctx, op, *args, **kwargs):
    from torch.utils.checkpoint import CheckpointPolicy

    return (CheckpointPolicy.MUST_SAVE if op in _SAVED_OPS
            else CheckpointPolicy.PREFER_RECOMPUTE)


def _selective_contexts():
    from torch.utils.checkpoint import create_selective_checkpoint_contexts

    return create_selective_checkpoint_contexts(_save_expensive)


def apply_ac(model: nn.Module, mode: bool | str = "full") -> None:
    """Checkpoint every transformer block of `model` in `mode` (see MODES) in place."""
    from torch.distributed._composable import checkpoint

    mode = resolve_mode(mode)
    if mode == "none":
        return
    for block in model.layers.values():
        if mode == "full":
            checkpoint(block)
            continue
        # NOTE: selective hooks the block's attention and feed-forward, not the block: the
        # block-level hooks of FSDP then run outside the recomputed region, where the caching
        # of selective checkpointing cannot see them (inside, it stops on their profiler ops).
        for part in (block.attention, block.feed_forward):
            checkpoint(part, context_fn=_selective_contexts)
