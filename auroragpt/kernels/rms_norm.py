"""RMSNorm, `y = round(x / rms(x)) * weight`, normalised in fp32 whatever the input dtype.

Fused: the Triton forward reads x and the weight once and writes y plus one fp32 `1/rms` per
row; eager torch materialises x in fp32, x squared, the normalised x and its rounded copy, each
a full (M, N) tensor. The backward reads dy and x once and writes dx, with the weight gradient
reduced per block of rows. Per step that is about 2 reads + 1 write of (M, N) forward and 3
reads + 1 write backward, instead of roughly 10 and 12 passes in eager fp32: for x of 4 MiB in
fp32, ~40 MiB of traffic saved each way, and only x (not the fp32 intermediates) kept for backward.
"""

from __future__ import annotations

import torch

from auroragpt.kernels.dispatch import resolve


def rms_norm_reference(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """The plain-torch definition (also Meta's): fp32 statistics, rounded to x.dtype, times weight."""
    x32 = x.float()
    normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)
    return normed.type_as(x) * weight


class _RMSNormTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        from auroragpt.kernels.jit import rms_norm as jit

        rows = x.reshape(-1, x.shape[-1]).contiguous()  # (M, N)
        y, rstd = jit.forward(rows, weight.contiguous(), eps)
        ctx.save_for_backward(rows, weight, rstd)
        return y.view(*x.shape[:-1], y.shape[-1])

    @staticmethod
    def backward(ctx, dy: torch.Tensor):
        from auroragpt.kernels.jit import rms_norm as jit

        rows, weight, rstd = ctx.saved_tensors
        dx, dw = jit.backward(dy.reshape(rows.shape).contiguous(), rows, weight.contiguous(), rstd)
        return dx.view(dy.shape), dw, None


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float,
             backend: str = "auto") -> torch.Tensor:
    """RMSNorm over the last dim of x (..., N) with weight (N,); returns x's shape.

    The result has the dtype of `x * weight` (fp32 for a bf16 x and an fp32 weight, as in eager).
    """
    if resolve(backend, x) == "triton":
        return _RMSNormTriton.apply(x, weight, eps)
    return rms_norm_reference(x, weight, eps)
