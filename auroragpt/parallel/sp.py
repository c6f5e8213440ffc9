"""Sequence parallelism for long context: DeepSpeed-Ulysses all-to-all over attention heads.

With `parallel.sp=N` each of N ranks holds 1/N of every sequence (`sequence_shard`), so
activations per rank shrink N-fold. Everything outside attention is per position and runs on
the slice unchanged; rotary embeddings get the slice's global positions (the engine passes
`positions` from `rank * T / N` on). Attention needs every position, so around the model's
`CoreAttention` two all-to-alls swap what is split:

    q, k, v  (B, heads, T/N, hd)  --all-to-all-->  (B, heads/N, T, hd)   attention on all T
    out      (B, heads/N, T, hd)  --all-to-all-->  (B, heads, T/N, hd)

Grouped-query attention: the key/value heads must split N ways too. NOTE: when n_kv_heads is
not a multiple of N (fewer KV heads than ranks, say), each KV head is repeated to the least
common multiple of n_kv_heads and N before the exchange: a query head still meets the same
keys and values as in one process, at the cost of sending the copies. Query heads must divide
by N (and by tp x N with tensor parallelism); refused otherwise.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.nn.functional import all_to_all_single

from auroragpt.config import ConfigError, ModelConfig


def check_sp(model: ModelConfig, sp: int, tp: int = 1) -> None:
    """Refuse a model that `sp` ranks cannot split, before any work is done."""
    if sp == 1:
        return
    if model.n_heads % (tp * sp):
        raise ConfigError(f"parallel.sp={sp} x parallel.tp={tp} must divide "
                          f"model.n_heads={model.n_heads} (attention heads are split both ways)")
    if model.max_seq_len % (tp * sp):
        raise ConfigError(f"parallel.sp={sp} x parallel.tp={tp} must divide "
                          f"model.max_seq_len={model.max_seq_len} (each rank holds a slice)")


def sequence_shard(tokens: torch.Tensor, rank: int, size: int) -> tuple[torch.Tensor, int]:
    """Rank's slice of Megatron-style samples (B, S + 1): (B, S / size + 1) and its first position.

    The slice overlaps the next one by a token: its last input's target.
    """
    length = (tokens.shape[1] - 1) // size
    start = rank * length
    return tokens[:, start:start + length + 1], start


def _exchange(x: torch.Tensor, group, scatter_dim: int, gather_dim: int) -> torch.Tensor:
    """All-to-all: split `x` into group-size chunks along `scatter_dim`, send chunk j to rank j,
    and join what arrives along `gather_dim` (rank order). Differentiable."""
    size = group.size()
    chunks = x.chunk(size, dim=scatter_dim)  # size x (..., x.shape[scatter_dim] / size, ...)
    send = torch.stack(chunks).contiguous()  # (size, *chunk)
    received = all_to_all_single(torch.empty_like(send), send, group=group)  # (size, *chunk)
    return torch.cat(received.unbind(0), dim=gather_dim)


class UlyssesAttention(nn.Module):
    """Wraps a `CoreAttention`: heads scattered and positions gathered around it."""

    def __init__(self, inner: nn.Module, mesh: DeviceMesh):
        super().__init__()
        self.inner = inner
        self.group = mesh.get_group()

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                mask: torch.Tensor | None = None, is_causal: bool = True) -> torch.Tensor:
        """q: (B, nh, T/N, hd); k, v: (B, nkv, T/N, hd) -> (B, nh, T/N, hd)."""
        if mask is not None or not is_causal:
            raise NotImplementedError("sequence parallelism runs causal attention over whole "
                                      "sequences only (no KV cache, no masks)")
        size = self.group.size()
        kv_heads = k.shape[1]
        if kv_heads % size:
            repeat = math.lcm(kv_heads, size) // kv_heads
            k, v = k.repeat_interleave(repeat, dim=1), v.repeat_interleave(repeat, dim=1)
        q, k, v = (_exchange(t, self.group, scatter_dim=1, gather_dim=2) for t in (q, k, v))
        out = self.inner(q, k, v)  # (B, nh/N, T, hd): causal over all positions
        return _exchange(out, self.group, scatter_dim=2, gather_dim=1)


def apply_sp(model: nn.Module, sp_mesh: DeviceMesh) -> nn.Module:
    """Wrap every block's core attention for Ulysses over the 1-D `sp_mesh` (in place)."""
    for block in model.layers.values():
        block.attention.core = UlyssesAttention(block.attention.core, sp_mesh)
    return model
