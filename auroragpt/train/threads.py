"""How many threads torch uses on a CPU device.

torch splits every CPU operator over its intra-op threads and waits for all of them at the end
of the operator. On a CPU that other work keeps busy, a thread the OS has descheduled stalls
every one of the hundreds of operators of a training step: on a loaded 2-core machine we
measured a tiny-model step 5-40x slower with 2 threads than with 1. On an idle machine more
threads win. So `train.cpu_threads=0` measures: a short burst of small matmuls with all cores
and with one, and keeps the faster.
"""

from __future__ import annotations

import os
import statistics
import time

import torch

PROBE_SIZE = 256  # matmul side: small enough that per-operator synchronisation shows
PROBE_OPS = 24  # operators per probe, like a slice of a small model's step
PROBE_ROUNDS = 3  # interleaved rounds per thread count; the median is compared


def available_cores() -> int:
    """Cores this process may run on (its affinity mask, which respects taskset and cgroups)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def choose_cpu_threads(requested: int) -> tuple[int, str]:
    """Set torch's intra-op threads; return the number and why, for the run's log.

    `requested` > 0 is used as given; 0 probes all cores against one (see module docstring).
    """
    if requested > 0:
        torch.set_num_threads(requested)
        return requested, "train.cpu_threads"
    cores = min(available_cores(), torch.get_num_threads())
    if cores <= 1:
        return 1, "one core available"
    timings = {cores: [], 1: []}
    for _ in range(PROBE_ROUNDS):
        for threads in timings:
            timings[threads].append(_probe_seconds(threads))
    many, one = statistics.median(timings[cores]), statistics.median(timings[1])
    # NOTE: ties go to one thread: same speed, and it leaves the other cores to other work
    threads = cores if many < 0.9 * one else 1
    torch.set_num_threads(threads)
    return threads, f"measured: {cores} threads {one / many:.2f}x the speed of 1"


def _probe_seconds(threads: int) -> float:
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(PROBE_SIZE, PROBE_SIZE, generator=gen)
    w = torch.randn(PROBE_SIZE, PROBE_SIZE, generator=gen) / PROBE_SIZE**0.5
    start = time.perf_counter()
    for _ in range(PROBE_OPS):
        x = torch.tanh(x @ w)
    return time.perf_counter() - start
