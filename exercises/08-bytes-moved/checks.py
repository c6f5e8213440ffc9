"""Checks of exercise 08: eager bytes against the traffic each ATen op really has (measured with
`auroragpt.kernels.traffic.count_traffic`), fused bytes against the kernels' arguments, a
matmul's FLOPs and bytes against torch's FlopCounterMode and the measured traffic, the roofline
against its formula and the compute-bound threshold against a search over m."""

import random

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from auroragpt.exercise_checker.checking import CheckFailed, check, expect_close
from auroragpt.kernels import rms_norm_reference
from auroragpt.kernels.traffic import count_traffic

SMALL_TERMS = 5e-3  # rows and weight terms may be left out: they are under 0.5% here


def _compare_passes(mine, measured: int, S: int, what: str) -> None:
    if mine is None:
        raise CheckFailed(f"{what}: your function returned None (is a `return` missing?)")
    if abs(mine - measured) > SMALL_TERMS * measured:
        raise CheckFailed(f"{what}: you count {mine / S:.2f} S (S = the bytes of one "
                          f"activation tensor); the ops measured move {measured / S:.2f} S")


@check("eager and fused RMSNorm bytes match the measured ops and the fused kernel's arguments",
       hint="list the eager ops one per line with their reads and writes; x.pow(2), the mean, "
            "x * rstd and * weight each read and write memory")
def rms_norm_traffic(ctx):
    rms_norm_bytes = ctx.function("rms_norm_bytes")
    rng = random.Random(ctx.seed)
    for _ in range(4):
        rows, width = rng.randint(64, 300), rng.randint(512, 1500)
        x, w = torch.randn(rows, width), torch.randn(width)
        S = x.numel() * 4
        measured = count_traffic(lambda x=x, w=w: rms_norm_reference(x, w, 1e-6)).total
        _compare_passes(rms_norm_bytes(rows, width, False), measured, S,
                        f"eager RMSNorm ({rows}, {width}) fp32")
        kernel_arguments = (S + width * 4) + (S + rows * 4)  # x, weight in; y, 1/rms out
        _compare_passes(rms_norm_bytes(rows, width, True), kernel_arguments, S,
                        f"fused RMSNorm ({rows}, {width}) fp32")


@check("eager and fused SwiGLU bytes match the measured ops and the fused kernel's arguments",
       hint="eager runs silu as its own kernel, whose output is read again by the product")
def swiglu_traffic(ctx):
    swiglu_bytes = ctx.function("swiglu_bytes")
    rng = random.Random(ctx.seed)
    for dtype in (torch.float32, torch.bfloat16):
        rows, hidden = rng.randint(8, 200), rng.randint(16, 900)
        gate, up = torch.randn(rows, hidden, dtype=dtype), torch.randn(rows, hidden, dtype=dtype)
        size = gate.element_size()
        S = gate.numel() * size
        measured = count_traffic(lambda g=gate, u=up: F.silu(g) * u).total
        _compare_passes(swiglu_bytes(rows, hidden, size, False), measured, S,
                        f"eager SwiGLU ({rows}, {hidden}) {dtype}")
        _compare_passes(swiglu_bytes(rows, hidden, size, True), 3 * S, S,
                        f"fused SwiGLU ({rows}, {hidden}) {dtype}")


@check("matmul FLOPs and bytes match FlopCounterMode and the measured traffic",
       hint="one multiply and one add per term of the sum; bytes: both operands and the product")
def matmul_counts(ctx):
    counts = ctx.function("matmul_flops_and_bytes")
    rng = random.Random(ctx.seed)
    for dtype in (torch.float32, torch.bfloat16, torch.float32):
        m, k, n = (rng.randint(1, 96) for _ in range(3))
        a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
        with FlopCounterMode(display=False) as counter:
            traffic = count_traffic(lambda a=a, b=b: a @ b)
        result = counts(m, k, n, a.element_size())
        if not (isinstance(result, tuple) and len(result) == 2):
            raise CheckFailed(f"matmul_flops_and_bytes: expected a (flops, bytes) tuple, "
                              f"got {result!r:.60}")
        flops, nbytes = result
        what = f"({m}, {k}) @ ({k}, {n}) {dtype}"
        if flops != counter.get_total_flops():
            raise CheckFailed(f"FLOPs of {what}: off by a factor "
                              f"{flops / counter.get_total_flops():.2f}")
        if nbytes != traffic.total:
            raise CheckFailed(f"bytes of {what}: off by a factor {nbytes / traffic.total:.2f}")


@check("roofline_seconds follows the roofline: compute and memory overlap",
       hint="the chip streams memory while it computes: which of the two limits wins?")
def roofline(ctx):
    roofline_seconds = ctx.function("roofline_seconds")
    rng = random.Random(ctx.seed)
    for _ in range(30):
        flops, nbytes = 10 ** rng.uniform(6, 14), 10 ** rng.uniform(5, 11)
        peak, bw = 10 ** rng.uniform(12, 15), 10 ** rng.uniform(11, 13)
        expected = max(flops / peak, nbytes / bw)
        got = roofline_seconds(flops, nbytes, peak, bw)
        if got is not None and got > expected * (1 + 1e-9):
            raise CheckFailed(f"more than the roofline allows: roofline_seconds({flops:.3g}, "
                              f"{nbytes:.3g}, {peak:.3g}, {bw:.3g}) returned {got:.4g} s")
        expect_close(got, expected, f"roofline_seconds({flops:.3g}, {nbytes:.3g}, {peak:.3g}, "
                     f"{bw:.3g})", rtol=1e-9, atol=0)


def _search(k: int, n: int, b: int, peak: float, bw: float, limit: int = 10**6) -> int | None:
    if 2 * n * k / peak <= b * (k + n) / bw:  # the intensity's limit as m grows is below the ridge
        return None
    for m in range(1, limit):
        if 2 * m * n * k / peak >= b * (m * k + k * n + m * n) / bw:
            return m
    raise AssertionError("search limit reached")


@check("min_compute_bound_rows finds the smallest compute-bound m, or None when none is",
       hint="the weight's k*n elements are read whatever m is; as m grows the intensity tends to "
            "2nk / (b (k + n)): compare that limit with the ridge point")
def compute_bound_rows(ctx):
    min_rows = ctx.function("min_compute_bound_rows")
    rng = random.Random(ctx.seed)
    cases = [(4096, 4096, 2, 419.4e12, 1.6384e12), (2048, 5632, 2, 989.4e12, 3.35e12),
             (64, 64, 2, 419.4e12, 1.6384e12), (8192, 8192, 4, 312e12, 2.039e12)]
    for _ in range(20):
        cases.append((rng.randint(16, 8192), rng.randint(16, 8192), rng.choice([2, 4]),
                      10 ** rng.uniform(13, 15), 10 ** rng.uniform(11.5, 12.7)))
    for k, n, b, peak, bw in cases:
        expected = _search(k, n, b, peak, bw)
        got = min_rows(k, n, b, peak, bw)
        if got != expected:
            raise CheckFailed(f"min_compute_bound_rows({k}, {n}, {b}, {peak:.4g}, {bw:.4g}) "
                              f"returned {got!r}, which is not the smallest compute-bound m"
                              + (" (no m is compute-bound)" if expected is None else ""))
