"""A step heartbeat that turns a hung rank into a fast, loud failure instead of a silent one.

A distributed job whose rank is stuck (a collective some rank never joins, a dead file system,
a deadlocked data loader) waits until the collective timeout (often 30 minutes or more) or
for ever, burning the whole allocation. With a `Watchdog` the training loop calls `.beat(step)`
after every step; if no beat arrives for `timeout_s`, the rank prints who and where it is,
dumps the stack of every thread and exits with `WATCHDOG_EXIT_CODE`. The launcher (torchrun,
mpiexec, srun) then takes down the other ranks, so the job ends within about `timeout_s`.

    with Watchdog(timeout_s=300) as watchdog:
        for step in range(steps):
            train_step()
            watchdog.beat(step)

Two layers: a Python monitor thread writes the readable report (with thread names) and calls
`on_timeout`; and, because a C call that never releases the GIL freezes Python threads too,
`faulthandler`'s C-level timer is kept armed `timeout_s + grace_s` ahead by that monitor, so a
rank whose interpreter is frozen still dumps its stacks and exits.
"""

from __future__ import annotations

import faulthandler
import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

WATCHDOG_EXIT_CODE = 124  # the code `timeout(1)` uses for "took too long"


@dataclass(frozen=True)
class WatchdogTimeout:
    """What the watchdog knew when it fired; passed to `on_timeout`."""

    label: str  # "rank R on HOST"
    last_step: int | None  # step of the last beat (None: no beat yet)
    idle_s: float  # seconds since the last beat (or since start)
    limit_s: float  # the limit that was exceeded


class Watchdog:
    """Exit this process if `.beat()` is not called for `timeout_s` seconds.

    Args:
        timeout_s: longest allowed gap between beats; `<= 0` or None disables the watchdog.
        on_timeout: called with a `WatchdogTimeout` after the stack dump and before exiting
            (e.g. to write a last metrics line); its exceptions are printed, not raised.
        startup_timeout_s: limit before the first beat, for a slow first step (compilation,
            data preparation); defaults to `timeout_s`.
        exit_code: process exit status on timeout.
        grace_s: extra time the C-level backstop waits for the Python monitor.
        linger_s: pause between the dump and the exit (default: min(timeout_s, 10)). Ranks
            whose watchdogs expire at about the same moment then all dump their stacks before
            the launcher, reacting to the first exit, kills the rest: the rank that hangs is
            on record, not only the ranks that wait for it.
        stream: where the report goes (default: the process's real stderr).
    """

    def __init__(self, timeout_s: float | None, on_timeout: Callable[[WatchdogTimeout], None]
                 | None = None, *, startup_timeout_s: float | None = None,
                 exit_code: int = WATCHDOG_EXIT_CODE, grace_s: float = 30.0,
                 linger_s: float | None = None, stream: TextIO | None = None):
        self.timeout_s = float(timeout_s or 0.0)
        self.startup_timeout_s = float(startup_timeout_s or self.timeout_s)
        self.on_timeout = on_timeout
        self.exit_code = exit_code
        self.grace_s = grace_s
        self.linger_s = min(self.timeout_s, 10.0) if linger_s is None else linger_s
        self._stream = stream
        self._poll_s = min(1.0, max(self.timeout_s / 20, 0.01))
        self._lock = threading.Lock()
        self._last_beat = time.monotonic()
        self._last_step: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return self.timeout_s > 0

    def start(self) -> Watchdog:
        """Start watching; the first limit (`startup_timeout_s`) counts from now."""
        if not self.enabled or self._thread is not None:
            return self
        self._last_beat = time.monotonic()
        self._stop.clear()
        # Armed here too: the interpreter may freeze before the monitor's first poll.
        faulthandler.dump_traceback_later(self.startup_timeout_s + self.grace_s, exit=True,
                                          file=_fileno_stream(self._report_stream()))
        self._thread = threading.Thread(target=self._monitor, name="auroragpt-watchdog",
                                        daemon=True)
        self._thread.start()
        return self

    def beat(self, step: int | None = None) -> None:
        """Record progress; cheap enough to call every step."""
        with self._lock:
            self._last_beat = time.monotonic()
            self._last_step = step

    def stop(self) -> None:
        """Stop watching (e.g. before a long evaluation or at the end of training)."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        faulthandler.cancel_dump_traceback_later()

    def __enter__(self) -> Watchdog:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------

    def _monitor(self) -> None:
        stream = self._report_stream()
        while not self._stop.wait(self._poll_s):
            with self._lock:
                idle = time.monotonic() - self._last_beat
                step = self._last_step
            limit = self.startup_timeout_s if step is None else self.timeout_s
            if idle > limit:
                self._fire(WatchdogTimeout(_rank_label(), step, idle, limit), stream)
                return
            # Only fires if this thread cannot run for the whole limit plus grace.
            faulthandler.dump_traceback_later(limit - idle + self.grace_s, exit=True,
                                              file=_fileno_stream(stream))

    def _fire(self, event: WatchdogTimeout, stream: TextIO) -> None:
        faulthandler.cancel_dump_traceback_later()
        after = "before the first step" if event.last_step is None else f"after step {event.last_step}"
        # One write, so reports of ranks that time out together do not interleave line by line.
        stream.write(f"\n[auroragpt watchdog] {event.label}: no progress for {event.idle_s:.1f} s "
                     f"(limit {event.limit_s:g} s) {after}; stacks of all threads follow, then "
                     f"exit code {self.exit_code}\n{format_all_stacks()}")
        stream.flush()
        if self.on_timeout is not None:
            try:
                self.on_timeout(event)
            except Exception:  # the exit below matters more than a failing callback
                traceback.print_exc(file=stream)
        for out in (sys.stdout, stream):
            try:
                out.flush()
            except (OSError, ValueError):
                pass
        time.sleep(self.linger_s)
        # NOTE: os._exit, not sys.exit: the main thread is stuck and cannot unwind, and atexit
        # handlers (MPI_Finalize, process-group teardown) would block on the same hang.
        os._exit(self.exit_code)

    def _report_stream(self) -> TextIO:
        return self._stream or sys.__stderr__ or sys.stderr


def format_all_stacks() -> str:
    """Stack of every Python thread, innermost call last, headed by the thread's name."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    me = threading.get_ident()
    parts = []
    for ident, frame in sys._current_frames().items():
        if ident == me:
            continue
        parts.append(f"\nThread {names.get(ident, '?')} (id {ident}), most recent call last:\n")
        parts.extend(traceback.format_stack(frame))
    return "".join(parts)


def _rank_label() -> str:
    rank = os.environ.get("RANK", "0")
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            rank = str(dist.get_rank())
    except ImportError:
        pass
    return f"rank {rank} on {socket.gethostname()} (pid {os.getpid()})"


def _fileno_stream(stream: TextIO) -> TextIO:
    """faulthandler writes to a file descriptor; fall back to the real stderr if `stream` has none."""
    try:
        stream.fileno()
        return stream
    except (AttributeError, OSError, ValueError):
        return sys.__stderr__
