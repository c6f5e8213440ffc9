"""A rank of the fake-cluster tests, started by `auroragpt launch --machine mpich`.

Modes (argv[1]):
- layout: setup(), then an all-reduce of (rank + 1) and an all-gather of host names; prints
  one JSON line per rank with its DistInfo and what the collectives returned.
- hang R: every rank beats a 2 s watchdog for three steps; rank R then blocks in
  `stuck_in_step` while the others wait for it in a barrier.
- die R: after three barriers rank R kills itself with SIGKILL; the others wait for it.
- straggle GO: prints a ready line per rank, waits until the file GO exists (the test slows a
  host meanwhile), then runs eight steps of the same fixed CPU work on every rank, timed
  without the collective; prints the straggler report of every gather step (every 4 steps).
"""

import os
import signal
import socket
import sys
import time

import torch
import torch.distributed as dist
from worker import emit

from auroragpt.distributed import StragglerMonitor, Watchdog, setup, teardown


def layout() -> None:
    info = setup(timeout_s=120)
    summed = torch.tensor([float(info.rank + 1)])
    dist.all_reduce(summed)
    hosts = [""] * info.world_size
    dist.all_gather_object(hosts, socket.gethostname())
    emit({"rank": info.rank, "world_size": info.world_size, "local_rank": info.local_rank,
          "local_world_size": info.local_world_size, "node_rank": info.node_rank,
          "num_nodes": info.num_nodes, "host": info.host, "launcher": info.launcher,
          "backend": info.backend, "all_reduce": summed.item(), "hosts": hosts,
          "master_addr": os.environ.get("MASTER_ADDR")})
    teardown()


def stuck_in_step() -> None:
    while True:
        time.sleep(0.05)


def hang(stuck_rank: int) -> None:
    info = setup(timeout_s=600)
    with Watchdog(timeout_s=2.0, linger_s=5.0) as watchdog:
        for step in range(3):
            dist.barrier()
            watchdog.beat(step)
        if info.rank == stuck_rank:
            stuck_in_step()
        dist.barrier()  # the others wait here for the stuck rank
    teardown()


def die(dead_rank: int) -> None:
    info = setup(timeout_s=600)
    for _ in range(3):
        dist.barrier()
    emit({"rank": info.rank, "pid": os.getpid(), "host": info.host})
    if info.rank == dead_rank:
        os.kill(os.getpid(), signal.SIGKILL)
    dist.barrier()  # never completes: the dead rank does not come
    teardown()


def straggle(go_file: str) -> None:
    info = setup(timeout_s=300)
    torch.set_num_threads(1)
    emit({"ready": info.rank})
    if info.rank == 0:
        while not os.path.exists(go_file):
            time.sleep(0.05)
    dist.barrier()
    # ~40 ms of one core per step: far more than a 2 % CPU cap allows in a 100 ms period
    a = torch.randn(192, 192) / 192**0.5
    monitor = StragglerMonitor(every_n=4, threshold=0.2)
    reports = {}
    for step in range(1, 9):
        dist.barrier()  # start every step together
        t0 = time.perf_counter()
        for _ in range(40):
            a = torch.tanh(a @ a)  # (192, 192), stays bounded
        found = monitor.record(step, time.perf_counter() - t0)
        if found:
            reports[step] = [(s.rank, s.host) for s in found]
    emit({"rank": info.rank, "host": info.host, "reports": reports,
          "last": monitor.last_step_times})
    teardown()


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "straggle":
        straggle(*args)
    else:
        {"layout": layout, "hang": hang, "die": die}[mode](*map(int, args))
