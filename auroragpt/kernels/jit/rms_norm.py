"""Triton RMSNorm: one program per row forward; row-blocked backward with partial weight grads."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from auroragpt.kernels.dispatch import row_block, row_warps


@triton.jit
def _forward(X, W, Y, RSTD, n_cols, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(X + row * n_cols + cols, mask=mask, other=0.0).to(tl.float32)
    w = tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
    rstd = tl.rsqrt(tl.sum(x * x, axis=0) / n_cols + eps)
    # NOTE: round the normalised row to x's dtype before the weight, exactly as the reference
    normed = (x * rstd).to(X.dtype.element_ty).to(tl.float32)
    tl.store(Y + row * n_cols + cols, (normed * w).to(Y.dtype.element_ty), mask=mask)
    tl.store(RSTD + row, rstd)


@triton.jit
def _backward(DY, X, W, RSTD, DX, DW_PART, n_rows, n_cols, rows_per_program,
              BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    w = tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
    dw = tl.zeros((BLOCK,), dtype=tl.float32)
    first = pid.to(tl.int64) * rows_per_program  # int64 offsets: M * N may pass 2**31
    for row in range(first, tl.minimum(first + rows_per_program, n_rows)):
        x = tl.load(X + row * n_cols + cols, mask=mask, other=0.0).to(tl.float32)
        dy = tl.load(DY + row * n_cols + cols, mask=mask, other=0.0).to(tl.float32)
        rstd = tl.load(RSTD + row)
        normed = x * rstd
        dw += dy * normed.to(X.dtype.element_ty).to(tl.float32)
        g = dy * w
        dx = rstd * (g - normed * (tl.sum(g * normed, axis=0) / n_cols))
        tl.store(DX + row * n_cols + cols, dx.to(DX.dtype.element_ty), mask=mask)
    tl.store(DW_PART + pid * n_cols + cols, dw, mask=mask)


def forward(x: torch.Tensor, weight: torch.Tensor, eps: float):
    """x: (M, N) contiguous -> y: (M, N) in the promoted dtype, rstd: (M,) fp32."""
    M, N = x.shape
    y = torch.empty_like(x, dtype=torch.promote_types(x.dtype, weight.dtype))
    rstd = torch.empty(M, device=x.device, dtype=torch.float32)
    block = row_block(N)
    _forward[(M,)](x, weight, y, rstd, N, eps, BLOCK=block, num_warps=row_warps(block))
    return y, rstd


def backward(dy: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, rstd: torch.Tensor,
             programs: int = 128):
    """Gradients (dx: (M, N) like x, dw: (N,) like weight); each program sums dw over its rows."""
    M, N = x.shape
    programs = max(1, min(programs, M))
    rows_per_program = -(-M // programs)
    programs = -(-M // rows_per_program)
    dx = torch.empty_like(x)
    dw_part = torch.empty(programs, N, device=x.device, dtype=torch.float32)
    block = row_block(N)
    _backward[(programs,)](dy, x, weight, rstd, dx, dw_part, M, N, rows_per_program,
                           BLOCK=block, num_warps=row_warps(block))
    return dx, dw_part.sum(0).to(weight.dtype)
