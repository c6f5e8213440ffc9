"""Reference solution of exercise 08: bytes moved, a matmul's cost, the roofline."""

import math


def rms_norm_bytes(rows: int, width: int, fused: bool) -> int:
    S, r, w = rows * width * 4, rows * 4, width * 4  # x, one fp32 value per row, the weight
    if fused:
        return (S + w) + (S + r)  # read x and the weight; write y and 1/rms
    return ((S + S)  # x.pow(2)
            + (S + r)  # .mean(-1)
            + (r + r) + (r + r)  # + eps, rsqrt
            + (S + r + S)  # x * rstd
            + (S + w + S))  # normed * weight


def swiglu_bytes(rows: int, hidden: int, element_bytes: int, fused: bool) -> int:
    S = rows * hidden * element_bytes
    if fused:
        return 2 * S + S  # read gate and up, write y
    return (S + S) + (2 * S + S)  # silu(gate); silu * up


def matmul_flops_and_bytes(m: int, k: int, n: int, element_bytes: int) -> tuple[int, int]:
    return 2 * m * n * k, element_bytes * (m * k + k * n + m * n)


def roofline_seconds(flops: float, nbytes: float, peak_flops: float, bandwidth: float) -> float:
    return max(flops / peak_flops, nbytes / bandwidth)


def min_compute_bound_rows(k: int, n: int, element_bytes: int, peak_flops: float,
                           bandwidth: float) -> int | None:
    def compute_bound(m: int) -> bool:
        return 2 * m * n * k / peak_flops >= element_bytes * (m * k + k * n + m * n) / bandwidth

    # 2mnk / P >= b (mk + kn + mn) / W  <=>  m (2nk/P - b(k + n)/W) >= b kn / W
    slope = 2 * n * k / peak_flops - element_bytes * (k + n) / bandwidth
    if slope <= 0:
        return None  # each added row costs at least as much memory time as compute time
    m = max(1, math.ceil(element_bytes * k * n / bandwidth / slope))
    while m > 1 and compute_bound(m - 1):  # NOTE: the ceil may be off by one in float
        m -= 1
    while not compute_bound(m):
        m += 1
    return m
