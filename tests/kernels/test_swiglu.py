"""SwiGLU: Triton (interpreted on CPU) and the torch reference against a float64 formula."""

import pytest
import torch
from kernel_checks import DEVICE, DTYPES, assert_matches, leaves, needs_triton, random_shape

from auroragpt.kernels import swiglu


@pytest.mark.parametrize("backend", [pytest.param("triton", marks=needs_triton), "torch"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_swiglu_forward_backward_match_float64(backend, dtype):
    shape = random_shape(int(dtype.itemsize), (2, 5), (3, 9), (30, 200))  # spans >1 block
    torch.manual_seed(3)
    gate, gate64 = leaves(torch.randn(shape) * 3, dtype)
    up, up64 = leaves(torch.randn(shape), dtype)
    dy = torch.randn(shape)

    y = swiglu(gate, up, backend=backend)
    y.backward(dy.to(DEVICE, dtype))
    expected = gate64 / (1 + torch.exp(-gate64)) * up64  # silu(g) = g * sigmoid(g)
    expected.backward(dy.double())

    assert y.dtype == dtype and y.shape == gate.shape
    assert_matches(y, expected, dtype, "y")
    assert_matches(gate.grad, gate64.grad, dtype, "d gate")
    assert_matches(up.grad, up64.grad, dtype, "d up")


def test_swiglu_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="must match in shape and dtype"):
        swiglu(torch.zeros(2, 3), torch.zeros(2, 4))
