"""RMSNorm, `y = round(x / rms(x)) * weight`, normalised in fp32 whatever the input dtype.

Fused: the Triton forward reads x and the weight once and writes y plus one fp32 `1/rms` per
row; eager torch also writes and rereads x squared and the normalised x. Counting each eager
op's reads and writes in units of x's size S: forward 2 passes instead of 7, backward 3 (read
dy and x, write dx; the weight gradient is reduced per block of rows) instead of about 20; and
autograd keeps x alone (S) instead of x and the normalised x (2S). For the 1b preset's
(4 x 2048, 2048) fp32 residual stream, S = 64 MiB, so ~320 MiB of traffic saved forward and
~1.1 GiB backward per norm, 45 norms a step.
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
