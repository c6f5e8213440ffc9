"""Which implementation runs: Triton where the device and a working Triton are present, else torch.

`backend` is `auto`, `triton` or `torch` (the values of `model.kernels`). `auto` picks Triton
for plain tensors on a CUDA or XPU device when `import triton` works, and the torch reference
everywhere else (CPU, MPS, DTensors of tensor parallelism, meta tensors). `triton` insists: it
runs on CUDA/XPU tensors, or on CPU tensors under Triton's interpreter (`TRITON_INTERPRET=1`,
what the tests use), and otherwise fails with a message that says why.
"""

from __future__ import annotations

import functools
import importlib.util
import os

import torch

BACKENDS = ("auto", "triton", "torch")
TRITON_DEVICES = ("cuda", "xpu")


@functools.cache
def triton_importable() -> bool:
    """True when the `triton` package is installed (Intel ships it as `pytorch-triton-xpu`)."""
    return importlib.util.find_spec("triton") is not None


def interpreting() -> bool:
    """True when Triton kernels will run in its CPU interpreter (read at kernel definition)."""
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


def is_plain(t: torch.Tensor) -> bool:
    # NOTE: DTensor (tensor/sequence parallelism) and other subclasses keep the torch path,
    # which their dispatch understands; Parameters are plain tensors for this purpose.
    return type(t) in (torch.Tensor, torch.nn.Parameter)


def resolve(backend: str, x: torch.Tensor) -> str:
    """`triton` or `torch` for an op whose main input is `x`; raises on an impossible request."""
    if backend not in BACKENDS:
        raise ValueError(f"kernels backend={backend!r}: expected one of {', '.join(BACKENDS)}")
    if backend == "torch":
        return "torch"
    on_device = x.device.type in TRITON_DEVICES or (x.device.type == "cpu" and interpreting())
    if backend == "auto":
        usable = x.device.type in TRITON_DEVICES and triton_importable() and is_plain(x)
        return "triton" if usable else "torch"
    if not triton_importable():
        raise RuntimeError("kernels backend='triton' but the triton package is not installed "
                           "(pip install 'auroragpt[kernels]')")
    if not on_device:
        raise RuntimeError(f"kernels backend='triton' cannot run on {x.device.type} tensors: use a "
                           "CUDA or XPU device, or set TRITON_INTERPRET=1 to interpret on CPU")
    if not is_plain(x):
        raise RuntimeError(f"kernels backend='triton' takes plain tensors, not {type(x).__name__}; "
                           "use model.kernels=auto or torch under tensor parallelism")
    return "triton"


def row_block(n: int) -> int:
    """The power-of-two block that holds one row of n elements (kernels load a row at once)."""
    if n > 65536:
        raise ValueError(f"row of {n} elements is too long for one Triton block (max 65536)")
    return max(16, 1 << (n - 1).bit_length())


def row_warps(block: int) -> int:
    """Warps for a program that reduces one row of `block` elements: more for longer rows."""
    return 16 if block >= 8192 else 8 if block >= 2048 else 4
