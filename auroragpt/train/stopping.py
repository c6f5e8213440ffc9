"""Stopping a run early, cleanly: on SIGTERM or SIGINT, or before a time budget runs out.

A batch system ends a job with SIGTERM (PBS at walltime, Slurm on preemption), a person with
Ctrl-C. Either only sets a flag; the loop sees it at the next step boundary, saves a checkpoint
and returns, so `--resume` continues from the very step the job reached. A second SIGINT
interrupts at once (the usual Ctrl-C Ctrl-C escape). `train.max_time` stops the same way once
another step would no longer fit into the budget.

In a multi-rank run every rank must stop after the same step: the ranks agree through one
small all-reduce per step (a rank that got the signal, or whose clock ran out, stops them all).
"""

from __future__ import annotations

import signal
import threading
import time

import torch
import torch.distributed as dist

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequests:
    """Context manager: while active, SIGTERM and SIGINT request a stop instead of killing."""

    def __init__(self, max_time: float = 0.0, started: float | None = None):
        self.max_time = max_time  # seconds; 0 = no budget
        self.started = time.monotonic() if started is None else started
        self.signal_name: str | None = None
        self._previous: dict = {}

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for signum in _SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        if signum == signal.SIGINT and self.signal_name is not None:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.signal_name = signal.Signals(signum).name

    def local_reason(self, step_seconds: float) -> str | None:
        """Why this rank wants to stop after the current step, or None."""
        if self.signal_name is not None:
            return self.signal_name
        elapsed = time.monotonic() - self.started
        if self.max_time > 0 and elapsed + step_seconds >= self.max_time:
            return f"train.max_time={self.max_time:g} s"
        return None

    def reason(self, step_seconds: float, device: torch.device) -> str | None:
        """Collective when distributed: the reason to stop now if any rank has one."""
        local = self.local_reason(step_seconds)
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return local
        # 0 = go on, 1 = time budget, 2 = a signal (the stronger reason wins)
        code = 0 if local is None else (2 if self.signal_name else 1)
        flag = torch.tensor([code], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if int(flag.item()) == 0:
            return None
        return local or ("a signal on another rank" if int(flag.item()) == 2
                         else "the time budget on another rank")
