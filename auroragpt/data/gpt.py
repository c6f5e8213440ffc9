"""GPT samples from one tokenized corpus: Megatron's document, sample and shuffle indices.

A GPT sample is `seq_length + 1` consecutive tokens of a stream made by concatenating the
corpus's documents in a shuffled order, epoch after epoch; consecutive samples overlap by one
token (the last target of one is the first input of the next). Three arrays describe it,
each equal, element for element and dtype for dtype, to megatron-core 0.16's `GPTDataset`:

- document index: the document order, `num_epochs` shuffled copies of the split's documents
  (int32). When the last epoch would be used for less than 80% of its samples it is shuffled
  separately, so a short final epoch does not bias towards a few documents.
- sample index: (num_samples + 1, 2), for each sample boundary the position in the document
  index and the token offset in that document where the sample starts.
- shuffle index: a permutation of the samples (the last epoch's samples permuted among
  themselves when it is separate).

All three come from one `RandomState(seed)`, drawn in that order, and are filled by one
compiled call for a whole batch of files (`kernels.fill_gpt_indices`), with token counts in
int64 throughout.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auroragpt.data.cache import ArraySpecs, in_memory
from auroragpt.data.errors import DataError
from auroragpt.data.indexed import IndexedDataset
from auroragpt.data.kernels import fill_gpt_indices, range_totals

SPLIT_NAMES = ("train", "valid", "test")
SEPARATE_LAST_EPOCH_THRESHOLD = 0.80  # Megatron's: shuffle a final epoch apart below this use
_INT32_MAX = int(np.iinfo(np.int32).max)
_UINT32_MAX = int(np.iinfo(np.uint32).max)


@functools.cache
def split_bounds(split: str) -> tuple[tuple[float, float] | None, ...]:
    """Megatron's split matrix: '98,2,0' -> ((0, 0.98), (0.98, 1.0), None), cached.

    NOTE: the floats are normalised and accumulated exactly as megatron-core does, because
    the document ranges are rounded from them and must agree to the document.
    """
    values = [float(v) for v in re.findall(r"[.0-9]+", split)]
    values += [0.0] * (len(SPLIT_NAMES) - len(values))
    if len(values) != len(SPLIT_NAMES) or sum(values) <= 0:
        raise DataError(f"split {split!r}: expected up to three non-negative weights like '98,2,0'")
    weights = np.array(values, dtype=np.float64)
    fractions = (weights / np.sum(weights)).tolist()
    edges = [0.0]
    for fraction in fractions:
        edges.append(edges[-1] + fraction)
    return tuple((lo, hi) if hi > lo else None
                 for lo, hi in zip(edges[:-1], edges[1:], strict=True))


def split_documents(split: str, split_name: str, num_documents: int) -> tuple[int, int] | None:
    """Document range [begin, end) of one split, or None when the split is empty."""
    if split_name not in SPLIT_NAMES:
        raise DataError(f"split name {split_name!r}: expected one of {', '.join(SPLIT_NAMES)}")
    bounds = split_bounds(split)[SPLIT_NAMES.index(split_name)]
    if bounds is None:
        return None
    return int(round(bounds[0] * float(num_documents))), int(round(bounds[1] * float(num_documents)))


@dataclass
class SampleIndex:
    """The three arrays that map a GPT sample number to token ranges of a corpus."""

    document_index: np.ndarray  # (epochs * documents,) int32
    sample_index: np.ndarray  # (num_samples + 1, 2) int32 or int64: (doc position, offset)
    shuffle_index: np.ndarray  # (num_samples,) uint32 or int64

    def __len__(self) -> int:
        return self.shuffle_index.shape[0]


@dataclass
class EpochPlan:
    """How many epochs a request needs and whether the last one is shuffled apart."""

    tokens_per_epoch: int
    num_epochs: int
    num_samples: int  # samples the epochs hold (>= the request)
    separate_last_epoch: bool
    samples_before_last_epoch: int


def plan_epochs(tokens_per_epoch: int, seq_length: int, num_samples: int | None) -> EpochPlan:
    """Epoch count and sample count for a request, from token counts alone (no shuffling).

    The blend needs only these numbers, so it can be planned before any index is built.
    """
    # NOTE: a split shorter than one sample still serves a request, as megatron-core's does,
    # by cycling its documents through as many epochs as the request needs.
    if tokens_per_epoch <= 0 or (num_samples is None and tokens_per_epoch <= seq_length):
        raise DataError(
            f"{tokens_per_epoch} tokens cannot make a single sample of {seq_length} + 1 tokens"
        )
    num_epochs = 1
    if num_samples is not None:
        requested = num_samples * seq_length + 1
        num_epochs = max(1, -(-requested // tokens_per_epoch))
    total = (num_epochs * tokens_per_epoch - 1) // seq_length
    separate, before_last = False, total
    if num_epochs > 1:
        before_last = ((num_epochs - 1) * tokens_per_epoch - 1) // seq_length
        per_epoch = (tokens_per_epoch - 1) // seq_length
        from_last = num_samples - before_last
        separate = from_last < int(SEPARATE_LAST_EPOCH_THRESHOLD * per_epoch)
    return EpochPlan(tokens_per_epoch, num_epochs, total, separate, before_last)


@dataclass
class IndexBatch:
    """The GPT indices of several files in shared arrays: one allocation, one compiled pass.

    File f's arrays are the [starts[f], starts[f + 1]) slices of each; `file(f)` views them.
    """

    tokens: np.ndarray  # (files,) int64: tokens per epoch of each file's documents
    document_index: np.ndarray  # int32
    document_starts: np.ndarray  # (files + 1,) int64
    sample_index: np.ndarray  # (rows, 2) int32, or int64 when a file needs it
    sample_starts: np.ndarray
    shuffle_index: np.ndarray  # uint32, or int64 when a file needs it
    shuffle_starts: np.ndarray

    def file(self, f: int) -> SampleIndex:
        return SampleIndex(self.document_index[self.document_starts[f]:self.document_starts[f + 1]],
                           self.sample_index[self.sample_starts[f]:self.sample_starts[f + 1]],
                           self.shuffle_index[self.shuffle_starts[f]:self.shuffle_starts[f + 1]])


def offsets(counts: list[int] | np.ndarray) -> np.ndarray:
    """[0, c0, c0 + c1, ...] as int64: where each of consecutive parts starts, then the end."""
    return np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64)


def build_sample_indices(lengths: np.ndarray, length_starts: np.ndarray,
                         documents: list[tuple[int, int]], seq_length: int,
                         num_samples: list[int | None], seed: int,
                         allocate: Callable[[ArraySpecs], dict[str, np.ndarray]] = in_memory
                         ) -> IndexBatch:
    """Megatron-identical indices of several files in one pass.

    File f's sequence lengths are `lengths[length_starts[f]:length_starts[f + 1]]` (int32);
    its indices cover its documents [begin, end) for `num_samples[f]` samples (None: one
    epoch). `allocate({name: (dtype, shape)})` provides the `IndexBatch` arrays (e.g. views
    of a cache file being written), in memory by default.
    """
    begins = np.array([b for b, _ in documents], np.int64)
    ends = np.array([e for _, e in documents], np.int64)
    tokens = range_totals(lengths, length_starts, begins, ends)
    plans = [plan_epochs(int(t), seq_length, n)
             for t, n in zip(tokens.tolist(), num_samples, strict=True)]
    epochs = np.array([p.num_epochs for p in plans], np.int64)
    known = {"tokens": tokens, "document_starts": offsets(epochs * (ends - begins)),
             "sample_starts": offsets([p.num_samples + 1 for p in plans]),
             "shuffle_starts": offsets([p.num_samples for p in plans])}
    # NOTE: Megatron widens the sample index when a document index or a length passes int32;
    # lengths are int32 in the .idx, so only the document index can.
    wide = int(np.max(np.diff(known["document_starts"]), initial=0)) > _INT32_MAX
    long = max((p.num_samples for p in plans), default=0) >= _UINT32_MAX - 1
    specs = {name: (value.dtype, value.shape) for name, value in known.items()}
    specs["document_index"] = (np.dtype(np.int32), (int(known["document_starts"][-1]),))
    specs["sample_index"] = (np.dtype(np.int64 if wide else np.int32),
                             (int(known["sample_starts"][-1]), 2))
    specs["shuffle_index"] = (np.dtype(np.int64 if long else np.uint32),
                              (int(known["shuffle_starts"][-1]),))
    arrays = allocate(specs)
    for name, value in known.items():
        arrays[name][...] = value
    batch = IndexBatch(**arrays)
    fill_gpt_indices(
        lengths, length_starts, begins, ends, epochs,
        np.array([p.separate_last_epoch for p in plans], np.bool_),
        np.array([p.samples_before_last_epoch for p in plans], np.int64), seq_length, seed,
        batch.document_index, batch.document_starts, batch.sample_index, batch.sample_starts,
        batch.shuffle_index, batch.shuffle_starts)
    return batch


def build_sample_index(sequence_lengths: np.ndarray, documents: tuple[int, int],
                       seq_length: int, num_samples: int | None, seed: int) -> SampleIndex:
    """Megatron-identical document, sample and shuffle indices for documents [begin, end)."""
    lengths = np.ascontiguousarray(sequence_lengths, np.int32)
    return build_sample_indices(lengths, offsets([lengths.size]), [documents], seq_length,
                                [num_samples], seed).file(0)


def sample_tokens(corpus: IndexedDataset, index: SampleIndex, k: int,
                  seq_length: int) -> np.ndarray:
    """The `seq_length + 1` tokens of sample k, int64."""
    j = int(index.shuffle_index[k])
    first_doc, first_offset = (int(v) for v in index.sample_index[j])
    last_doc, last_offset = (int(v) for v in index.sample_index[j + 1])
    documents = index.document_index
    if first_doc == last_doc:
        part = corpus.get(int(documents[first_doc]), first_offset, last_offset - first_offset + 1)
        return part.astype(np.int64)
    parts = [corpus.get(int(documents[first_doc]), first_offset)]
    parts += [corpus.get(int(documents[d])) for d in range(first_doc + 1, last_doc)]
    parts.append(corpus.get(int(documents[last_doc]), 0, last_offset + 1))
    return np.concatenate(parts).astype(np.int64)


class GPTDataset:
    """GPT samples of one `.bin/.idx` corpus, in Megatron's order.

    `len(ds)` is the number of samples the needed epochs hold (at least `num_samples`);
    `ds[k]` is sample k: `seq_length + 1` int64 tokens, the same tokens megatron-core's
    `GPTDataset` returns for k (its `tokens` followed by the last of its `labels`).
    """

    def __init__(self, prefix: str | Path, seq_length: int, num_samples: int | None,
                 seed: int, split: str = "100,0,0", split_name: str = "train",
                 index: SampleIndex | None = None):
        self.corpus = IndexedDataset(prefix)
        self.seq_length = seq_length
        documents = split_documents(split, split_name, len(self.corpus))
        if documents is None or documents[0] == documents[1]:
            raise DataError(f"{prefix}: split {split!r} leaves no documents for {split_name}")
        self.index = index if index is not None else build_sample_index(
            self.corpus.sequence_lengths, documents, seq_length, num_samples, seed)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k: int) -> np.ndarray:
        if not 0 <= k < len(self):
            raise IndexError(f"sample {k} out of range for {len(self)} samples")
        return sample_tokens(self.corpus, self.index, k, self.seq_length)


def buffered_samples(target: int, surplus: float = 0.005) -> int:
    """Samples built per dataset for a target, with Megatron's 0.5% margin for the blend."""
    return int(math.ceil(target * (1 + surplus)))
