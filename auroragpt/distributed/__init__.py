"""Distributed runtime: one `setup()` for every launcher, launch lines for Aurora, Polaris and
MPICH clusters, and the watchdog and straggler report that keep a large job honest.

    from auroragpt.distributed import setup, teardown, Watchdog, StragglerMonitor

    info = setup()                      # DistInfo(rank, local_rank, node_rank, world_size, ...)
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

Pure decisions (launcher, ranks, device, backend, launch lines) live in `env` and `launcher`,
the side effects of joining a job in `runtime`; see docs/distributed.md. Names are imported on
first use, so the torch-free modules (`env`, `launcher`, `supervise`) start in milliseconds:
`supervise` runs once per rank.
"""

from auroragpt.lazy import lazy_exports

_EXPORTS = {
    "Accelerators": "auroragpt.distributed.env",
    "DistEnvError": "auroragpt.distributed.env",
    "RankInfo": "auroragpt.distributed.env",
    "choose_backend": "auroragpt.distributed.env",
    "choose_device": "auroragpt.distributed.env",
    "DistInfo": "auroragpt.distributed.runtime",
    "setup": "auroragpt.distributed.runtime",
    "teardown": "auroragpt.distributed.runtime",
    "Straggler": "auroragpt.distributed.stragglers",
    "StragglerMonitor": "auroragpt.distributed.stragglers",
    "find_stragglers": "auroragpt.distributed.stragglers",
    "WATCHDOG_EXIT_CODE": "auroragpt.distributed.watchdog",
    "Watchdog": "auroragpt.distributed.watchdog",
    "WatchdogTimeout": "auroragpt.distributed.watchdog",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports("auroragpt.distributed", _EXPORTS)
