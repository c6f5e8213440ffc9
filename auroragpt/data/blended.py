"""Blending a data-file-list: plan from `.idx` headers, build indices in parallel, read samples.

The blend is a two-level hierarchy, as in ALCF's Megatron-DeepSpeed:

1. Every file gets Megatron's share of the request: with weights w normalised over all files,
   file i contributes ceil(N * w_i) samples and its GPT indices are built for 0.5% more
   (megatron-core's `mid_level_dataset_surplus`), exactly as megatron-core sizes them.
2. Within a corpus, the files' samples are pooled and shuffled once, so the corpus is a
   uniform mixture of its files. A corpus of one file keeps its file's order.
3. Corpora are blended with megatron-core's greedy `build_blending_indices` on the corpus
   weights (the sums of their files' weights) for sum_i ceil(N * w_i) samples.

The greedy can ask a corpus for more than its files' targets: the blend holds sum_i
ceil(N * w_i) samples, several percent over N when thousands of files each round up, and a
corpus of few large files gets its weight's share of that excess. megatron-core allows a
file every sample of the epochs its indices span, not only the ones it was built for, so a
corpus short of the greedy's demand pools more of those samples (in weight proportion), and
a blend is refused only where megatron-core's would run out too.

When every file is its own corpus this is megatron-core's flat `BlendedDataset`, sample for
sample. The greedy runs over a handful of corpora instead of thousands of files, and the
per-file work is cut into chunks that every rank and builder thread shares (see `cache`).
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from auroragpt.atomic import atomic_write_text
from auroragpt.data import cache
from auroragpt.data.blending import (
    build_blending_indices,
    check_blend_weights,
    normalize,
    sample_targets,
)
from auroragpt.data.errors import DataError
from auroragpt.data.file_list import DataFileList
from auroragpt.data.gpt import (
    IndexBatch,
    SampleIndex,
    buffered_samples,
    build_sample_indices,
    offsets,
    plan_epochs,
    sample_tokens,
    split_documents,
)
from auroragpt.data.indexed import IndexedDataset, IndexHeader, bin_path
from auroragpt.data.kernels import MegatronRandom, greedy_blend_slots

FORMAT_VERSION = 5  # bump when the cached arrays change meaning
_CHUNK_WORK = 4_000_000  # document-index + sample entries per chunk file
_CHUNK_FILES = 256


@dataclass
class FilePlan:
    prefix: str
    corpus_id: int
    weight: float  # normalised over all files
    sequences: int  # sequences (documents) in the file
    documents: tuple[int, int]  # document range of the split
    tokens: int  # tokens per epoch of the split
    target: int  # samples this file contributes to the blend
    built: int  # samples its indices are built for (target + surplus)
    epochs: int
    capacity: int  # samples its `epochs` epochs hold (>= built): what megatron-core allows
    pooled: int = 0  # samples it offers its corpus: built, or more if the corpus is short


@dataclass
class BlendPlan:
    """Everything about a blend that follows from the list and the `.idx` headers."""

    source: str
    seq_length: int
    num_samples: int
    seed: int
    split: str
    split_name: str
    corpora: list[str]
    files: list[FilePlan]
    corpus_weights: list[float]  # normalised, the greedy's weights
    size: int  # samples in the blend: sum of the file targets (>= num_samples)
    chunks: list[list[int]] = field(default_factory=list)  # file ids per chunk file
    chunk_keys: list[str] = field(default_factory=list)
    key: str = ""

    def chunk_path(self, cache_dir: Path, chunk: int) -> Path:
        return cache_dir / f"gpt-{self.chunk_keys[chunk]}.agb"

    def blend_path(self, cache_dir: Path) -> Path:
        return cache_dir / f"blend-{self.key}.agb"


def plan_blend(file_list: DataFileList, seq_length: int, num_samples: int, seed: int,
               split: str = "100,0,0", split_name: str = "train",
               cache_dir: str | Path | None = None) -> BlendPlan:
    """Size the blend from every `.idx`; raises DataError on any bad input.

    With `cache_dir`, a plan made before for the same list, files (size and mtime) and
    request is loaded instead, so a warm start reads no `.idx` at all.
    """
    if num_samples <= 0:
        raise DataError(f"num_samples={num_samples} must be > 0")
    if seq_length <= 1:
        raise DataError(f"seq_length={seq_length} must be > 1")
    identities = []
    for entry in file_list.entries:
        try:  # NOTE: plain strings, not Paths: this runs for thousands of files
            identities.append([cache.file_identity(f"{entry.prefix}.idx"),
                               cache.file_identity(f"{entry.prefix}.bin")])
        except FileNotFoundError as err:
            raise DataError(f"{file_list.source}:{entry.line}: missing {err.filename}") from None
    request = [FORMAT_VERSION, seq_length, num_samples, seed, split, split_name,
               [(e.weight, e.corpus) for e in file_list.entries], identities]
    saved = Path(cache_dir) / f"plan-{cache.stable_hash(request)}.json" if cache_dir else None
    if saved is not None and saved.exists():
        return _load_plan(saved)
    plan = _make_plan(file_list, seq_length, num_samples, seed, split, split_name, identities)
    _assign_chunks(plan, identities)
    if saved is not None:
        saved.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(saved, json.dumps({**vars(plan), "files": [vars(f) for f in plan.files]}))
    return plan


def _load_plan(path: Path) -> BlendPlan:
    data = json.loads(path.read_text())
    data["files"] = [FilePlan(**{**f, "documents": tuple(f["documents"])}) for f in data["files"]]
    return BlendPlan(**data)


def _make_plan(file_list: DataFileList, seq_length: int, num_samples: int, seed: int,
               split: str, split_name: str, identities: list) -> BlendPlan:
    """Reads a few bytes of each `.idx` (header, two pointers), never its arrays."""
    corpora = file_list.corpora
    weights = normalize([entry.weight for entry in file_list.entries])
    targets = sample_targets(weights, num_samples)
    files = []
    for entry, weight, target, (_, (_, bin_size, _)) in zip(
            file_list.entries, weights.tolist(), targets, identities, strict=True):
        where = f"{file_list.source}:{entry.line} ({entry.prefix})"
        try:
            with IndexHeader(f"{entry.prefix}.idx") as header:
                count = header.sequence_count
                documents = split_documents(split, split_name, count)
                if documents is None or documents[0] == documents[1]:
                    raise DataError(f"split {split!r} leaves no documents of its {count} for "
                                    f"{split_name}")
                total = header.token_offset(count)
                end = total if documents[1] == count else header.token_offset(documents[1])
                tokens = end - header.token_offset(documents[0])
                indexed = total * header.dtype.itemsize
        except DataError as err:
            raise DataError(f"{where}: {err}") from None
        if indexed != bin_size:
            raise DataError(f"{where}: {bin_path(entry.prefix)} has {bin_size} bytes but its .idx "
                            f"indexes {indexed}; the pair is mismatched or truncated")
        built = buffered_samples(target)
        try:
            epochs = plan_epochs(tokens, seq_length, built)
        except DataError as err:
            raise DataError(f"{where}: {split_name} split: {err}") from None
        files.append(FilePlan(entry.prefix, corpora.index(entry.corpus), weight, count,
                              documents, tokens, target, built, epochs.num_epochs,
                              epochs.num_samples))
    corpus_weights = [0.0] * len(corpora)
    for plan in files:
        corpus_weights[plan.corpus_id] += plan.weight
    plan = BlendPlan(file_list.source, seq_length, num_samples, seed, split, split_name,
                     corpora, files, normalize(corpus_weights).tolist(),
                     sum(f.target for f in files))
    _pool_files(plan)
    return plan


def _pool_files(plan: BlendPlan) -> None:
    """Set each file's `pooled`: its built samples, or, in a corpus whose built samples fall
    short of what the greedy can draw from it, its weight's share of that demand (at most
    its capacity)."""
    built = np.bincount([f.corpus_id for f in plan.files], [f.built for f in plan.files],
                        minlength=len(plan.corpora))
    file_weight = np.bincount([f.corpus_id for f in plan.files], [f.weight for f in plan.files],
                              minlength=len(plan.corpora))
    # NOTE: the greedy keeps every count within one of its exact share; two more is slack.
    demand = [math.ceil(plan.size * w) + 2 for w in plan.corpus_weights]
    for f in plan.files:
        c = f.corpus_id
        f.pooled = f.built
        if demand[c] > built[c]:
            share = math.ceil(demand[c] * f.weight / file_weight[c]) + 1
            f.pooled = min(f.capacity, max(f.built, share))


def _assign_chunks(plan: BlendPlan, identities: list) -> None:
    """Group consecutive files into chunk files of similar work, and key everything."""
    chunk, work = [], 0
    for i, f in enumerate(plan.files):
        chunk.append(i)
        work += (f.documents[1] - f.documents[0]) * f.epochs + f.built
        if work >= _CHUNK_WORK or len(chunk) >= _CHUNK_FILES:
            plan.chunks.append(chunk)
            chunk, work = [], 0
    if chunk:
        plan.chunks.append(chunk)
    common = [FORMAT_VERSION, plan.seq_length, plan.seed, plan.split, plan.split_name]
    for members in plan.chunks:
        described = [[identities[i], plan.files[i].built] for i in members]
        plan.chunk_keys.append(cache.stable_hash([common, described]))
    plan.key = cache.stable_hash([common, plan.chunk_keys, plan.corpora, plan.num_samples,
                                  [(f.corpus_id, f.weight, f.target) for f in plan.files]])


# ---------------------------------------------------------------------------------------------
# Building (runs in any process; results are files in the cache)
# ---------------------------------------------------------------------------------------------


def _build_chunk(plan: BlendPlan, chunk: int, path: Path) -> None:
    members = [plan.files[i] for i in plan.chunks[chunk]]
    starts = offsets([f.sequences for f in members])
    lengths = np.empty(starts[-1], np.int32)  # every member's lengths, read straight in
    for f, begin, end in zip(members, starts[:-1], starts[1:], strict=True):
        with IndexHeader(f"{f.prefix}.idx") as header:
            header.lengths(out=lengths[begin:end])
    with cache.NewBundle(path, {"files": plan.chunks[chunk]}) as bundle:
        # The kernel fills the arrays inside the new file: no copy when writing.
        batch = build_sample_indices(lengths, starts, [f.documents for f in members],
                                     plan.seq_length, [f.built for f in members], plan.seed,
                                     allocate=bundle.allocate)
        for f, tokens in zip(members, batch.tokens.tolist(), strict=True):
            if tokens != f.tokens:
                raise DataError(f"{f.prefix}.idx: its sequence lengths and sequence pointers "
                                "disagree (or it changed while the index was built)")


class PoolLayout:
    """Every pooled sample of every file numbered in one "pool" space, corpus by corpus.

    A blend sample is stored as its pool slot; `locate` turns slots back into (file, sample
    in file) with a binary search over the files, which is cheaper than storing both.
    """

    def __init__(self, plan: BlendPlan):
        self.order = np.array(sorted(range(len(plan.files)), key=lambda i: plan.files[i].corpus_id),
                              np.int32)
        self.pooled = np.array([plan.files[i].pooled for i in self.order], np.int64)
        self.file_end = np.cumsum(self.pooled)
        self.corpus_of = np.array([plan.files[i].corpus_id for i in self.order])
        self.corpus_size = np.bincount(self.corpus_of, weights=self.pooled,
                                       minlength=len(plan.corpora)).astype(np.int64)
        self.corpus_start = np.concatenate([[0], np.cumsum(self.corpus_size)[:-1]]).astype(np.int64)

    def locate(self, slots: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """(file id, sample number in that file) of pool slots."""
        index = np.searchsorted(self.file_end, slots, side="right")
        return self.order[index], slots - (self.file_end[index] - self.pooled[index])


def blend_assignment(plan: BlendPlan, allocate: Callable[[cache.ArraySpecs], dict[str, np.ndarray]]
                     = cache.in_memory) -> dict[str, np.ndarray]:
    """For each blend sample its corpus ("corpus") and pool slot ("pool", see `PoolLayout`),
    and how many samples each corpus got: overall ("counts") and in the first 1% ("head").
    `allocate` provides the arrays (e.g. views of a cache file being written)."""
    pool = PoolLayout(plan)
    # A corpus's slice of the pool is shuffled once (kept in order for a one-file corpus).
    # NOTE: the permutation does not depend on the dtype; int32 halves the memory touched.
    shuffled = np.arange(pool.file_end[-1], dtype=np.int32 if pool.file_end[-1] < 2**31
                         else np.int64)
    rng = MegatronRandom(plan.seed)
    for corpus in range(len(plan.corpora)):
        if np.count_nonzero(pool.corpus_of == corpus) > 1:
            begin = pool.corpus_start[corpus]
            rng.shuffle(shuffled[begin:begin + pool.corpus_size[corpus]])
    weights = check_blend_weights(plan.corpus_weights)
    corpora = len(plan.corpora)
    arrays = allocate({"corpus": (np.dtype(np.int16), (plan.size,)),
                       "pool": (shuffled.dtype, (plan.size,)),
                       "counts": (np.dtype(np.int64), (corpora,)),
                       "head": (np.dtype(np.int64), (corpora,))})
    short = greedy_blend_slots(weights, pool.corpus_start, pool.corpus_size, shuffled,
                               arrays["corpus"], arrays["pool"])
    if short >= 0:
        drawn = np.bincount(build_blending_indices(weights, plan.size)[0])[short]
        raise DataError(
            f"{plan.source}: the {plan.split_name} blend draws {drawn} samples from "
            f"corpus {plan.corpora[short]!r}, which holds {pool.corpus_size[short]}"
        )
    arrays["counts"][...] = np.bincount(arrays["corpus"], minlength=corpora)
    arrays["head"][...] = np.bincount(arrays["corpus"][:max(1, plan.size // 100)],
                                      minlength=corpora)
    return arrays


def _build_blend(plan: BlendPlan, path: Path) -> None:
    with cache.NewBundle(path) as bundle:
        blend_assignment(plan, bundle.allocate)  # filled inside the new file


def share_report(plan: BlendPlan, blend: dict[str, np.ndarray]) -> list[dict]:
    """Realised share of each corpus against its target, overall and in the first 1%."""
    counts, head = blend["counts"], blend["head"]
    files = np.bincount([f.corpus_id for f in plan.files], minlength=len(plan.corpora))
    return [{"corpus": name, "files": int(files[c]), "target": plan.corpus_weights[c],
             "realised": float(counts[c] / max(1, counts.sum())),
             "realised_first_1pct": float(head[c] / max(1, head.sum())),
             "samples": int(counts[c])}
            for c, name in enumerate(plan.corpora)]


def _build_unit(unit: cache.Unit) -> None:
    kind, plan, chunk = unit.payload
    if kind == "blend":
        _build_blend(plan, unit.path)
    else:
        _build_chunk(plan, chunk, unit.path)


def _units(plan: BlendPlan, cache_dir: Path) -> list[cache.Unit]:
    # NOTE: the blend needs only the plan, so it is built alongside the chunks, first in line.
    units = [cache.Unit(plan.blend_path(cache_dir), ("blend", plan, None))]
    units += [cache.Unit(plan.chunk_path(cache_dir, c), ("chunk", plan, c))
              for c in range(len(plan.chunks))]
    return units


def build_blend(plan: BlendPlan, cache_dir: str | Path, rank: int = 0, workers: int = 1,
                progress: bool = True) -> dict:
    """Make sure every index file of `plan` is in `cache_dir`; returns build statistics.

    Safe to call from every rank at once and from concurrent jobs; `workers` threads of this
    process take units in parallel (the compiled kernels, file reads and writes release the
    GIL, so threads use the cores without forking or pickling anything).
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    units = _units(plan, cache_dir)
    workers = max(1, workers)
    start = time.perf_counter()
    for unit in units:  # only a machine crash leaves one (see `cache.NewBundle`)
        if unit.path.exists() and not cache.bundle_complete(unit.path):
            unit.path.unlink(missing_ok=True)
    missing = sum(not u.path.exists() for u in units)
    bar = _progress_bar(len(units), plan, progress and missing > 0)
    on_progress = bar.update_to if bar else None
    try:
        built = _build_in_threads(units, min(workers, missing), rank * workers, on_progress)
        # What is left is held by other processes (ranks, jobs): wait for it, or take it over.
        built += cache.run_units(units, _build_unit, worker=rank * workers,
                                 on_progress=on_progress)
    finally:
        if bar:
            bar.close()
    return {"units": len(units), "missing": missing, "built_here": built,
            "seconds": time.perf_counter() - start}


