"""Triton rotary embedding: one program per (batch, position) row rotates all its heads."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from auroragpt.kernels.dispatch import row_block


@triton.jit
def _rotate(X, COS, SIN, Y, seq_len, n_heads, n_pairs, sign,
            BLOCK_H: tl.constexpr, BLOCK_P: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)  # index into (B * T)
    t = row % seq_len
    heads = tl.arange(0, BLOCK_H)[:, None]  # (BLOCK_H, 1)
    pairs = tl.arange(0, BLOCK_P)[None, :]  # (1, BLOCK_P)
    mask = (heads < n_heads) & (pairs < n_pairs)
    cos = tl.load(COS + t * n_pairs + pairs, mask=pairs < n_pairs, other=0.0).to(tl.float32)
    # sign = -1 rotates backwards: the gradient of a rotation is its transpose
    sin = sign * tl.load(SIN + t * n_pairs + pairs, mask=pairs < n_pairs, other=0.0).to(tl.float32)
    even = row * n_heads * n_pairs * 2 + heads * n_pairs * 2 + pairs * 2  # (BLOCK_H, BLOCK_P)
    real = tl.load(X + even, mask=mask, other=0.0).to(tl.float32)
    imag = tl.load(X + even + 1, mask=mask, other=0.0).to(tl.float32)
    tl.store(Y + even, (real * cos - imag * sin).to(Y.dtype.element_ty), mask=mask)
    tl.store(Y + even + 1, (real * sin + imag * cos).to(Y.dtype.element_ty), mask=mask)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, sign: float) -> torch.Tensor:
    """x: (B, T, H, D) contiguous; cos, sin: (T, D/2) contiguous -> x rotated by sign * angle."""
    B, T, H, D = x.shape
    y = torch.empty_like(x)
    _rotate[(B * T,)](x, cos, sin, y, T, H, D // 2, sign,
                      BLOCK_H=row_block(H), BLOCK_P=row_block(D // 2))
    return y
