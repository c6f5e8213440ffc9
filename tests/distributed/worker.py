"""A rank of the multi-process tests, started by torchrun, mpiexec or `auroragpt launch`.

Modes (argv[1]):
- collectives: setup(), then an all-reduce of (rank + 1) and a broadcast of a tensor only
  rank 0 fills; prints one JSON line per rank with what it saw.
- hang: every rank beats a 1 s watchdog; rank 1 then blocks in `sleep_forever_in_step`
  while the others wait for it in a barrier.
- stragglers: rank 1 reports step times three times the others'; prints each rank's report.
"""

import json
import os
import sys
import time

import torch
import torch.distributed as dist

from auroragpt.distributed import StragglerMonitor, Watchdog, setup, teardown


def emit(record: dict) -> None:
    """One write of one line, so the lines of ranks sharing a pipe never interleave."""
    os.write(1, (json.dumps(record) + "\n").encode())


def collectives() -> None:
    info = setup(timeout_s=120)
    summed = torch.tensor([float(info.rank + 1)], device=info.device)
    dist.all_reduce(summed)
    shared = torch.arange(4, dtype=torch.float32, device=info.device) * 7 if info.rank == 0 \
        else torch.zeros(4, device=info.device)
    dist.broadcast(shared, src=0)
    emit({
        "rank": info.rank, "local_rank": info.local_rank, "world_size": info.world_size,
        "local_world_size": info.local_world_size, "backend": info.backend,
        "device": str(info.device), "launcher": info.launcher,
        "torch_rank": dist.get_rank(), "all_reduce": summed.item(),
        "broadcast": shared.tolist(),
    })
    teardown()


def sleep_forever_in_step() -> None:
    while True:
        time.sleep(0.05)


def hang() -> None:
    info = setup(timeout_s=600)
    with Watchdog(timeout_s=1.0, linger_s=5.0) as watchdog:
        for step in range(3):
            dist.barrier()
            watchdog.beat(step)
        if info.rank == 1:
            sleep_forever_in_step()
        dist.barrier()  # the others wait here for rank 1
    teardown()


def stragglers() -> None:
    info = setup(timeout_s=120)
    monitor = StragglerMonitor(every_n=4, threshold=0.2)
    reports = {}
    for step in range(1, 9):
        step_time = 0.3 if info.rank == 1 else 0.1
        found = monitor.record(step, step_time)
        if found:
            reports[step] = [(s.rank, s.host, round(s.step_time_s, 6), round(s.median_s, 6))
                             for s in found]
    emit({"rank": info.rank, "reports": reports, "last": monitor.last_step_times})
    teardown()


if __name__ == "__main__":
    {"collectives": collectives, "hang": hang, "stragglers": stragglers}[sys.argv[1]]()
