"""Reference solution of exercise 03: RMSNorm and RoPE."""

import torch


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """x / sqrt(mean(x**2, last axis) + eps) * weight, in the dtype of x."""
    mean_square = x.pow(2).mean(dim=-1, keepdim=True)  # (..., 1)
    return x * torch.rsqrt(mean_square + eps) * weight.to(x.dtype)


def rope_angles(head_dim: int, positions: torch.Tensor, theta: float = 10000.0) -> torch.Tensor:
    """(len(positions), head_dim // 2) angles p * theta ** (-2i / head_dim), float64."""
    exponents = torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim  # (hd/2,)
    frequencies = theta ** -exponents
    return torch.outer(positions.to(torch.float64), frequencies)


def apply_rope(x: torch.Tensor, start_pos: int = 0, theta: float = 10000.0) -> torch.Tensor:
    """Rotate interleaved channel pairs of x: (B, T, nh, hd) by the angle of their position."""
    T, hd = x.shape[1], x.shape[-1]
    angles = rope_angles(hd, torch.arange(start_pos, start_pos + T), theta)  # (T, hd/2)
    cos = angles.cos()[None, :, None, :].to(x.dtype)  # (1, T, 1, hd/2)
    sin = angles.sin()[None, :, None, :].to(x.dtype)
    a, b = x[..., 0::2], x[..., 1::2]  # (B, T, nh, hd/2) each
    rotated = torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1)  # (B, T, nh, hd/2, 2)
    return rotated.flatten(-2)
