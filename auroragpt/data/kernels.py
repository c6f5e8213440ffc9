"""The two inherently sequential loops of index building, compiled with numba.

Everything else in the pipeline is vectorised numpy. These two are not vectorisable and must
reproduce megatron-core bit for bit:

- `MegatronRandom.shuffle`: numpy's legacy `RandomState.shuffle` (Fisher-Yates driven by
  MT19937 with masked rejection sampling). We draw the raw 32-bit MT19937 words in bulk from
  a `RandomState` with the same seed and run the swaps compiled, consuming words exactly as
  numpy does, so consecutive shuffles give the same permutations. It is several times
  faster than `RandomState.shuffle`, which spends ~70 ns per element on a 2-core machine.
- `greedy_blend`: the greedy of megatron-core's `build_blending_indices`. Each sample goes to
  the dataset whose realised count lags its weight the most. There is no closed form: the
  lag of a heavy dataset can exceed one sample (we measured 1.55), so counts are not a
  rounding of weight * position and the choice at step t depends on every earlier choice.
  We run it over corpora (a handful), not over files, so it costs O(samples * corpora).
"""

from __future__ import annotations

import numba
import numpy as np

_WORDS_PER_ELEMENT = 1.3  # rejection sampling uses < 2 draws per element on average


@numba.njit(cache=True, nogil=True)
def _fisher_yates(values, words, pos, start):
    """Shuffle values[:start+1] from index `start` down, as numpy's legacy shuffle does.

    Returns (index to resume from, words consumed); index 0 means done. Running out of
    words mid-rejection is fine: every word read so far was consumed, so the caller resumes
    at the same index with fresh words.
    """
    for i in range(start, 0, -1):
        mask = i
        mask |= mask >> 1
        mask |= mask >> 2
        mask |= mask >> 4
        mask |= mask >> 8
        mask |= mask >> 16
        while True:
            if pos >= words.shape[0]:
                return i, pos
            j = words[pos] & mask
            pos += 1
            if j <= i:
                break
        tmp = values[i]
        values[i] = values[j]
        values[j] = tmp
    return 0, pos


class _WordStream:
    """The raw MT19937 words of `RandomState(seed)`, drawn on demand and kept.

    NOTE: every corpus of a blend is shuffled with the same seed, so every corpus consumes
    the same word stream from its start. Drawing it once per process (instead of seeding a
    RandomState per corpus, ~100 us each, and drawing again) is what makes thousands of
    small corpora cheap.
    """

    def __init__(self, seed: int):
        self.state = np.random.RandomState(seed)
        self.words = np.empty(0, np.uint32)

    def ensure(self, count: int) -> np.ndarray:
        if self.words.shape[0] < count:
            extra = max(count - self.words.shape[0], self.words.shape[0], 1 << 16)
            # A full-range uint32 draw from the legacy generator is exactly one raw word.
            more = self.state.randint(0, 2**32, size=extra, dtype=np.uint32)
            self.words = np.concatenate([self.words, more])
        return self.words


_streams: dict[int, _WordStream] = {}


class MegatronRandom:
    """Stands for `numpy.random.RandomState(seed)` in `shuffle` calls: same permutations,
    in the same order, compiled."""

    def __init__(self, seed: int):
        if seed not in _streams:
            _streams[seed] = _WordStream(seed)
        self.stream = _streams[seed]
        self.position = 0  # words consumed so far

    def shuffle(self, values: np.ndarray) -> None:
        if values.ndim != 1:
            raise ValueError("only 1-D arrays are shuffled")
        if values.shape[0] >= 2**32:
            raise ValueError("arrays of 2^32 elements or more need 64-bit draws")
        start = values.shape[0] - 1
        while start > 0:
            need = self.position + int(start * _WORDS_PER_ELEMENT) + 64
            words = self.stream.ensure(need)
            start, self.position = _fisher_yates(values, words, self.position, start)

    def randint32(self) -> int:
        """The next raw word (lets tests check the stream position against numpy's)."""
        word = int(self.stream.ensure(self.position + 1)[self.position])
        self.position += 1
        return word


@numba.njit(cache=True, nogil=True)
def greedy_blend(weights, size):
    """megatron-core's greedy blend: (dataset of each sample, its index within that dataset).

    Step t uses x = max(t, 1) and picks the first dataset maximising w_i * x - count_i, with
    the same float64 arithmetic, so ties resolve exactly as in the reference.
    """
    n = weights.shape[0]
    dataset_index = np.empty(size, np.int16)
    dataset_sample_index = np.empty(size, np.int64)
    counts = np.zeros(n, np.int64)
    for t in range(size):
        x = max(float(t), 1.0)
        best = 0
        best_error = weights[0] * x - float(counts[0])
        for i in range(1, n):
            error = weights[i] * x - float(counts[i])
            if error > best_error:
                best_error = error
                best = i
        dataset_index[t] = best
        dataset_sample_index[t] = counts[best]
        counts[best] += 1
    return dataset_index, dataset_sample_index


def warm_up() -> None:
    """Load the compiled kernels now (numba's first call costs ~0.3 s): call before forking
    helper processes so they inherit them instead of each loading its own."""
    _fisher_yates(np.zeros(2, np.int32), np.zeros(4, np.uint32), 0, 1)
    _fisher_yates(np.zeros(2, np.uint32), np.zeros(4, np.uint32), 0, 1)
    _fisher_yates(np.zeros(2, np.int64), np.zeros(4, np.uint32), 0, 1)
    greedy_blend(np.ones(1), 1)
