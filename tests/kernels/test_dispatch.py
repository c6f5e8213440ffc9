"""The dispatcher: auto picks torch on a CPU, triton is refused where it cannot run."""

import pytest
import torch
from kernel_checks import DEVICE, gpu_only, needs_triton

from auroragpt.kernels import resolve, rms_norm


def test_auto_keeps_the_torch_reference_on_a_cpu_even_under_the_interpreter():
    assert resolve("auto", torch.zeros(2)) == "torch"
    assert resolve("torch", torch.zeros(2)) == "torch"


@needs_triton
def test_triton_on_a_cpu_needs_the_interpreter(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert resolve("triton", torch.zeros(2)) == "triton"
    monkeypatch.delenv("TRITON_INTERPRET")
    with pytest.raises(RuntimeError, match="cannot run on cpu tensors.*TRITON_INTERPRET=1"):
        resolve("triton", torch.zeros(2))


def test_an_unknown_backend_is_named():
    with pytest.raises(ValueError, match="backend='cuda': expected one of auto, triton, torch"):
        rms_norm(torch.zeros(2, 3), torch.ones(3), 1e-5, backend="cuda")


@gpu_only
@needs_triton
def test_auto_picks_triton_on_a_gpu():
    assert resolve("auto", torch.zeros(2, device=DEVICE)) == "triton"
