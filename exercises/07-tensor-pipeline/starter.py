"""Exercise 07: a tensor-parallel MLP (column, then row) and the pipeline bubble.

Fill in the functions below, then check your work from the repository root:

    auroragpt exercises check 07
    auroragpt exercises check 07 --file my_copy.py
"""

import torch
import torch.distributed as dist  # noqa: F401  (you need it in tp_mlp)
import torch.nn.functional as F  # noqa: F401


def shard_mlp(w1: torch.Tensor, w2: torch.Tensor, rank: int,
              world: int) -> tuple[torch.Tensor, torch.Tensor]:
    """This rank's blocks of the MLP y = gelu(x W1^T) W2^T over `world` ranks.

    w1: (hidden, dim), column parallel: each rank gets a slice of the hidden outputs.
    w2: (dim, hidden), row parallel: each rank gets the slice of its inputs that matches.
    hidden is divisible by world. Returns (w1_shard, w2_shard).
    """
    # TODO: which dimension of each weight indexes the hidden units?
    raise NotImplementedError("TODO: shard_mlp")


def tp_mlp(x: torch.Tensor, w1_shard: torch.Tensor, w2_shard: torch.Tensor) -> torch.Tensor:
    """The full MLP output (N, dim) on every rank, from this rank's shards and the whole x (N, dim).

    Runs inside an initialised process group (torch.distributed); use as little communication
    as the maths allows. Keep the dtype of the inputs.
    """
    # TODO 1: the column-parallel matrix and the activation, on this rank's hidden units
    # TODO 2: the row-parallel matrix: what does each rank hold now?
    # TODO 3: combine the ranks' results
    raise NotImplementedError("TODO: tp_mlp")


def bubble_fraction(stages: int, micro_batches: int) -> float:
    """The fraction of a pipeline step each rank is idle (GPipe or 1F1B), for p stages and m
    micro-batches of equal cost per stage. Raises ValueError unless both are >= 1."""
    # TODO: how many slots does a step take, and how many of them does a rank work?
    raise NotImplementedError("TODO: bubble_fraction")


def min_micro_batches(stages: int, max_bubble: float) -> int:
    """The fewest micro-batches that keep the bubble at or below max_bubble (0 < max_bubble < 1;
    ValueError otherwise, or for stages < 1)."""
    # TODO: solve bubble_fraction(stages, m) <= max_bubble for m
    raise NotImplementedError("TODO: min_micro_batches")
