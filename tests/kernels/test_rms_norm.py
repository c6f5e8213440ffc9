"""RMSNorm: Triton (interpreted on CPU) and the torch reference against a float64 formula."""

import pytest
import torch
from kernel_checks import DEVICE, DTYPES, assert_matches, leaves, needs_triton, random_shape

from auroragpt.kernels import rms_norm

EPS = 1e-5


def rms_norm_float64(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + EPS) * weight


@pytest.mark.parametrize("backend", [pytest.param("triton", marks=needs_triton), "torch"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_rms_norm_forward_backward_match_float64(backend, dtype, seed):
    B, T, N = random_shape(seed, (1, 3), (3, 9), (20, 100))
    torch.manual_seed(seed)
    x, x64 = leaves(torch.randn(B, T, N) * 3, dtype)
    w, w64 = leaves(1 + 0.1 * torch.randn(N), torch.float32)
    dy = torch.randn(B, T, N)

    y = rms_norm(x, w, EPS, backend=backend)
    y.backward(dy.to(DEVICE, y.dtype))
    expected = rms_norm_float64(x64, w64)
    expected.backward(dy.double())

    assert y.shape == x.shape and y.dtype == torch.float32  # bf16 x * fp32 weight promotes
    assert_matches(y, expected, dtype, "y")
    assert_matches(x.grad, x64.grad, dtype, "dx")
    assert_matches(w.grad, w64.grad, dtype, "dweight")
