"""The index cache: atomic array bundles, lock files, and work shared by whoever shows up.

Concurrency model. Work is cut into units, each producing one file. Every process that needs
the results (builder threads, every rank of a job, other jobs) runs the same loop:
take a unit whose file is missing by creating its lock file with O_CREAT|O_EXCL, build it,
write it under a temporary name and rename it into place, remove the lock; units locked by
someone else are skipped and, once nothing is left to take, waited for. So no process idles
while another builds, nobody reads a partial file, and nothing needs to know which ranks share
a filesystem: on a node-local cache each node's ranks simply split that node's work.

A lock whose holder stopped touching it (a heartbeat every few seconds) for `stale_s` is taken
over, so a crashed job cannot block the next one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from auroragpt.data.errors import DataError

_BUNDLE_MAGIC = b"AGBUNDL1"
_ALIGN = 64
_HEARTBEAT_S = 5.0
_MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)  # Linux's value


def stable_hash(obj: Any) -> str:
    """Hex key of a JSON-serialisable description (sorted keys, so order-independent)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def file_identity(path: str | Path) -> list:
    """What says a file changed without reading it: absolute path, size and mtime."""
    stat = os.stat(path)
    return [os.path.abspath(path), stat.st_size, stat.st_mtime_ns]


def write_text_atomic(path: str | Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Bundles: several named arrays and a JSON header in one file, read back with mmap
# ---------------------------------------------------------------------------------------------


ArraySpecs = dict[str, tuple[np.dtype, tuple[int, ...]]]  # name -> (dtype, shape)


def in_memory(specs: ArraySpecs) -> dict[str, np.ndarray]:
    """Arrays for `specs` in ordinary memory (the allocator for results nobody caches)."""
    return {name: np.empty(shape, dtype) for name, (dtype, shape) in specs.items()}


def _layout(specs: ArraySpecs) -> tuple[dict, int]:
    layout, offset = {}, 0
    for name, (dtype, shape) in specs.items():
        offset = -(-offset // _ALIGN) * _ALIGN
        layout[name] = {"dtype": np.dtype(dtype).str, "shape": list(shape), "offset": offset}
        offset += int(np.prod(shape)) * np.dtype(dtype).itemsize
    return layout, offset


def _data_start(header_bytes: int) -> int:
    return -(-(len(_BUNDLE_MAGIC) + 8 + header_bytes) // _ALIGN) * _ALIGN


class NewBundle:
    """A bundle being written: `allocate(specs)` returns writable arrays that live in the
    (temporary) file itself, so whatever fills them writes the file with no extra copy.

    Used as a context manager: the file is renamed into place on a clean exit, and removed
    on an exception. NOTE: no fsync. Readers never see a partial file (the rename is atomic);
    only a machine crash can leave a short one behind, which `bundle_complete` detects and the
    next build replaces. An fsync per file cost ~15% of a cold build, for rebuildable data.
    """

    def __init__(self, path: str | Path, meta: dict | None = None):
        self.path, self.meta = Path(path), meta or {}
        self.tmp = self.path.with_name(f"{self.path.name}.tmp{os.getpid()}.{threading.get_ident()}")
        self.allocated = False

    def allocate(self, specs: ArraySpecs) -> dict[str, np.ndarray]:
        if self.allocated:
            raise RuntimeError(f"{self.path}: a bundle's arrays are allocated once")
        self.allocated = True
        layout, end = _layout(specs)
        header = json.dumps({"meta": self.meta, "arrays": layout, "bytes": end}).encode()
        data_start = _data_start(len(header))
        with open(self.tmp, "wb") as f:
            f.write(_BUNDLE_MAGIC + len(header).to_bytes(8, "little") + header)
            f.truncate(data_start + end)
        return _views(self.tmp, layout, data_start, end, writable=True)

    def __enter__(self) -> NewBundle:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        try:
            if kind is None:
                if not self.allocated:
                    self.allocate({})
                os.replace(self.tmp, self.path)
        finally:
            self.tmp.unlink(missing_ok=True)


def write_bundle(path: str | Path, arrays: dict[str, np.ndarray], meta: dict | None = None) -> None:
    """Write arrays + metadata to `path` atomically (see `NewBundle`)."""
    with NewBundle(path, meta) as bundle:
        out = bundle.allocate({name: (a.dtype, a.shape) for name, a in arrays.items()})
        for name, array in arrays.items():
            out[name][...] = array


def _views(path: Path, layout: dict, data_start: int, end: int,
           writable: bool = False) -> dict[str, np.ndarray]:
    mm = None
    if end:
        with open(path, "r+b" if writable else "rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ)
        if writable:  # map every page in one call instead of faulting them in one by one
            with contextlib.suppress(OSError):  # kernels before 5.14 lack it: just fault
                mm.madvise(_MADV_POPULATE_WRITE)
    arrays = {}
    for name, spec in layout.items():
        dtype, shape = np.dtype(spec["dtype"]), tuple(spec["shape"])
        count = int(np.prod(shape))
        if count == 0:
            arrays[name] = np.zeros(shape, dtype)
            continue
        start = data_start + spec["offset"]
        arrays[name] = np.frombuffer(mm, dtype, count, start).reshape(shape)
    return arrays


def _read_header(path: Path) -> tuple[dict, int]:
    with open(path, "rb") as f:
        head = f.read(len(_BUNDLE_MAGIC) + 8)
        if head[:8] != _BUNDLE_MAGIC:
            raise DataError(f"{path}: not an index-cache bundle (bad magic)")
        header_bytes = int.from_bytes(head[8:], "little")
        try:
            header = json.loads(f.read(header_bytes))
        except ValueError:
            raise DataError(f"{path}: index-cache bundle with a damaged header") from None
    return header, _data_start(header_bytes)


def bundle_complete(path: str | Path) -> bool:
    """True if `path` is a whole bundle (right magic, readable header, every byte present)."""
    path = Path(path)
    try:
        header, data_start = _read_header(path)
        return path.stat().st_size == data_start + header["bytes"]
    except (OSError, DataError, KeyError):
        return False


def read_bundle(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """Arrays (read-only mmap views) and metadata of a bundle."""
    path = Path(path)
    header, data_start = _read_header(path)
    size = path.stat().st_size
    if size != data_start + header["bytes"]:
        raise DataError(f"{path}: index-cache bundle of {size} bytes, expected "
                        f"{data_start + header['bytes']}: delete it and build again")
    return _views(path, header["arrays"], data_start, header["bytes"]), header["meta"]


# ---------------------------------------------------------------------------------------------
# Locks and shared work
# ---------------------------------------------------------------------------------------------


@dataclass
class Unit:
    """One piece of work: `build(unit)` must create `path` (atomically)."""

    path: Path
    payload: Any  # whatever the build function needs; must be picklable for worker processes


class _Heartbeat:
    """Keep a lock file's mtime fresh while its unit is being built."""

    def __init__(self, lock: Path):
        self.lock, self.stop = lock, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(_HEARTBEAT_S):
            try:
                os.utime(self.lock)
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def _try_lock(lock: Path, stale_s: float) -> bool:
    owner = f"{socket.gethostname()} {os.getpid()} {time.time():.0f}\n".encode()
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not _break_if_stale(lock, stale_s):
                return False
            continue
        with os.fdopen(fd, "wb") as f:
            f.write(owner)
        return True
    return False


def _break_if_stale(lock: Path, stale_s: float) -> bool:
    """Remove a lock whose holder is gone; True if the caller may retry."""
    try:
        age = time.time() - lock.stat().st_mtime
        host, pid, _ = lock.read_text().split()
    except (FileNotFoundError, ValueError):
        return True  # released meanwhile, or being written: retry once
    dead_here = host == socket.gethostname() and not _pid_alive(int(pid))
    if age > stale_s or dead_here:
        lock.unlink(missing_ok=True)
        return True
    return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_units(units: Sequence[Unit], build: Callable[[Unit], None], worker: int = 0,
              stale_s: float = 60.0, poll_s: float = 0.05,
              on_progress: Callable[[int], None] | None = None,
              wait: bool = True) -> int:
    """Build missing units (sharing them with every other caller); returns how many we built.

    `worker` rotates the starting unit so concurrent callers begin in different places.
    With `wait`, return only when every unit's file exists.
    """
    order = [units[(worker + i) % len(units)] for i in range(len(units))] if units else []
    built = 0
    pending = []
    for unit in order:
        if unit.path.exists():
            continue
        lock = unit.path.with_name(unit.path.name + ".lock")
        if not _try_lock(lock, stale_s):
            pending.append(unit)
            continue
        heartbeat = _Heartbeat(lock)
        try:
            if not unit.path.exists():  # someone finished it between our check and our lock
                build(unit)
                built += 1
        finally:
            heartbeat.close()
            lock.unlink(missing_ok=True)
        if on_progress:
            on_progress(sum(u.path.exists() for u in units))
    while wait and pending:
        still = []
        for unit in pending:
            if unit.path.exists():
                continue
            lock = unit.path.with_name(unit.path.name + ".lock")
            if lock.exists() and not _break_if_stale(lock, stale_s):
                still.append(unit)
                continue
            built += run_units([unit], build, stale_s=stale_s, wait=False)
            if not unit.path.exists():
                still.append(unit)
        if on_progress:
            on_progress(sum(u.path.exists() for u in units))
        pending = still
        if pending:
            time.sleep(poll_s)
    return built
