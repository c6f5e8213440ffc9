"""Tensor parallelism, Megatron style, applied from outside with DTensor's `parallelize_module`.

Each transformer block splits its matrices over the `tp` ranks so no rank holds a whole one:

- attention: `wq`, `wk`, `wv` column-wise (each rank computes n_heads / tp query heads and
  n_kv_heads / tp key/value heads), `wo` row-wise (partial sums, reduced);
- feed-forward: `w1`, `w3` column-wise (a slice of the hidden units), `w2` row-wise;
- embedding row-wise over the vocabulary, `output` column-wise over the vocabulary: logits stay
  split by vocabulary and the loss is computed on the split (`loss_parallel`), so no rank ever
  holds the full (tokens x vocabulary) logits;
- sequence parallelism: between the matrix pairs (norms, residual adds) activations are split
  along the sequence rather than copied, so the all-reduce of plain TP becomes a
  reduce-scatter before each norm and an all-gather after it.

The model never learns it is split: attention reads its local head counts from its
projections' output widths (see `auroragpt.model.Attention`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.tensor import Replicate, Shard
from torch.distributed.tensor.parallel import (
    ColwiseParallel,
    PrepareModuleInput,
    RowwiseParallel,
    SequenceParallel,
    parallelize_module,
)

from auroragpt.config import ConfigError, ModelConfig


def check_tp(model: ModelConfig, tp: int) -> None:
    """Refuse a model that `tp` ranks cannot split evenly, before any work is done."""
    if tp == 1:
        return
    need = {
        "model.n_heads": model.n_heads,
        "model.n_kv_heads": model.kv_heads,  # NOTE: no KV-head replication: refused instead
        "model.vocab_size": model.vocab_size,
        "the feed-forward width (model.ffn_hidden_dim)": model.ffn_hidden_dim,
        "model.max_seq_len (sequence-parallel norms split it)": model.max_seq_len,
    }
    for name, value in need.items():
        if value % tp:
            raise ConfigError(f"parallel.tp={tp} must divide {name}={value}")
    if model.tie_embeddings:
        raise ConfigError("model.tie_embeddings=true is not supported with parallel.tp > 1 "
                          "(the embedding and output are split differently)")


def block_plan() -> dict[str, object]:
    """How one `TransformerBlock` is split; activations enter and leave split by sequence."""
    return {
        "attention_norm": SequenceParallel(),
        # Attention(x, cos_sin, cache, positions): gather x's sequence, leave the rest alone.
        "attention": PrepareModuleInput(input_layouts=(Shard(1), None, None, None),
                                        desired_input_layouts=(Replicate(), None, None, None)),
        "attention.wq": ColwiseParallel(),
        "attention.wk": ColwiseParallel(),
        "attention.wv": ColwiseParallel(),
        "attention.wo": RowwiseParallel(output_layouts=Shard(1)),
        "ffn_norm": SequenceParallel(),
        "feed_forward": PrepareModuleInput(input_layouts=(Shard(1),),
                                           desired_input_layouts=(Replicate(),)),
        "feed_forward.w1": ColwiseParallel(),
        "feed_forward.w3": ColwiseParallel(),
        "feed_forward.w2": RowwiseParallel(output_layouts=Shard(1)),
    }


def outer_plan() -> dict[str, object]:
    """Embedding in, final norm and vocabulary-split logits out (a DTensor, for loss_parallel)."""
    return {
        "tok_embeddings": RowwiseParallel(input_layouts=Replicate(), output_layouts=Shard(1)),
        "norm": SequenceParallel(),
        "output": ColwiseParallel(input_layouts=Shard(1), output_layouts=Shard(-1),
                                  use_local_output=False),
    }


def apply_tp(model: nn.Module, tp_mesh: DeviceMesh) -> nn.Module:
    """Split `model`'s weights in place over the 1-D `tp_mesh` (works on the meta device).

    The forward then returns logits as a DTensor split along the vocabulary: compute the loss
    under `torch.distributed.tensor.parallel.loss_parallel()`, backward included.
    """
    present = {name: style for name, style in outer_plan().items()
               if getattr(model, name, None) is not None}  # a pipeline stage may lack some
    parallelize_module(model, tp_mesh, present)
    for block in model.layers.values():
        parallelize_module(block, tp_mesh, block_plan())
    return model


def feed_whole_sequence_positions(stage: nn.Module, tp: int) -> None:
    """Give a pipeline stage without the embedding the positions of the whole sequence.

    Between blocks, sequence-parallel activations are this rank's slice (B, T / tp, dim); a
    stage that receives them from the previous one would take T / tp for the sequence length
    and rotate with the wrong positions. The hook passes `positions` 0..T-1 instead.
    """
    def with_positions(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        if kwargs.get("positions") is None:
            hidden = args[0]  # (B, T / tp, dim)
            kwargs["positions"] = torch.arange(hidden.shape[1] * tp, device=hidden.device)
        return args, kwargs

    stage.register_forward_pre_hook(with_positions, with_kwargs=True)
