"""Concurrent index builders on one cache directory, stale locks, atomic bundles."""

from __future__ import annotations

import json
import multiprocessing
import os

import numpy as np

from auroragpt.data import cache as index_cache
from auroragpt.data import open_blend, parse_file_list


def _build(text, cache_dir, rank, results=None):
    ds = open_blend(parse_file_list(text, "list"), 16, 5000, 3, cache_dir, rank=rank,
                    workers=2, progress=False)
    result = ds.corpus_index.copy(), ds.file_sample.copy(), [ds[k]["tokens"] for k in (0, 777)]
    if results is not None:
        results.put(result)
    return result


def test_concurrent_builders_share_work_and_agree(corpus_files, tmp_path, monkeypatch):
    # NOTE: small chunks make several units, so the processes really split the work.
    import auroragpt.data.blended as blended

    monkeypatch.setattr(blended, "_CHUNK_FILES", 1)
    text = "".join(f"{i + 1} {p} c{i % 3}\n" for i, p in enumerate(corpus_files))
    reference = _build(text, str(tmp_path / "alone"), 0)
    shared = str(tmp_path / "shared")
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    ranks = [context.Process(target=_build, args=(text, shared, rank, queue)) for rank in range(4)]
    for process in ranks:  # four "ranks", each with two local builder processes
        process.start()
    results = [queue.get(timeout=300) for _ in ranks]
    for process in ranks:
        process.join()
        assert process.exitcode == 0
    for corpus, sample, tokens in results:
        np.testing.assert_array_equal(corpus, reference[0])
        np.testing.assert_array_equal(sample, reference[1])
        for a, b in zip(tokens, reference[2], strict=True):
            np.testing.assert_array_equal(a, b)
    records = [json.loads(line) for line in open(os.path.join(shared, "build-index.jsonl"))]
    assert sum(r["built_here"] for r in records) <= records[0]["units"]  # each unit built once
    assert not [f for f in os.listdir(shared) if ".lock" in f or ".tmp" in f]


def _hold_lock(target, locked, release, then_write: bool) -> None:
    """In a child process: hold `target`'s unit lock; on `release`, optionally write the unit,
    then die without releasing (then_write=False) or release normally."""
    lease = index_cache._lease(index_cache.Unit(target, None), stale_s=60.0)
    lease.acquire(blocking=False)
    locked.set()
    release.wait(timeout=120)
    if then_write:
        index_cache.write_bundle(target, {"x": np.arange(5)})
        lease.release()
    else:
        os._exit(0)  # dies holding the lock: its marker stays behind


def test_lock_of_a_dead_process_is_taken_over(tmp_path):
    target = tmp_path / "unit.agb"
    context = multiprocessing.get_context("fork")
    locked, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(target, locked, release, False))
    holder.start()
    assert locked.wait(timeout=60)
    release.set()
    holder.join(timeout=60)
    assert (tmp_path / "unit.agb.lock").exists()  # the dead holder's marker
    built = index_cache.run_units(
        [index_cache.Unit(target, None)],
        lambda unit: index_cache.write_bundle(unit.path, {"x": np.arange(3)}))
    assert built == 1 and target.exists() and not (tmp_path / "unit.agb.lock").exists()


def test_live_lock_is_waited_for(tmp_path):
    """A unit locked by a live process is not built again: the caller waits for its file. The
    holder finishes only once the caller is waiting (told by the progress callback)."""
    target = tmp_path / "unit.agb"
    context = multiprocessing.get_context("fork")
    locked, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(target, locked, release, True))
    holder.start()
    assert locked.wait(timeout=60)
    built = index_cache.run_units([index_cache.Unit(target, None)],
                                  lambda unit: (_ for _ in ()).throw(AssertionError("built twice")),
                                  on_progress=lambda done: release.set())
    holder.join(timeout=60)
    assert built == 0 and holder.exitcode == 0
    np.testing.assert_array_equal(index_cache.read_bundle(target)[0]["x"], np.arange(5))


def test_bundle_round_trip(tmp_path):
    arrays = {"a": np.arange(10, dtype=np.int16), "b": np.ones((3, 2), np.int64),
              "empty": np.zeros(0, np.uint32)}
    index_cache.write_bundle(tmp_path / "b.agb", arrays, {"k": [1, 2]})
    back, meta = index_cache.read_bundle(tmp_path / "b.agb")
    assert meta == {"k": [1, 2]}
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype
        np.testing.assert_array_equal(back[name], array)


def test_truncated_bundle_is_refused_and_rebuilt(corpus_files, tmp_path):
    """Bundles are not fsynced: a crash can leave a short one, which the next build replaces."""
    text = "".join(f"1 {p} c{i % 2}\n" for i, p in enumerate(corpus_files))
    reference = _build(text, str(tmp_path), 0)
    bundles = sorted(tmp_path.glob("gpt-*.agb"))
    assert bundles and all(index_cache.bundle_complete(p) for p in bundles)
    with open(bundles[0], "r+b") as f:
        f.truncate(f.seek(0, 2) - 1)
    assert not index_cache.bundle_complete(bundles[0])
    import pytest

    from auroragpt.data.errors import DataError

    with pytest.raises(DataError, match="expected .*delete it and build again"):
        index_cache.read_bundle(bundles[0])
    again = _build(text, str(tmp_path), 0)
    assert index_cache.bundle_complete(bundles[0])
    np.testing.assert_array_equal(again[1], reference[1])
    for a, b in zip(again[2], reference[2], strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_failing_builder_thread_stops_the_others(corpus_files, tmp_path, monkeypatch):
    """Bad input found by one thread is reported at once, not after every other unit."""
    import threading

    import pytest

    import auroragpt.data.blended as blended
    from auroragpt.data.errors import DataError

    monkeypatch.setattr(blended, "_CHUNK_FILES", 1)  # a unit per file
    real_build = blended._build_unit
    failed = threading.Event()

    def build(unit):
        kind, _, chunk = unit.payload
        if kind == "chunk" and chunk == 0:
            failed.set()
            raise DataError("bad input in chunk 0")
        failed.wait(timeout=60)  # a unit under way when chunk 0 fails is finished, nothing after
        real_build(unit)

    monkeypatch.setattr(blended, "_build_unit", build)
    text = "".join(f"1 {p} c{i % 2}\n" for i, p in enumerate(corpus_files * 2))
    with pytest.raises(DataError, match="bad input in chunk 0"):
        _build(text, str(tmp_path), 0)  # two builder threads
    assert len(list(tmp_path.glob("blend-*.agb"))) <= 1  # the other thread's first unit, if any
    assert not list(tmp_path.glob("gpt-*.agb"))  # no chunk: all come after the failure
    assert not [p for p in tmp_path.iterdir() if ".lock" in p.name or ".tmp" in p.name]
