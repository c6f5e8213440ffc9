"""Triton cross-entropy rows: loss per row, and the row's logits overwritten by their gradient."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from auroragpt.kernels.dispatch import row_warps

BLOCK = 4096


@triton.jit
def _loss_and_grad(LOGITS, TARGETS, LOSS, n_cols, ignore_index, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    base = LOGITS + row * n_cols
    target = tl.load(TARGETS + row)
    keep = target != ignore_index
    safe_target = tl.where(keep, target, 0)
    # online softmax: one read of the row for the running max and sum of exponentials
    m = float("-inf")
    s = 0.0
    for start in range(0, n_cols, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        x = tl.load(base + cols, mask=cols < n_cols, other=float("-inf")).to(tl.float32)
        m_new = tl.maximum(m, tl.max(x, axis=0))
        s = s * tl.exp(m - m_new) + tl.sum(tl.exp(x - m_new), axis=0)
        m = m_new
    lse = m + tl.log(s)
    x_target = tl.load(base + safe_target).to(tl.float32)
    tl.store(LOSS + row, tl.where(keep, lse - x_target, 0.0))
    # second read: d loss / d logits = softmax - one_hot(target), zero for an ignored row
    for start in range(0, n_cols, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        x = tl.load(base + cols, mask=cols < n_cols, other=0.0).to(tl.float32)
        grad = tl.exp(x - lse) - tl.where(cols == safe_target, 1.0, 0.0)
        tl.store(base + cols, tl.where(keep, grad, 0.0), mask=cols < n_cols)


def loss_and_grad_(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """logits: (C, V) contiguous fp32, overwritten by d(sum of losses)/d logits; -> (C,) losses."""
    C, V = logits.shape
    loss = torch.empty(C, device=logits.device, dtype=torch.float32)
    block = min(BLOCK, 1 << (V - 1).bit_length())
    _loss_and_grad[(C,)](logits, targets, loss, V, ignore_index, BLOCK=block,
                         num_warps=row_warps(block))
    return loss
