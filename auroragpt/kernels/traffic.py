"""What an operation costs in memory: bytes its eager ATen ops move, and its peak memory.

`count_traffic(fn)` runs `fn()` under a torch dispatch mode and charges every ATen op the bytes
of its tensor inputs (read) and of its tensor outputs (written). That is the memory traffic of
eager PyTorch, where each op is its own kernel: it reads its inputs from memory and writes its
result back, so a chain of elementwise ops moves every intermediate twice. Views (`reshape`,
`expand`, slicing) move nothing and are skipped, as are allocations without a write (`empty`).
Bytes are logical (numel x element size): a kernel that reads a strided view or a broadcast
table touches at least that much. A Triton launch is not an ATen op, so a fused kernel's bytes
are its arguments, counted from its source (each element loaded or stored once).

`peak_memory()` measures the most memory a block holds above what was live when it started:
the device allocator's high-water mark on CUDA/XPU; on a Linux CPU the resident set's
high-water mark, which counts freed memory only if glibc returned it, so run it in a process
started with `MALLOC_MMAP_THRESHOLD_=131072` (every allocation over 128 KiB its own mapping).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

_NO_WRITE = {torch.ops.aten.empty.memory_format, torch.ops.aten.empty_like.default,
             torch.ops.aten.empty_strided.default}


def tensor_bytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


@dataclass
class Traffic:
    """Bytes moved by the ATen ops of one call: one (op name, read, written) row per op."""

    ops: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def read(self) -> int:
        return sum(r for _, r, _ in self.ops)

    @property
    def written(self) -> int:
        return sum(w for _, _, w in self.ops)

    @property
    def total(self) -> int:
        return self.read + self.written

    def table(self) -> str:
        lines = [f"{'op':<32} {'read':>12} {'written':>12}"]
        lines += [f"{name:<32} {r:>12,} {w:>12,}" for name, r, w in self.ops]
        lines.append(f"{'total':<32} {self.read:>12,} {self.written:>12,}")
        return "\n".join(lines)


class _CountingMode(TorchDispatchMode):
    def __init__(self, traffic: Traffic):
        super().__init__()
        self.traffic = traffic

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if not (func.is_view or func in _NO_WRITE):
            inputs = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
            outputs = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
            if outputs:
                self.traffic.ops.append((str(func.overloadpacket.__name__),
                                         sum(map(tensor_bytes, inputs)),
                                         sum(map(tensor_bytes, outputs))))
        return out


def count_traffic(fn: Callable[[], object]) -> Traffic:
    """Run `fn()` (forward, backward or both) and count the bytes each eager op moves."""
    traffic = Traffic()
    with _CountingMode(traffic):
        fn()
    return traffic


def _proc_status(field_name: str) -> int:
    """A memory field of /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field_name}")


class peak_memory:  # noqa: N801 (used as a context manager, like torch's)
    """`with peak_memory(device) as mem: ...` sets `mem.peak` (bytes above the start) and
    `mem.total` (the high-water mark itself): the allocator's on CUDA/XPU, the process's on CPU."""

    def __init__(self, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.peak = self.total = 0

    def __enter__(self) -> peak_memory:
        gc.collect()
        if self.device.type in ("cuda", "xpu"):
            api = getattr(torch, self.device.type)
            api.synchronize()
            api.reset_peak_memory_stats()
            self.start = api.memory_allocated()
        elif Path("/proc/self/clear_refs").exists():
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
            self.start = _proc_status("VmRSS")
        else:
            raise RuntimeError("peak_memory on a CPU reads /proc/self/status: Linux only")
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type in ("cuda", "xpu"):
            api = getattr(torch, self.device.type)
            api.synchronize()
            self.total = api.max_memory_allocated()
        else:
            self.total = _proc_status("VmHWM")
        self.peak = self.total - self.start
