"""Rotary embeddings: Triton and the torch reference against complex multiplication in float64,
and against the model's own rotation table (interleaved pairs, as Meta's reference)."""

import pytest
import torch
from kernel_checks import DEVICE, DTYPES, assert_matches, leaves, needs_triton, random_shape

from auroragpt.kernels import apply_rotary
from auroragpt.model import rope_cos_sin


def rotate_complex(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """x: (B, T, H, D) float64 as D/2 complex numbers (x[2i] + j x[2i+1]) times e^(j angle)."""
    z = torch.view_as_complex(x.reshape(*x.shape[:-1], -1, 2))  # (B, T, H, D/2)
    turned = z * torch.polar(torch.ones_like(angles), angles)[None, :, None, :]
    return torch.view_as_real(turned).flatten(-2)


@pytest.mark.parametrize("backend", [pytest.param("triton", marks=needs_triton), "torch"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_apply_rotary_forward_backward_match_float64(backend, dtype):
    B, T, nh, nkv, half = random_shape(7, (1, 3), (3, 7), (3, 6), (1, 3), (3, 11))
    nh = nh - nh % nkv or nkv  # grouped-query: the key heads divide the query heads
    torch.manual_seed(7)
    angles = torch.rand(T, half, dtype=torch.float64) * 20  # (T, D/2)
    q, q64 = leaves(torch.randn(B, T, nh, 2 * half), dtype)
    k, k64 = leaves(torch.randn(B, T, nkv, 2 * half), dtype)
    dq, dk = torch.randn(q.shape), torch.randn(k.shape)
    cos, sin = angles.cos().float().to(DEVICE), angles.sin().float().to(DEVICE)

    rq, rk = apply_rotary(q, k, cos, sin, backend=backend)
    ((rq * dq.to(DEVICE, dtype)).sum() + (rk * dk.to(DEVICE, dtype)).sum()).backward()
    eq, ek = rotate_complex(q64, angles), rotate_complex(k64, angles)
    ((eq * dq.double()).sum() + (ek * dk.double()).sum()).backward()

    assert rq.dtype == dtype and rq.shape == q.shape and rk.shape == k.shape
    assert_matches(rq, eq, dtype, "q rotated")
    assert_matches(rk, ek, dtype, "k rotated")
    assert_matches(q.grad, q64.grad, dtype, "dq")
    assert_matches(k.grad, k64.grad, dtype, "dk")


@pytest.mark.parametrize("backend", [pytest.param("triton", marks=needs_triton), "torch"])
def test_apply_rotary_uses_the_model_table_layout(backend):
    """cos/sin sliced from the model's (T, hd/2, 2) table rotate pair i by position * theta**(-2i/hd)."""
    T, hd, theta = 5, 12, 10000.0
    table = rope_cos_sin(hd, T, theta)  # (T, hd/2, 2)
    q = torch.randn(1, T, 2, hd, dtype=torch.float64)
    angles = torch.outer(torch.arange(T, dtype=torch.float64),
                         theta ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    rq, _ = apply_rotary(q.float().to(DEVICE), q.float().to(DEVICE), table[..., 0].to(DEVICE),
                         table[..., 1].to(DEVICE), backend=backend)
    assert_matches(rq, rotate_complex(q, angles), torch.float32, "rotated")


def test_apply_rotary_rejects_a_table_of_the_wrong_shape():
    q = torch.zeros(1, 4, 2, 8)
    with pytest.raises(ValueError, match=r"cos/sin of shape \(4, 4\)"):
        apply_rotary(q, q, torch.zeros(4, 8), torch.zeros(4, 8))
