"""Files that appear whole or not at all: written under a temporary name beside the target, then
renamed into place (a rename within one directory is atomic on POSIX filesystems).

The one helper for every file a reader may open while it is being written: configs, metrics,
plots, reports, tokenizers, job scripts, index-cache bundles, indexed datasets.

    atomic_write_text(path, text)              # or atomic_write_bytes(path, data)
    with atomic_path(path) as tmp:             # anything that writes to a path
        fig.savefig(tmp, format="png")         # renamed onto `path` if the block succeeds

NOTE: no fsync. A reader never sees a partial file, but a machine crash can lose the newest
write; everything written this way is rewritten or rebuilt by the next run. The temporary
name is hidden (leading dot), ends in `.tmp`, and is unique per call (several threads or
processes may write the same target; the last rename wins, each file whole). It is created
with the process's umask, like any new file (`tempfile.mkstemp` would make it 0600).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path


class AtomicPath:
    """A temporary path beside `path`: `commit()` renames it onto `path`, `discard()` removes it.

    As a context manager it yields the temporary path and commits on a clean exit, discards on
    an exception. Classes that write over several calls keep one and commit it themselves.
    """

    def __init__(self, path: str | Path, mode: int | None = None):
        self.path = Path(path)
        self.mode = mode  # permission bits of the final file (default: the umask's)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:12]}.tmp")

    def commit(self) -> Path:
        try:
            if self.mode is not None:
                os.chmod(self.tmp, self.mode)
            os.replace(self.tmp, self.path)
        finally:
            self.discard()  # only left behind when chmod or the rename failed
        return self.path

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> Path:
        return self.tmp

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


def atomic_path(path: str | Path, mode: int | None = None) -> AtomicPath:
    """`with atomic_path(path) as tmp:` write `tmp`; it becomes `path` when the block succeeds."""
    return AtomicPath(path, mode)


def atomic_write_bytes(path: str | Path, data: bytes, mode: int | None = None) -> Path:
    """Write `data` to `path` atomically (parent directories created)."""
    with atomic_path(path, mode) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, mode: int | None = None,
                      encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically (parent directories created)."""
    with atomic_path(path, mode) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)
