"""Shared pieces of the kernel tests: the device, dtypes, tolerances and a float64 comparison.

Tolerances against float64: fp32 rtol = atol = 1e-5; bf16 rtol = atol = 2e-2, both scaled by
the largest expected entry (bf16 keeps 8 significant bits, 2**-8 = 4e-3 per rounding, and a
kernel rounds its inputs, its output and, for RMSNorm, the normalised row).
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

GPU = torch.cuda.is_available() or (hasattr(torch, "xpu") and torch.xpu.is_available())
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "xpu" if GPU else "cpu")
DTYPES = [torch.float32, torch.bfloat16]
TOLERANCE = {torch.float32: 1e-5, torch.bfloat16: 2e-2}

needs_triton = pytest.mark.skipif(importlib.util.find_spec("triton") is None,
                                  reason="needs the triton package (pip install 'auroragpt[kernels]')")


def gpu_only(test):
    """Mark a test `gpu` and skip it without a CUDA or XPU device."""
    return pytest.mark.gpu(pytest.mark.skipif(not GPU, reason="needs a CUDA or XPU device")(test))


def assert_matches(got: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype,
                   name: str) -> None:
    """`got` (any dtype, any device) against a float64 expectation, scaled by its largest entry."""
    tol = TOLERANCE[dtype]
    scale = max(1.0, expected.abs().max().item())
    torch.testing.assert_close(got.detach().double().cpu(), expected.detach().double(),
                               rtol=tol, atol=tol * scale,
                               msg=lambda m: f"{name} ({dtype}): {m}")


def leaves(t: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Leaf tensors of the same numbers: one on the test device in `dtype`, one float64 on CPU."""
    rounded = t.to(dtype)
    return (rounded.to(DEVICE).clone().requires_grad_(), rounded.double().requires_grad_())


def random_shape(seed: int, *ranges: tuple[int, int]) -> list[int]:
    """Random sizes in the given inclusive ranges, never a power of two (odd sizes test masks)."""
    g = torch.Generator().manual_seed(seed)
    sizes = []
    for low, high in ranges:
        n = int(torch.randint(low, high + 1, (1,), generator=g))
        sizes.append(n + 1 if n & (n - 1) == 0 else n)
    return sizes
