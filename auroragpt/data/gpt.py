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

All three come from one `RandomState(seed)`, drawn in that order. Megatron builds the sample
index with a per-sample C++ loop; here it is one `searchsorted` of every sample's start
position into the cumulative document lengths, with token counts in int64 throughout.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auroragpt.data.errors import DataError
from auroragpt.data.indexed import IndexedDataset
from auroragpt.data.kernels import MegatronRandom

SPLIT_NAMES = ("train", "valid", "test")
SEPARATE_LAST_EPOCH_THRESHOLD = 0.80  # Megatron's: shuffle a final epoch apart below this use
_INT32_MAX = int(np.iinfo(np.int32).max)
_UINT32_MAX = int(np.iinfo(np.uint32).max)


def split_bounds(split: str) -> list[tuple[float, float] | None]:
    """Megatron's split matrix: '98,2,0' -> [(0, 0.98), (0.98, 1.0), None].

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
    return [(lo, hi) if hi > lo else None for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


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
    if tokens_per_epoch <= seq_length:
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


def build_sample_index(sequence_lengths: np.ndarray, documents: tuple[int, int],
                       seq_length: int, num_samples: int | None, seed: int) -> SampleIndex:
    """Megatron-identical document, sample and shuffle indices for documents [begin, end)."""
    begin, end = documents
    tokens = int(sequence_lengths[begin:end].sum(dtype=np.int64))
    plan = plan_epochs(tokens, seq_length, num_samples)
    rng = MegatronRandom(seed)

    epoch_documents = np.arange(begin, end, dtype=np.int32)
    if plan.separate_last_epoch:
        head = np.tile(epoch_documents, plan.num_epochs - 1)
        rng.shuffle(head)
        last = epoch_documents.copy()
        rng.shuffle(last)
        document_index = np.concatenate([head, last])
    else:
        document_index = np.tile(epoch_documents, plan.num_epochs)
        rng.shuffle(document_index)

    # Sample s >= 1 starts at token s * seq_length of the concatenated stream; it is recorded
    # as (position in document_index, offset) of the document holding that token.
    ends = np.cumsum(sequence_lengths[document_index], dtype=np.int64)  # (epochs * docs,)
    starts = np.arange(1, plan.num_samples + 1, dtype=np.int64) * seq_length
    position = np.searchsorted(ends, starts, side="right")
    offset = starts - ends[position] + sequence_lengths[document_index[position]]
    wide = max(document_index.shape[0], int(sequence_lengths.max(initial=0))) > _INT32_MAX
    sample_index = np.zeros((plan.num_samples + 1, 2), np.int64 if wide else np.int32)
    sample_index[1:, 0] = position
    sample_index[1:, 1] = offset

    index_dtype = np.int64 if plan.num_samples >= _UINT32_MAX - 1 else np.uint32
    if plan.separate_last_epoch:
        head = np.arange(plan.samples_before_last_epoch, dtype=index_dtype)
        rng.shuffle(head)
        last = np.arange(plan.samples_before_last_epoch, plan.num_samples, dtype=index_dtype)
        rng.shuffle(last)
        shuffle_index = np.concatenate([head, last])
    else:
        shuffle_index = np.arange(plan.num_samples, dtype=index_dtype)
        rng.shuffle(shuffle_index)
    return SampleIndex(document_index, sample_index, shuffle_index)


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