class _Cancelled(Exception):
    """Raised in a builder thread that stops because another one failed."""


def _build_in_threads(units: list[cache.Unit], threads: int, first_worker: int,
                      on_progress: Callable[[int], None] | None) -> int:
    """Units built by `threads` threads taking them in turn; bad input found by one thread
    stops the others, and its error is raised."""
    failed = threading.Event()

    def build(unit: cache.Unit) -> None:
        if failed.is_set():
            raise _Cancelled
        try:
            _build_unit(unit)
        except BaseException:
            failed.set()
            raise

    with ThreadPoolExecutor(max(1, threads)) as pool:
        futures = [pool.submit(cache.run_units, units, build, on_progress=on_progress,
                               worker=first_worker + t, wait=False) for t in range(threads)]
    for error in (f.exception() for f in futures):  # the failure, not the cancellations
        if error is not None and not isinstance(error, _Cancelled):
            raise error
    return sum(future.result() for future in futures)


class _Bar:
    def __init__(self, total: int, desc: str):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=desc, unit="file", file=sys.stderr)
        self.lock = threading.Lock()  # builder threads report progress

    def update_to(self, done: int) -> None:
        with self.lock:
            self.bar.update(max(0, done - self.bar.n))

    def close(self) -> None:
        self.bar.close()


