"""Reference solution of exercise 05: Megatron-style blending and sample indices."""

from collections.abc import Sequence

import numpy as np


def blending_indices(weights: Sequence[float], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy blend: each sample goes to the dataset furthest behind its target share."""
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    taken = np.zeros(len(w), dtype=np.int64)
    dataset_index = np.empty(size, dtype=np.int16)
    dataset_sample_index = np.empty(size, dtype=np.int64)
    for i in range(size):
        # NOTE: max(i, 1) makes sample 0 go to the heaviest dataset rather than to dataset 0
        behind = w * max(i, 1) - taken
        d = int(np.argmax(behind))  # argmax returns the first of equal values: lowest d
        dataset_index[i] = d
        dataset_sample_index[i] = taken[d]
        taken[d] += 1
    return dataset_index, dataset_sample_index


def sample_index(doc_lengths: Sequence[int], seq_len: int) -> np.ndarray:
    """(num_samples + 1, 2) rows of (document, offset) at stream positions 0, seq_len, ..."""
    lengths = np.asarray(doc_lengths, dtype=np.int64)
    ends = np.cumsum(lengths)  # stream position just past each document
    num_samples = (int(ends[-1]) - 1) // seq_len
    positions = np.arange(num_samples + 1, dtype=np.int64) * seq_len
    # the document holding position p is the first whose end lies beyond p
    documents = np.searchsorted(ends, positions, side="right")
    offsets = positions - (ends[documents] - lengths[documents])
    return np.stack([documents, offsets], axis=1)
