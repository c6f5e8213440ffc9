"""Rotary position embeddings on interleaved pairs (x[2i], x[2i+1]), as in Meta's Llama reference.

Pair i of a head at position t turns by the angle t * theta**(-2i/D): the complex product
(x[2i] + j x[2i+1]) * (cos + j sin). `cos` and `sin` are (T, D/2), the model's rotation table.
Fused: the Triton kernel reads q (or k) once with its position's cos/sin row and writes the
rotated copy: 2 passes over q, where eager fp32 makes about 9 (four half-size products, two
sums, the stack; a bf16 q adds its fp32 copy and the cast back). Backward is the same kernel
turning the other way (2 passes again, against eager's ~9), and nothing but the tables is saved.
"""

from __future__ import annotations

import torch

from auroragpt.kernels.dispatch import resolve


def rotate_reference(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x: (B, T, H, D) by cos, sin: (T, D/2), in fp32, returned in x.dtype."""
    pairs = x.float().reshape(*x.shape[:-1], -1, 2)  # (B, T, H, D/2, 2)
    cos, sin = cos[None, :, None, :], sin[None, :, None, :]  # (1, T, 1, D/2)
    real, imag = pairs[..., 0], pairs[..., 1]
    rotated = torch.stack([real * cos - imag * sin, real * sin + imag * cos], dim=-1)
    return rotated.flatten(-2).type_as(x)


class _RotateTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        from auroragpt.kernels.jit import rotary as jit

        cos, sin = cos.float().contiguous(), sin.float().contiguous()
        ctx.save_for_backward(cos, sin)
        return jit.rotate(x.contiguous(), cos, sin, 1.0)

    @staticmethod
    def backward(ctx, dy: torch.Tensor):
        from auroragpt.kernels.jit import rotary as jit

        cos, sin = ctx.saved_tensors
        return jit.rotate(dy.contiguous(), cos, sin, -1.0), None, None


def apply_rotary(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                 backend: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate queries q: (B, T, nh, D) and keys k: (B, T, nkv, D) by cos, sin: (T, D/2).

    Differentiable in q and k; the tables are constants (the Triton path gives them no gradient).
    """
    T, half = q.shape[1], q.shape[-1] // 2
    if q.shape[-1] % 2 or cos.shape != (T, half) or sin.shape != (T, half):
        raise ValueError(f"apply_rotary: q {tuple(q.shape)} needs an even head dim and cos/sin of "
                         f"shape ({T}, {half}), got {tuple(cos.shape)} and {tuple(sin.shape)}")
    if resolve(backend, q) == "triton":
        return _RotateTriton.apply(q, cos, sin), _RotateTriton.apply(k, cos, sin)
    return rotate_reference(q, cos, sin), rotate_reference(k, cos, sin)
