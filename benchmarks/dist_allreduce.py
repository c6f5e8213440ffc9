"""All-reduce through auroragpt's runtime (torch.distributed, set up by `auroragpt.distributed.setup`)
next to MPI's own all-reduce (mpi4py on the same ranks), same sizes, same protocol.

    python benchmarks/dist_allreduce.py            # re-launches itself with mpiexec -n 2
    mpiexec -n 4 python benchmarks/dist_allreduce.py --sizes 4K,1M,16M

Protocol for both: float32 sum, 3 warm-up calls, then `--iters` timed calls each preceded by a
barrier; per rank the median, reported as the maximum over ranks (the pace of the slowest).
On CPU the torch side is gloo; on Aurora/Polaris run it under `auroragpt launch` to compare
xccl/nccl with the system MPI.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=2, help="ranks when self-launching")
    parser.add_argument("--sizes", default="4K,64K,1M,4M,16M")
    parser.add_argument("--iters", type=int, default=30)
    args = parser.parse_args()
    if not any(v in os.environ for v in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PALS_RANKID")):
        mpiexec = Path(sys.executable).with_name("mpiexec")
        argv = [str(mpiexec), "-n", str(args.ranks), sys.executable, *sys.argv]
        return subprocess.run(argv, env={**os.environ, "OMP_NUM_THREADS": "1"}).returncode

    from mpi4py import MPI

    from auroragpt.distributed import setup, teardown
    from auroragpt.distributed.doctor import allreduce_benchmark, format_bytes, parse_size

    sizes = tuple(parse_size(s) for s in args.sizes.split(","))
    info = setup()
    ours = allreduce_benchmark(info.device, sizes, iters=args.iters)
    comm = MPI.COMM_WORLD
    peer = [mpi_allreduce_time(comm, size, args.iters) for size in sizes]
    if info.is_main:
        print(f"{info.world_size} ranks on {info.host}; torch backend {info.backend}; "
              f"{MPI.Get_library_version().split(chr(10))[0].strip()}")
        print(f"{'size':>9}  {'torch (us)':>11}  {'mpi4py (us)':>11}  {'torch/mpi':>9}  "
              f"{'torch GB/s':>10}  {'mpi GB/s':>8}")
        for size, result, mpi_s in zip(sizes, ours, peer, strict=True):
            assert result.correct
            print(f"{format_bytes(size):>9}  {result.latency_s * 1e6:>11.1f}  {mpi_s * 1e6:>11.1f}  "
                  f"{result.latency_s / mpi_s:>9.2f}  {result.busbw_gbps:>10.3f}  "
                  f"{size / mpi_s / 1e9 * 2 * (info.world_size - 1) / info.world_size:>8.3f}")
    teardown()
    return 0


def mpi_allreduce_time(comm, size: int, iters: int, warmup: int = 3) -> float:
    from mpi4py import MPI

    buffer = np.zeros(max(1, size // 4), dtype=np.float32)
    for _ in range(warmup):
        comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
    times = []
    for _ in range(iters):
        comm.Barrier()
        start = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
        times.append(time.perf_counter() - start)
    return comm.allreduce(statistics.median(times), op=MPI.MAX)


if __name__ == "__main__":
    sys.exit(main())
