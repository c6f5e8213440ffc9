"""Find the ranks that hold everyone back.

In synchronous data-parallel training every step waits for the slowest rank, so one node with
a throttled GPU, a noisy neighbour or a slow file system sets the pace of thousands (the
AuroraGPT experience: a job is only as good as its worst rank). `StragglerMonitor` collects
each rank's step times and, every `every_n` steps, gathers the window means from all ranks and
names the ranks slower than the median by more than `threshold`, with their host.

    monitor = StragglerMonitor(every_n=50, threshold=0.2)
    for step in range(1, steps + 1):
        t0 = time.perf_counter(); train_step()
        for slow in monitor.record(step, time.perf_counter() - t0):
            print(slow)

`record()` is collective on gather steps: every rank must call it with the same step numbers.
Without a process group it never communicates and reports nothing.
"""

from __future__ import annotations

import socket
import statistics
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Straggler:
    """A rank whose mean step time exceeds the median of all ranks by more than the threshold."""

    rank: int
    host: str
    step_time_s: float  # this rank's mean step time over the window
    median_s: float  # median over ranks of the window mean step time
    step: int  # the gather step that found it

    @property
    def slowdown(self) -> float:
        """How much slower than the median, as a fraction (0.25 = 25 % slower)."""
        return self.step_time_s / self.median_s - 1.0

    def __str__(self) -> str:
        return (f"straggler at step {self.step}: rank {self.rank} on {self.host} "
                f"{self.step_time_s * 1e3:.1f} ms/step vs median {self.median_s * 1e3:.1f} ms "
                f"(+{self.slowdown:.0%})")


def find_stragglers(step_times: list[float], hosts: list[str], threshold: float,
                    step: int = 0) -> list[Straggler]:
    """Ranks (indices into `step_times`) slower than the median by more than `threshold`, slowest first."""
    if len(step_times) != len(hosts):
        raise ValueError(f"{len(step_times)} step times but {len(hosts)} hosts")
    if not step_times:
        return []
    median = statistics.median(step_times)
    if median <= 0:
        return []
    slow = [Straggler(rank, hosts[rank], t, median, step)
            for rank, t in enumerate(step_times) if t > median * (1.0 + threshold)]
    return sorted(slow, key=lambda s: s.step_time_s, reverse=True)


class StragglerMonitor:
    """Per-rank step timer that reports slow ranks every `every_n` steps.

    Args:
        every_n: gather every this many steps (steps where `step % every_n == 0`).
        threshold: a rank is slow when its mean step time exceeds the median by this fraction.
        device: where the gather tensor lives; must suit the backend (default: CPU for gloo,
            else the current accelerator).
        group: process group to gather over (default: the world).
    """

    def __init__(self, every_n: int = 50, threshold: float = 0.2,
                 device: torch.device | str | None = None, group=None):
        if every_n < 1:
            raise ValueError(f"every_n={every_n} must be >= 1")
        if threshold < 0:
            raise ValueError(f"threshold={threshold} must be >= 0")
        self.every_n = every_n
        self.threshold = threshold
        self.group = group
        self._device = torch.device(device) if device is not None else None
        self._window: list[float] = []
        self._hosts: list[str] | None = None
        self.last_step_times: list[float] = []  # window means of every rank at the last gather

    def record(self, step: int, step_time_s: float) -> list[Straggler]:
        """Add this rank's time for `step`; on gather steps return the slow ranks (else [])."""
        self._window.append(float(step_time_s))
        if step % self.every_n != 0:
            return []
        mean = sum(self._window) / len(self._window)
        self._window.clear()
        if not (dist.is_available() and dist.is_initialized()):
            self.last_step_times = [mean]
            return []
        self.last_step_times = self._gather(mean)
        return find_stragglers(self.last_step_times, self._all_hosts(), self.threshold, step)

    def _gather(self, value: float) -> list[float]:
        device = self._device or _collective_device(self.group)
        world = dist.get_world_size(self.group)
        mine = torch.tensor([value], dtype=torch.float32, device=device)
        gathered = [torch.empty_like(mine) for _ in range(world)]
        dist.all_gather(gathered, mine, group=self.group)
        return [t.item() for t in gathered]

    def _all_hosts(self) -> list[str]:
        if self._hosts is None:  # hosts never change: gather them once
            hosts: list[str | None] = [None] * dist.get_world_size(self.group)
            dist.all_gather_object(hosts, socket.gethostname(), group=self.group)
            self._hosts = [str(h) for h in hosts]
        return self._hosts


def _collective_device(group=None) -> torch.device:
    """A device the group's backend can communicate from: CPU for gloo, else the accelerator."""
    if dist.get_backend(group) == "gloo":
        return torch.device("cpu")
    accelerator = torch.accelerator.current_accelerator()
    if accelerator is None:
        return torch.device("cpu")
    return torch.device(accelerator.type, torch.accelerator.current_device_index())
