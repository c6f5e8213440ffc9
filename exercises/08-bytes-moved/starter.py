"""Exercise 08: bytes moved by eager and fused RMSNorm and SwiGLU, a matmul's cost, the roofline.

Fill in the functions below, then check your work from the repository root:

    auroragpt exercises check 08
    auroragpt exercises check 08 --file my_copy.py
"""


def rms_norm_bytes(rows: int, width: int, fused: bool) -> int:
    """Bytes the fp32 RMSNorm forward moves on x (rows, width) with a weight (width,).

    Eager: `normed = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps); y = normed * weight`,
    each op reading its inputs and writing its output. Fused: x and the weight read once, y and
    one fp32 1/rms per row written once.
    """
    # TODO 1: the eager ops, one by one: what each reads, what each writes
    # TODO 2: the fused kernel's reads and writes
    raise NotImplementedError("TODO: rms_norm_bytes")


def swiglu_bytes(rows: int, hidden: int, element_bytes: int, fused: bool) -> int:
    """Bytes the forward of `F.silu(gate) * up` moves for gate, up of shape (rows, hidden)."""
    # TODO: eager is two kernels; fused is one
    raise NotImplementedError("TODO: swiglu_bytes")


def matmul_flops_and_bytes(m: int, k: int, n: int, element_bytes: int) -> tuple[int, int]:
    """(FLOPs, bytes) of (m, k) @ (k, n): each operand read once, the product written once."""
    # TODO
    raise NotImplementedError("TODO: matmul_flops_and_bytes")


def roofline_seconds(flops: float, nbytes: float, peak_flops: float, bandwidth: float) -> float:
    """The least time an op of `flops` FLOPs moving `nbytes` bytes takes (FLOP/s, bytes/s)."""
    # TODO
    raise NotImplementedError("TODO: roofline_seconds")


def min_compute_bound_rows(k: int, n: int, element_bytes: int, peak_flops: float,
                           bandwidth: float) -> int | None:
    """Smallest m for which (m, k) @ (k, n) is compute-bound on the chip, or None if none is."""
    # TODO: compute time vs memory time as functions of m
    raise NotImplementedError("TODO: min_compute_bound_rows")
