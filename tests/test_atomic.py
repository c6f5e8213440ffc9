"""Atomic writes: the target holds the old bytes or the new ones, never a part, and no
temporary file is left behind."""

import os
import stat
import threading

import pytest

from auroragpt.atomic import atomic_path, atomic_write_bytes, atomic_write_text


def test_write_replaces_whole_file_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "sub" / "config.yaml"  # parent created
    atomic_write_text(target, "old\n")
    atomic_write_bytes(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    assert os.listdir(target.parent) == ["config.yaml"]


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "plot.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="half-way"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            assert target.read_bytes() == b"old"  # the new bytes are not visible yet
            raise RuntimeError("half-way")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["plot.png"]


def test_mode_is_applied_and_default_follows_the_umask(tmp_path):
    umask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "job.sh", "#!/bin/bash\n", mode=0o755)
        atomic_write_text(tmp_path / "plain.txt", "x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "job.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == 0o644  # 0o666 & ~0o022


def test_concurrent_writers_each_leave_a_whole_file(tmp_path):
    """Writers racing on one target: the result is exactly one writer's bytes."""
    target = tmp_path / "shared.bin"
    payloads = [bytes([i]) * 200_000 for i in range(8)]
    barrier = threading.Barrier(len(payloads))

    def write(data: bytes) -> None:
        barrier.wait()
        atomic_write_bytes(target, data)

    threads = [threading.Thread(target=write, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert target.read_bytes() in payloads
    assert os.listdir(tmp_path) == ["shared.bin"]
