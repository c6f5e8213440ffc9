"""Kernel tests run Triton compiled on a GPU, else in its CPU interpreter (`TRITON_INTERPRET=1`).

NOTE: Triton reads TRITON_INTERPRET when a kernel is defined, and `auroragpt.kernels` defines
its kernels lazily (`auroragpt/kernels/jit/`), so setting it here, before any test runs one, is
enough.
"""

import os

import torch

if not (torch.cuda.is_available() or (hasattr(torch, "xpu") and torch.xpu.is_available())):
    os.environ.setdefault("TRITON_INTERPRET", "1")
