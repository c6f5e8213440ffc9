"""`auroragpt doctor`: is this job wired up right, and how fast do its ranks talk?

Reports library versions, each rank's host, node and device, each host's ranks and devices,
the backend, and a short all-reduce test across every rank it was launched on: each rank
contributes `rank + 1`, so every element of the result must equal `world * (world + 1) / 2`,
and the timing gives latency and bandwidth per message size. On several hosts the test runs
again over one rank per host, which isolates the network between nodes from the traffic
inside them. Bandwidth follows the nccl-tests convention: `algbw = bytes / time`,
`busbw = algbw * 2 (n - 1) / n`, the traffic a ring all-reduce puts on each link, which is
comparable across rank counts.
"""

from __future__ import annotations

import importlib.metadata
import platform
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from auroragpt.distributed.runtime import DistInfo

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


@dataclass(frozen=True)
class RankPlace:
    """Where one rank runs, as its own setup() found it."""

    host: str
    node_rank: int
    num_nodes: int
    local_rank: int
    local_world_size: int
    device: str


@dataclass
class DoctorReport:
    info: DistInfo
    versions: dict[str, str]
    ranks: list[RankPlace]  # indexed by rank
    allreduce: list[AllReduceResult] = field(default_factory=list)  # over every rank
    across_hosts: list[AllReduceResult] = field(default_factory=list)  # one rank per host

    @property
    def ok(self) -> bool:
        return all(r.correct for r in self.allreduce + self.across_hosts)


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
                        warmup: int = 3, group=None) -> list[AllReduceResult]:
    """Time a float32 sum all-reduce of each size; collective over `group` (default: all)."""
    world, rank = dist.get_world_size(group), dist.get_rank(group)
    expected = world * (world + 1) / 2
    results = []
    for size in sizes:
        numel = max(1, size // 4)
        check = torch.full((numel,), float(rank + 1), dtype=torch.float32, device=device)
        dist.all_reduce(check, group=group)
        correct = bool(torch.all(check == expected).item())
        buffer = torch.zeros(numel, dtype=torch.float32, device=device)  # stays finite
        for _ in range(warmup):
            dist.all_reduce(buffer, group=group)
        _synchronize(device)
        times = []
        for _ in range(iters):
            dist.barrier(group=group)
            start = time.perf_counter()
            dist.all_reduce(buffer, group=group)
            _synchronize(device)
            times.append(time.perf_counter() - start)
        # The job runs at the pace of its slowest rank: report the max of per-rank medians,
        # and a failure on any rank as a failure everywhere.
        summary = torch.tensor([statistics.median(times), 0.0 if correct else 1.0],
                               dtype=torch.float32, device=device)
        dist.all_reduce(summary, op=dist.ReduceOp.MAX, group=group)
        results.append(AllReduceResult(numel * 4, summary[0].item(), world,
                                       summary[1].item() == 0.0))
    return results


def run_doctor(info: DistInfo, sizes: tuple[int, ...] | None = None,
               iters: int = 20) -> DoctorReport:
    """Versions, the rank layout and (with more than one rank) the all-reduce tests.

    Collective: every rank calls it; the all-reduce results are complete on rank 0.
    """
    place = RankPlace(info.host, info.node_rank, info.num_nodes, info.local_rank,
                      info.local_world_size, str(info.device))
    places = [place]
    if info.is_distributed:
        gathered: list[RankPlace | None] = [None] * info.world_size
        dist.all_gather_object(gathered, place)
        places = [p for p in gathered if p is not None]
    report = DoctorReport(info=info, versions=library_versions(), ranks=places)
    if not info.is_distributed:
        return report
    if sizes is None:
        sizes = CPU_SIZES if info.device.type == "cpu" else ACCELERATOR_SIZES
    report.allreduce = allreduce_benchmark(info.device, sizes, iters=iters)
    if info.num_nodes > 1:
        # the lowest rank of every host (nodes are numbered in the order of these ranks)
        leaders = [next(r for r, p in enumerate(places) if p.node_rank == node)
                   for node in range(info.num_nodes)]
        group = dist.new_group(leaders)  # NOTE: collective, so every rank creates it
        if info.rank in leaders:
            report.across_hosts = allreduce_benchmark(info.device, sizes, iters=iters,
                                                      group=group)
        dist.barrier()
        dist.destroy_process_group(group)
    return report


def format_report(report: DoctorReport) -> str:
    info = report.info
    out = ["auroragpt doctor", "", "versions"]
    width = max(len(k) for k in report.versions)
    out += [f"  {name:<{width}}  {value}" for name, value in report.versions.items()]
    out += ["", f"job: {info.world_size} rank(s), launcher {info.launcher}, backend "
                f"{info.backend if info.is_distributed else 'none (single process)'}"]
    host_width = max(len(p.host) for p in report.ranks)
    out += [f"  rank {rank:>4}  {p.host:<{host_width}}  node {p.node_rank}/{p.num_nodes}  "
            f"local {p.local_rank}/{p.local_world_size}  {p.device}"
            for rank, p in enumerate(report.ranks)]
    out += ["", f"hosts: {info.num_nodes}"]
    for node in range(info.num_nodes):
        ranks = [r for r, p in enumerate(report.ranks) if p.node_rank == node]
        devices = Counter(report.ranks[r].device for r in ranks)
        out.append(f"  host {report.ranks[ranks[0]].host:<{host_width}}  node {node}  ranks "
                   f"{format_ranges(ranks)}  devices "
                   + ", ".join(f"{d} x{n}" if n > 1 else d for d, n in devices.items()))
    if not report.allreduce:
        out += ["", "all-reduce: skipped (one rank; launch with torchrun, mpiexec or "
                    "`auroragpt launch` to test communication)"]
        return "\n".join(out)
    out += _allreduce_table(f"all {info.world_size} ranks", report.allreduce)
    if report.across_hosts:
        out += _allreduce_table(f"across {info.num_nodes} hosts: the first rank of each",
                                report.across_hosts)
    return "\n".join(out)


def _allreduce_table(scope: str, results: list[AllReduceResult]) -> list[str]:
    lines = ["", f"all-reduce ({scope}; float32 sum, slowest rank's median)",
             f"  {'size':>10}  {'latency':>11}  {'algbw':>11}  {'busbw':>11}  check"]
    for r in results:
        lines.append(f"  {format_bytes(r.size_bytes):>10}  {r.latency_s * 1e6:>8.1f} us  "
                     f"{r.algbw_gbps:>6.3f} GB/s  {r.busbw_gbps:>6.3f} GB/s  "
                     f"{'ok' if r.correct else 'WRONG SUM'}")
    return lines


def format_ranges(numbers: list[int]) -> str:
    """Integers as sorted ranges: [0, 1, 2, 5, 7, 8] -> `0-2,5,7-8`."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ",".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


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
