"""Triton SwiGLU: elementwise over flat blocks, forward and backward in one pass each."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

BLOCK = 1024


@triton.jit
def _forward(G, U, Y, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    g = tl.load(G + offs, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(U + offs, mask=mask, other=0.0).to(tl.float32)
    tl.store(Y + offs, (g * tl.sigmoid(g) * u).to(Y.dtype.element_ty), mask=mask)


@triton.jit
def _backward(DY, G, U, DG, DU, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    dy = tl.load(DY + offs, mask=mask, other=0.0).to(tl.float32)
    g = tl.load(G + offs, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(U + offs, mask=mask, other=0.0).to(tl.float32)
    sig = tl.sigmoid(g)
    silu = g * sig
    tl.store(DU + offs, (dy * silu).to(DU.dtype.element_ty), mask=mask)
    # d silu / dg = sig * (1 + g * (1 - sig))
    tl.store(DG + offs, (dy * u * sig * (1.0 + g * (1.0 - sig))).to(DG.dtype.element_ty),
             mask=mask)


def _grid(n: int) -> tuple[int]:
    return (triton.cdiv(n, BLOCK),)


def forward(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """gate, up: contiguous, same shape and dtype -> silu(gate) * up."""
    y = torch.empty_like(gate)
    _forward[_grid(gate.numel())](gate, up, y, gate.numel(), BLOCK=BLOCK)
    return y


def backward(dy: torch.Tensor, gate: torch.Tensor, up: torch.Tensor):
    """(d gate, d up), both shaped and typed like gate."""
    dg, du = torch.empty_like(gate), torch.empty_like(up)
    _backward[_grid(gate.numel())](dy, gate, up, dg, du, gate.numel(), BLOCK=BLOCK)
    return dg, du
