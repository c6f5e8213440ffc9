"""The alpha-beta cost model of an all-reduce: what a collective should cost, before measuring it.

A message of n bytes between two ranks takes `alpha + n * beta` seconds: alpha is the latency
(software, network hops), beta the inverse bandwidth. Two classic all-reduce algorithms over p
ranks then cost (Thakur, Rabenseifner and Gropp, "Optimization of Collective Communication
Operations in MPICH", 2005):

- ring (reduce-scatter, then all-gather, each p-1 steps moving n/p bytes per rank):
  `2 (p-1) alpha + 2 (p-1)/p * n * beta`; bandwidth-optimal, latency grows with p;
- binary tree (reduce to a root, then broadcast, log2 p levels each moving all n bytes):
  `2 ceil(log2 p) (alpha + n * beta)`; few steps, but every step carries the whole message.

Large gradients (megabytes) want the ring, small latency-bound messages the tree; NCCL and
oneCCL pick between such algorithms by message size. `fit_alpha_beta` turns the latencies that
`auroragpt doctor` measures into alpha and beta for these formulas.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def ring_allreduce_s(nbytes: float, ranks: int, alpha_s: float, beta_s_per_byte: float) -> float:
    """Seconds of a ring all-reduce of `nbytes` over `ranks` ranks (0 for a single rank)."""
    _check_ranks(ranks)
    steps = 2 * (ranks - 1)
    return steps * alpha_s + steps / ranks * nbytes * beta_s_per_byte


def tree_allreduce_s(nbytes: float, ranks: int, alpha_s: float, beta_s_per_byte: float) -> float:
    """Seconds of a binary-tree reduce + broadcast of `nbytes` over `ranks` ranks."""
    _check_ranks(ranks)
    return 2 * math.ceil(math.log2(ranks)) * (alpha_s + nbytes * beta_s_per_byte)


def fit_alpha_beta(sizes_bytes: Sequence[float], seconds: Sequence[float],
                   ranks: int) -> tuple[float, float]:
    """(alpha, beta) of the ring model that best fits measured all-reduce times (least squares).

    The ring time is linear in n: `a + b n` with a = 2 (p-1) alpha and b = 2 (p-1)/p beta, so a
    straight-line fit of time against size gives both. Needs at least two distinct sizes and
    more than one rank; a negative intercept (noise on tiny messages) is clipped to zero.
    """
    _check_ranks(ranks)
    if ranks < 2:
        raise ValueError("an all-reduce over one rank moves nothing: fit needs ranks >= 2")
    if len(sizes_bytes) != len(seconds) or len(set(sizes_bytes)) < 2:
        raise ValueError("fit_alpha_beta needs times for at least two distinct message sizes")
    n = len(sizes_bytes)
    mean_x, mean_y = sum(sizes_bytes) / n, sum(seconds) / n
    slope = (sum((x - mean_x) * (y - mean_y) for x, y in zip(sizes_bytes, seconds, strict=True))
             / sum((x - mean_x) ** 2 for x in sizes_bytes))
    intercept = max(0.0, mean_y - slope * mean_x)
    steps = 2 * (ranks - 1)
    return intercept / steps, slope * ranks / steps


def _check_ranks(ranks: int) -> None:
    if not isinstance(ranks, int) or ranks < 1:
        raise ValueError(f"ranks={ranks!r}: expected an integer >= 1")
