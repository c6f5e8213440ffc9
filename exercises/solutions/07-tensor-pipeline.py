"""Reference solution of exercise 07: a tensor-parallel MLP and the pipeline bubble."""

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F


def shard_mlp(w1: torch.Tensor, w2: torch.Tensor, rank: int,
              world: int) -> tuple[torch.Tensor, torch.Tensor]:
    """W1 (hidden, dim) by output rows, W2 (dim, hidden) by input columns: the same hidden units."""
    return w1.chunk(world, dim=0)[rank], w2.chunk(world, dim=1)[rank]


def tp_mlp(x: torch.Tensor, w1_shard: torch.Tensor, w2_shard: torch.Tensor) -> torch.Tensor:
    """Column-parallel W1, GELU on the local hidden units, row-parallel W2, one all-reduce."""
    hidden = F.gelu(x @ w1_shard.T)  # (N, hidden / world): no communication needed
    partial = hidden @ w2_shard.T    # (N, dim): this rank's partial sum
    if dist.is_initialized():
        dist.all_reduce(partial)     # sum of the partial sums
    return partial


def bubble_fraction(stages: int, micro_batches: int) -> float:
    """(p - 1) / (m + p - 1): the idle share of each rank's step in GPipe and 1F1B."""
    if stages < 1 or micro_batches < 1:
        raise ValueError(f"stages={stages} and micro_batches={micro_batches} must be >= 1")
    return (stages - 1) / (micro_batches + stages - 1)


def min_micro_batches(stages: int, max_bubble: float) -> int:
    """Smallest m with bubble_fraction(stages, m) <= max_bubble."""
    if not 0 < max_bubble < 1:
        raise ValueError(f"max_bubble={max_bubble} must be between 0 and 1 (exclusive)")
    if stages < 1:
        raise ValueError(f"stages={stages} must be >= 1")
    # (p - 1) / (m + p - 1) <= b  <=>  m >= (p - 1)(1 - b) / b
    m = max(1, math.ceil((stages - 1) * (1 - max_bubble) / max_bubble))
    while m > 1 and bubble_fraction(stages, m - 1) <= max_bubble:
        m -= 1  # float rounding in the division above
    while bubble_fraction(stages, m) > max_bubble:
        m += 1
    return m
