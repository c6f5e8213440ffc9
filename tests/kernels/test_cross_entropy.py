"""Chunked linear + cross-entropy (Triton and torch chunks) against a float64 log-softmax."""

import pytest
import torch
from kernel_checks import DEVICE, DTYPES, assert_matches, leaves, needs_triton, random_shape

from auroragpt.kernels import fused_linear_cross_entropy

BACKENDS = [pytest.param("triton", marks=needs_triton), "torch"]


def cross_entropy_float64(hidden, weight, targets, ignore_index=-100):
    """Mean over kept rows of -log softmax(hidden @ weight.T)[target], written out in float64."""
    logits = hidden @ weight.T  # (N, V)
    log_probs = logits - logits.logsumexp(-1, keepdim=True)
    keep = targets != ignore_index
    picked = log_probs[keep].gather(1, targets[keep][:, None])
    return -picked.mean()


def problem(seed, dtype, n=(20, 60), dim=(8, 40), vocab=(50, 300)):
    N, D, V = random_shape(seed, n, dim, vocab)
    torch.manual_seed(seed)
    hidden = leaves(torch.randn(N, D), dtype)
    weight = leaves(torch.randn(V, D) / D ** 0.5 * 3, dtype)
    targets = torch.randint(0, V, (N,))
    targets[::7] = -100  # some positions carry no loss (padding, masked prompts)
    return hidden, weight, targets


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("chunk_size", [None, 7])
def test_fused_linear_cross_entropy_matches_float64(backend, dtype, chunk_size):
    (h, h64), (w, w64), targets = problem(11, dtype)

    loss = fused_linear_cross_entropy(h, w, targets.to(DEVICE), backend=backend,
                                      chunk_size=chunk_size)
    (2.5 * loss).backward()  # the upstream gradient scales both results
    expected = cross_entropy_float64(h64, w64, targets)
    (2.5 * expected).backward()

    assert loss.dtype == torch.float32 and loss.shape == ()
    assert h.grad.dtype == dtype and w.grad.dtype == dtype
    assert_matches(loss, expected, dtype, "loss")
    assert_matches(h.grad, h64.grad, dtype, "d hidden")
    assert_matches(w.grad, w64.grad, dtype, "d weight")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_vocabulary_wider_than_one_block(backend):
    """The Triton row kernel walks V in blocks of 4096 with an online softmax."""
    (h, h64), (w, w64), targets = problem(5, torch.float32, n=(3, 5), dim=(6, 9),
                                          vocab=(4100, 4500))
    fused_linear_cross_entropy(h, w, targets.to(DEVICE), backend=backend).backward()
    cross_entropy_float64(h64, w64, targets).backward()
    assert_matches(h.grad, h64.grad, torch.float32, "d hidden")
    assert_matches(w.grad, w64.grad, torch.float32, "d weight")


def test_batched_hidden_under_bf16_autocast_matches_eager_autocast():
    """(B, T, D) hidden under autocast: bf16 matmuls, fp32 softmax, the same numbers as eager."""
    (h, _), (w, _), targets = problem(2, torch.float32, n=(30, 30), dim=(16, 16))
    h3, t2 = h.detach().reshape(3, 10, -1).requires_grad_(), targets.reshape(3, 10)
    with torch.autocast(DEVICE.type, dtype=torch.bfloat16):
        loss = fused_linear_cross_entropy(h3, w, t2, backend="torch")
        eager = torch.nn.functional.cross_entropy(
            torch.nn.functional.linear(h3, w).float().flatten(0, 1), t2.flatten())
    torch.testing.assert_close(loss, eager, rtol=1e-5, atol=1e-5)
    (d_fused,) = torch.autograd.grad(loss, h3)
    (d_eager,) = torch.autograd.grad(eager, h3)
    assert d_fused.shape == h3.shape
    torch.testing.assert_close(d_fused, d_eager, rtol=2e-2, atol=2e-2 * d_eager.abs().max().item())


def test_without_grad_it_only_computes_the_loss():
    (h, h64), (w, w64), targets = problem(4, torch.float32)
    with torch.no_grad():
        loss = fused_linear_cross_entropy(h, w, targets.to(DEVICE), backend="torch")
    assert not loss.requires_grad
    assert_matches(loss, cross_entropy_float64(h64, w64, targets), torch.float32, "loss")


def test_mismatched_targets_are_refused():
    with pytest.raises(ValueError, match="5 hidden rows but 4 targets"):
        fused_linear_cross_entropy(torch.zeros(5, 3), torch.zeros(7, 3), torch.zeros(4).long())