def _progress_bar(total: int, plan: BlendPlan, enabled: bool) -> _Bar | None:
    return _Bar(total, f"{plan.split_name} indices") if enabled else None


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


class BlendedDataset:
    """Sample k of the blend: `{"tokens": int64 (seq_length + 1,), "corpus_id": int}`.

    Index files are mmapped on first use, per chunk, so opening the dataset costs only the
    blend arrays; pickling (for DataLoader workers) sends the plan, not the mmaps.
    """

    def __init__(self, plan: BlendPlan, cache_dir: str | Path):
        self.plan = plan
        self.cache_dir = Path(cache_dir)
        self._open()

    def _open(self) -> None:
        arrays = cache.read_bundle(self.plan.blend_path(self.cache_dir))[0]
        self.corpus_index = arrays["corpus"]
        self.pool_slot = arrays["pool"]
        self.pool = PoolLayout(self.plan)
        self.report = share_report(self.plan, arrays)
        # file -> (chunk, its position in the chunk)
        self._chunk_of = {i: (c, position) for c, members in enumerate(self.plan.chunks)
                          for position, i in enumerate(members)}
        self._chunks: dict[int, IndexBatch] = {}
        self._files: dict[int, tuple[IndexedDataset, SampleIndex]] = {}

    def __getstate__(self) -> dict:
        return {"plan": self.plan, "cache_dir": self.cache_dir}

    def __setstate__(self, state: dict) -> None:
        self.plan, self.cache_dir = state["plan"], state["cache_dir"]
        self._open()

    def __len__(self) -> int:
        return int(self.corpus_index.shape[0])

    @property
    def file_index(self) -> np.ndarray:
        """File of every blend sample (computed on demand)."""
        return self.pool.locate(self.pool_slot)[0]

    @property
    def file_sample(self) -> np.ndarray:
        """Sample number within its file of every blend sample (computed on demand)."""
        return self.pool.locate(self.pool_slot)[1]

    @property
    def corpus_names(self) -> list[str]:
        return self.plan.corpora

    def _file(self, i: int) -> tuple[IndexedDataset, SampleIndex]:
        if i not in self._files:
            c, position = self._chunk_of[i]
            if c not in self._chunks:
                arrays = cache.read_bundle(self.plan.chunk_path(self.cache_dir, c))[0]
                self._chunks[c] = IndexBatch(**arrays)
            index = self._chunks[c].file(position)
            self._files[i] = (IndexedDataset(self.plan.files[i].prefix), index)
        return self._files[i]

    def __getitem__(self, k: int) -> dict:
        if not 0 <= k < len(self):
            raise IndexError(f"sample {k} out of range for a blend of {len(self)}")
        file, sample = self.pool.locate(int(self.pool_slot[k]))
        corpus, index = self._file(int(file))
        tokens = sample_tokens(corpus, index, int(sample), self.plan.seq_length)
        return {"tokens": tokens, "corpus_id": int(self.corpus_index[k])}


