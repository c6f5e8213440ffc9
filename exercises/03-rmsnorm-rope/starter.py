"""Exercise 03: RMSNorm and rotary position embeddings (RoPE), the Llama way.

Fill in the three functions below, then check your work from the repository root:

    auroragpt exercises check 03
    auroragpt exercises check 03 --file my_copy.py

Write them from tensor operations: the library's own versions (auroragpt.model.RMSNorm,
auroragpt.model.apply_rope, auroragpt.model.rope_cos_sin) and torch.nn.functional.rms_norm are
what the checks compare against.
"""

import torch


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Root-mean-square normalisation over the last axis, then a per-channel gain.

    x: (..., dim); weight: (dim,). Returns x / sqrt(mean(x**2) + eps) * weight, with the mean
    over the last axis, in the dtype of x.
    """
    # TODO: the mean of squares over the last axis (keep the axis so it broadcasts), then
    # divide by its square root (with eps inside) and multiply by the weight
    raise NotImplementedError("TODO: rms_norm")


def rope_angles(head_dim: int, positions: torch.Tensor, theta: float = 10000.0) -> torch.Tensor:
    """Rotation angles of RoPE: (len(positions), head_dim // 2) in float64.

    Pair i (channels 2i and 2i+1) turns at frequency theta ** (-2i / head_dim); at position p
    its angle is p * theta ** (-2i / head_dim).
    """
    # TODO: the head_dim // 2 frequencies, then every position times every frequency
    raise NotImplementedError("TODO: rope_angles")


def apply_rope(x: torch.Tensor, start_pos: int = 0, theta: float = 10000.0) -> torch.Tensor:
    """Rotate queries or keys x: (B, T, nh, hd) by their position; returns (B, T, nh, hd).

    Token t sits at position start_pos + t. Its pair of channels (x[..., 2i], x[..., 2i+1]) is
    rotated by that position's angle of pair i (see rope_angles): (a, b) becomes
    (a cos - b sin, a sin + b cos). Every head is rotated the same way. Keep the dtype of x.
    """
    # TODO 1: the angles of positions start_pos .. start_pos + T - 1, shaped to broadcast
    #         against (B, T, nh, hd // 2)
    # TODO 2: split x into its even and odd channels, rotate each pair, interleave them back
    raise NotImplementedError("TODO: apply_rope")
