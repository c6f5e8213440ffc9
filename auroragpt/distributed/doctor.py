"""`auroragpt doctor`: is this job wired up right, and how fast do its ranks talk?

Reports library versions, each rank's host and device, the backend, and a short all-reduce
test across every rank it was launched on: each rank contributes `rank + 1`, so every element
of the result must equal `world * (world + 1) / 2`, and the timing gives latency and
bandwidth per message size. Bandwidth follows the nccl-tests convention: `algbw = bytes /
time`, `busbw = algbw * 2 (n - 1) / n`, the traffic a ring all-reduce puts on each link, which
is comparable across rank counts.
"""

from __future__ import annotations

import importlib.metadata
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from auroragpt.distributed.setup import DistInfo

CPU_SIZES = (4 << 10, 64 << 10, 1 << 20, 4 << 20)  # bytes; gloo on a few cores
ACCELERATOR_SIZES = (1 << 20, 16 << 20, 64 << 20, 256 << 20)

# Distribution names of the libraries worth knowing on a training node.
_PACKAGES = {
    "deepspeed": "deepspeed",
    "mpi4py": "mpi4py",
    "triton": "triton",
    "oneCCL bindings": "oneccl_bind_pt",
    "transformers": "transformers",
}


@dataclass(frozen=True)
class AllReduceResult:
    """One message size: the slowest rank's median time over the timed repetitions."""

    size_bytes: int
    latency_s: float
    world_size: int
    correct: bool  # every element equalled world * (world + 1) / 2

    @property
    def algbw_gbps(self) -> float:
        return self.size_bytes / self.latency_s / 1e9

    @property
    def busbw_gbps(self) -> float:
        return self.algbw_gbps * 2 * (self.world_size - 1) / self.world_size


@dataclass
class DoctorReport:
    info: DistInfo
    versions: dict[str, str]
    ranks: list[str]  # one line per rank: host, local rank, device
    allreduce: list[AllReduceResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.correct for r in self.allreduce)


def library_versions() -> dict[str, str]:
    """Versions of Python, torch (with its accelerator builds) and the distributed stack."""
    accel = []
    if torch.version.cuda:
        accel.append(f"cuda {torch.version.cuda}")
    xpu_version = getattr(torch.version, "xpu", None)
    if xpu_version:
        accel.append(f"xpu {xpu_version}")
    xccl = getattr(dist, "is_xccl_available", lambda: False)()
    backends = [name for name, check in (("gloo", dist.is_gloo_available),
                                         ("nccl", dist.is_nccl_available),
                                         ("mpi", dist.is_mpi_available)) if check()]
    backends += ["xccl"] if xccl else []
    versions = {
        "python": platform.python_version(),
        "torch": f"{torch.__version__} ({', '.join(accel) or 'cpu only'}; "
                 f"backends: {', '.join(backends)})",
    }
    for label, package in _PACKAGES.items():
        try:
            versions[label] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[label] = "not installed"
    if "mpi4py.MPI" in sys.modules:  # only when a launcher already initialised MPI
        library = sys.modules["mpi4py.MPI"].Get_library_version().strip().splitlines()[0]
        versions["mpi4py"] += f" ({' '.join(library.split())})"
    return versions


def allreduce_benchmark(device: torch.device, sizes: tuple[int, ...], iters: int = 20,
                        warmup: int = 3) -> list[AllReduceResult]:
    """Time a float32 sum all-reduce of each size; collective over the default group."""
    world, rank = dist.get_world_size(), dist.get_rank()
    expected = world * (world + 1) / 2
    results = []
    for size in sizes:
        numel = max(1, size // 4)
        check = torch.full((numel,), float(rank + 1), dtype=torch.float32, device=device)
        dist.all_reduce(check)
        correct = bool(torch.all(check == expected).item())
        buffer = torch.zeros(numel, dtype=torch.float32, device=device)  # stays finite
        for _ in range(warmup):
            dist.all_reduce(buffer)
        _synchronize(device)
        times = []
        for _ in range(iters):
            dist.barrier()
            start = time.perf_counter()
            dist.all_reduce(buffer)
            _synchronize(device)
            times.append(time.perf_counter() - start)
        # The job runs at the pace of its slowest rank: report the max of per-rank medians,
        # and a failure on any rank as a failure everywhere.
        summary = torch.tensor([statistics.median(times), 0.0 if correct else 1.0],
                               dtype=torch.float32, device=device)
        dist.all_reduce(summary, op=dist.ReduceOp.MAX)
        results.append(AllReduceResult(numel * 4, summary[0].item(), world,
                                       summary[1].item() == 0.0))
    return results


def run_doctor(info: DistInfo, sizes: tuple[int, ...] | None = None,
               iters: int = 20) -> DoctorReport:
    """Versions, the rank layout and (with more than one rank) the all-reduce test."""
    line = f"{info.host}  local {info.local_rank}/{info.local_world_size}  {info.device}"
    if info.is_distributed:
        ranks: list[str | None] = [None] * info.world_size
        dist.all_gather_object(ranks, line)
        rank_lines = [str(r) for r in ranks]
    else:
        rank_lines = [line]
    report = DoctorReport(info=info, versions=library_versions(), ranks=rank_lines)
    if info.is_distributed:
        if sizes is None:
            sizes = CPU_SIZES if info.device.type == "cpu" else ACCELERATOR_SIZES
        report.allreduce = allreduce_benchmark(info.device, sizes, iters=iters)
    return report


def format_report(report: DoctorReport) -> str:
    info = report.info
    out = ["auroragpt doctor", "", "versions"]
    width = max(len(k) for k in report.versions)
    out += [f"  {name:<{width}}  {value}" for name, value in report.versions.items()]
    out += ["", f"job: {info.world_size} rank(s), launcher {info.launcher}, backend "
                f"{info.backend if info.is_distributed else 'none (single process)'}"]
    out += [f"  rank {rank:>4}  {line}" for rank, line in enumerate(report.ranks)]
    if not report.allreduce:
        out += ["", "all-reduce: skipped (one rank; launch with torchrun, mpiexec or "
                    "`auroragpt launch` to test communication)"]
        return "\n".join(out)
    out += ["", f"all-reduce (float32 sum over {info.world_size} ranks; slowest rank's median)",
            f"  {'size':>10}  {'latency':>11}  {'algbw':>11}  {'busbw':>11}  check"]
    for r in report.allreduce:
        out.append(f"  {format_bytes(r.size_bytes):>10}  {r.latency_s * 1e6:>8.1f} us  "
                   f"{r.algbw_gbps:>6.3f} GB/s  {r.busbw_gbps:>6.3f} GB/s  "
                   f"{'ok' if r.correct else 'WRONG SUM'}")
    return "\n".join(out)


def parse_size(text: str) -> int:
    """`4K`, `1M`, `256MiB`, `1048576` -> bytes (binary multiples)."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    raw = text.strip().upper().removesuffix("IB").removesuffix("B")
    number, unit = (raw[:-1], raw[-1]) if raw and raw[-1] in units else (raw, "")
    if not number.isdigit() or int(number) <= 0:
        raise ValueError(f"size {text!r}: expected a positive number with an optional K, M or G")
    return int(number) * units[unit]


def format_bytes(size: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} B"


def _synchronize(device: torch.device) -> None:
    if device.type != "cpu":
        torch.accelerator.synchronize(device)
