"""Distributed runtime: one `setup()` for every launcher, launch lines for Aurora and Polaris,
and the watchdog and straggler report that keep a large job honest.

    from auroragpt.distributed import setup, teardown, Watchdog, StragglerMonitor

    info = setup()                      # DistInfo(rank, local_rank, world_size, device, backend)
    monitor = StragglerMonitor(every_n=50, threshold=0.2)
    with Watchdog(timeout_s=600) as watchdog:
        for step in range(1, steps + 1):
            t0 = time.perf_counter()
            ...                          # forward, backward, step on info.device
            watchdog.beat(step)
            for slow in monitor.record(step, time.perf_counter() - t0):
                if info.is_main:
                    print(slow)
    teardown()

Pure decisions (launcher, ranks, device, backend, launch lines) live in `env` and `launcher`;
see docs/distributed.md.
"""

from auroragpt.distributed.env import (
    Accelerators,
    DistEnvError,
    RankInfo,
    choose_backend,
    choose_device,
)
from auroragpt.distributed.setup import DistInfo, setup, teardown
from auroragpt.distributed.stragglers import Straggler, StragglerMonitor, find_stragglers
from auroragpt.distributed.watchdog import WATCHDOG_EXIT_CODE, Watchdog, WatchdogTimeout

__all__ = [
    "Accelerators",
    "DistEnvError",
    "DistInfo",
    "RankInfo",
    "Straggler",
    "StragglerMonitor",
    "WATCHDOG_EXIT_CODE",
    "Watchdog",
    "WatchdogTimeout",
    "choose_backend",
    "choose_device",
    "find_stragglers",
    "setup",
    "teardown",
]
