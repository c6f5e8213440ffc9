"""The index cache: atomic array bundles, lock files, and work shared by whoever shows up.

Concurrency model. Work is cut into units, each producing one file. Every process that needs
the results (builder threads, every rank of a job, other jobs) runs the same loop:
take a unit whose file is missing by taking its lock (a `filelock.SoftFileLease`: a marker
file created exclusively), build it, write it under a temporary name and rename it into place,
release the lock; units locked by someone else are skipped and, once nothing is left to take,
waited for. So no process idles
while another builds, nobody reads a partial file, and nothing needs to know which ranks share
a filesystem: on a node-local cache each node's ranks simply split that node's work.

A lock whose holder is a dead process on this host is taken over at once, and one whose holder
stopped refreshing it (a heartbeat every few seconds) for `stale_s` seconds is taken over by
whoever watched it that long, so a crashed job cannot block the next one. Every caller on one
cache must use the same `stale_s` (filelock refuses a mismatch).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from filelock import SoftFileLease, Timeout

from auroragpt.atomic import atomic_path
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
        self.file = atomic_path(path)
        self.allocated = False

    def allocate(self, specs: ArraySpecs) -> dict[str, np.ndarray]:
        if self.allocated:
            raise RuntimeError(f"{self.path}: a bundle's arrays are allocated once")
        self.allocated = True
        layout, end = _layout(specs)
        header = json.dumps({"meta": self.meta, "arrays": layout, "bytes": end}).encode()
        data_start = _data_start(len(header))
        with open(self.file.tmp, "wb") as f:
            f.write(_BUNDLE_MAGIC + len(header).to_bytes(8, "little") + header)
            f.truncate(data_start + end)
        return _views(self.file.tmp, layout, data_start, end, writable=True)

    def __enter__(self) -> NewBundle:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None:
            self.file.discard()
            return
        try:
            if not self.allocated:
                self.allocate({})
        except BaseException:
            self.file.discard()
            raise
        self.file.commit()


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


def _lease(unit: Unit, stale_s: float) -> SoftFileLease:
    """The lock of a unit: a marker file `<file>.lock` beside it, kept fresh by a heartbeat
    thread while held. NOTE: a marker file, not flock: ranks on several hosts share a parallel
    filesystem, where flock may be unsupported or local to each client."""
    return SoftFileLease(unit.path.with_name(unit.path.name + ".lock"), lease_duration=stale_s,
                         heartbeat_interval=min(_HEARTBEAT_S, stale_s / 3))


def _build_if_free(unit: Unit, lease: SoftFileLease, build: Callable[[Unit], None]) -> int | None:
    """Build `unit` under its lease: 1 if built here, 0 if it was done meanwhile, None if
    someone else holds the lease. A dead holder's lease is taken over (see the module note)."""
    try:
        lease.acquire(blocking=False)
    except Timeout:
        return None
    try:
        if unit.path.exists():  # someone finished it between our check and our lock
            return 0
        build(unit)
        return 1
    finally:
        lease.release()


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
        lease = _lease(unit, stale_s)
        done = _build_if_free(unit, lease, build)
        if done is None:
            pending.append((unit, lease))
            continue
        built += done
        if on_progress:
            on_progress(sum(u.path.exists() for u in units))
    while wait and pending:
        still = []
        # the same lease objects each pass: they time how long a holder's marker stays unchanged
        for unit, lease in pending:
            if unit.path.exists():
                continue
            done = _build_if_free(unit, lease, build)
            if done is None:
                still.append((unit, lease))
            else:
                built += done
        if on_progress:
            on_progress(sum(u.path.exists() for u in units))
        pending = still
        if pending:
            time.sleep(poll_s)
    return built