def open_blend(file_list: DataFileList, seq_length: int, num_samples: int, seed: int,
               cache_dir: str | Path, split: str = "100,0,0", split_name: str = "train",
               rank: int = 0, workers: int = 1, progress: bool = True,
               log: Callable[[str], None] | None = None) -> BlendedDataset:
    """Plan, build (or find) and open the blend of one split; logs a JSONL line per build."""
    start = time.perf_counter()
    plan = plan_blend(file_list, seq_length, num_samples, seed, split, split_name, cache_dir)
    planned = time.perf_counter() - start
    stats = build_blend(plan, cache_dir, rank=rank, workers=workers, progress=progress)
    dataset = BlendedDataset(plan, cache_dir)
    record = {"time": time.time(), "source": plan.source, "split": split_name, "key": plan.key,
              "files": len(plan.files), "corpora": len(plan.corpora), "samples": len(dataset),
              "seq_length": seq_length, "seed": seed, "rank": rank, "plan_s": planned,
              "total_s": time.perf_counter() - start, **stats, "shares": dataset.report}
    with open(Path(cache_dir) / "build-index.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    if log:
        log(format_summary(record))
    return dataset


def format_summary(record: dict) -> str:
    lines = [
        f"{record['split']}: {record['samples']:,} samples of {record['seq_length']} tokens from "
        f"{record['files']} files in {record['corpora']} corpora; "
        f"{record['missing']} of {record['units']} index files were missing, {record['built_here']} "
        f"built here, {record['total_s']:.2f} s",
        f"  {'corpus':<24} {'files':>6} {'target':>8} {'realised':>9} {'first 1%':>9}",
    ]
    for row in record["shares"]:
        lines.append(f"  {row['corpus'][-24:]:<24} {row['files']:>6} {row['target']:>8.4f} "
                     f"{row['realised']:>9.4f} {row['realised_first_1pct']:>9.4f}")
    return "\n".join(lines)
