"""count_traffic against bytes counted by hand; peak_memory against a tensor of known size."""

import os
import subprocess
import sys
import textwrap

import torch

from auroragpt.kernels import rms_norm_reference, swiglu_reference
from auroragpt.kernels.traffic import count_traffic


def test_matmul_reads_both_operands_and_writes_the_product():
    a, b = torch.randn(24, 40), torch.randn(40, 56, dtype=torch.float32)
    traffic = count_traffic(lambda: a @ b)
    assert [name for name, *_ in traffic.ops] == ["mm"]
    assert traffic.read == 4 * (24 * 40 + 40 * 56) and traffic.written == 4 * 24 * 56


def test_views_move_nothing_and_elementwise_chains_move_every_intermediate():
    x = torch.randn(6, 10)
    assert count_traffic(lambda: x.reshape(60).expand(2, 60)[:, 3:]).ops == []
    g, u = torch.randn(33, 70), torch.randn(33, 70)
    s = 33 * 70 * 4
    # silu(g): read g, write s; s * u: read both, write y.
    assert count_traffic(lambda: swiglu_reference(g, u)).total == 5 * s


def test_rms_norm_forward_by_hand():
    M, N = 5, 96
    x, w = torch.randn(M, N), torch.randn(N)
    S, r = M * N * 4, M * 4  # the activations and one fp32 value per row
    by_hand = ((S + S) + (S + r) + (r + r) + (r + r)  # x**2; mean; + eps; rsqrt
               + (S + r + S) + (S + N * 4 + S))  # x * rstd; * weight
    assert count_traffic(lambda: rms_norm_reference(x, w, 1e-6)).total == by_hand


def test_backward_is_counted():
    x = torch.randn(7, 9, requires_grad=True)
    y = x * 3.0
    dy = torch.ones_like(y)
    traffic = count_traffic(lambda: y.backward(dy))
    assert traffic.total >= 2 * 7 * 9 * 4  # at least d y read and d x written


def test_peak_memory_sees_a_tensor_of_known_size():
    script = textwrap.dedent("""
        import torch
        from auroragpt.kernels.traffic import peak_memory
        with peak_memory() as mem:
            t = torch.ones(16, 2**20)  # 64 MiB, written
            del t
        print(mem.peak)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}, check=True)
    peak = int(out.stdout.split()[-1])
    assert 64 * 2**20 <= peak < 72 * 2**20
