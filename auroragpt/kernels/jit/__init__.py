"""Triton device code, imported only when a Triton backend first runs.

NOTE: Triton decides at `@triton.jit` time whether a kernel is compiled or interpreted
(`TRITON_INTERPRET`), so these modules are imported lazily, never by `auroragpt.kernels` itself.
Only portable `tl` operations are used (no inline assembly, no CUDA-only intrinsics), so the
same source compiles on NVIDIA and on Intel's XPU backend.
"""
