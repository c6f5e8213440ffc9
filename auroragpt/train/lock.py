"""One writer per run directory: RUN_DIR/.lock names the run that holds it.

The lock file is created with a hard link (atomic on local disks, NFS and Lustre alike, unlike
`O_EXCL` on old NFS or `flock`, which Lustre may not honour across nodes) and holds
`host pid started`. The holder touches it every `HEARTBEAT_S` seconds from a daemon thread.
A second writer is refused, naming the holder, unless the lock is stale:

- on the same host: its process no longer exists (a killed or crashed run);
- from another host, whose processes we cannot see: its heartbeat is older than
  `STALE_AFTER_S` (a dead node stops touching it).

A stale lock is taken over by renaming it away first, which only one of several racing
writers can do.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

LOCK_FILE = ".lock"
HEARTBEAT_S = 30.0
STALE_AFTER_S = 300.0


class RunDirLockedError(RuntimeError):
    """Another live run writes to this run directory."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


class RunDirLock:
    """Held while a run writes to `run_dir` (context manager; `acquire` / `release`)."""

    def __init__(self, run_dir: Path, heartbeat_s: float = HEARTBEAT_S,
                 stale_after_s: float = STALE_AFTER_S):
        self.path = Path(run_dir) / LOCK_FILE
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self.identity = f"{socket.gethostname()} {os.getpid()} {time.time():.0f}\n"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> RunDirLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        mine = self.path.with_name(f"{LOCK_FILE}.{socket.gethostname()}.{os.getpid()}")
        mine.write_text(self.identity)
        try:
            for _ in range(3):  # at most: create, find it stale and move it away, create
                try:
                    os.link(mine, self.path)
                    break
                except FileExistsError:
                    holder = self._stale_holder()
                    if holder is None:
                        continue  # it vanished meanwhile: try again
                    self._take_over(holder)
            else:
                raise RunDirLockedError(f"{self.path}: could not be acquired (contended)")
        finally:
            mine.unlink(missing_ok=True)
        self._thread = threading.Thread(target=self._beat, name="run-dir-lock", daemon=True)
        self._thread.start()

    def _stale_holder(self) -> str | None:
        """The holder's line if its lock is stale; raise naming it if it is live."""
        try:
            text = self.path.read_text()
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return None
        host, pid = _parse(text)
        if host == socket.gethostname():
            stale = pid is None or not _pid_alive(pid)
        else:
            stale = age > self.stale_after_s
        if not stale:
            who = f"process {pid} on {host}" if pid is not None else repr(text[:60])
            raise RunDirLockedError(
                f"{self.path.parent}: another run is writing here ({who}, heartbeat "
                f"{age:.0f} s ago); wait for it to finish or use another --run-dir (a lock of "
                f"a dead process on another host is taken over after {self.stale_after_s:g} s)")
        return text

    def _take_over(self, holder: str) -> None:
        moved = self.path.with_name(f"{LOCK_FILE}.stale.{os.getpid()}")
        try:
            os.rename(self.path, moved)
        except FileNotFoundError:
            return  # another writer took it over first; the next link attempt decides
        if moved.read_text() != holder:  # a fresh lock replaced the stale one meanwhile
            os.rename(moved, self.path)
            raise RunDirLockedError(f"{self.path}: taken by another run while we looked")
        moved.unlink(missing_ok=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            try:
                if self.path.read_text() == self.identity:
                    self.path.unlink()
            except FileNotFoundError:
                pass


def _parse(text: str) -> tuple[str, int | None]:
    parts = text.split()
    try:
        return parts[0], int(parts[1])
    except (IndexError, ValueError):
        return "?", None
