"""Blend arithmetic shared with megatron-core: weight normalisation, per-dataset sample counts
and the greedy sample-to-dataset assignment."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from auroragpt.data.errors import DataError
from auroragpt.data.kernels import greedy_blend

MAX_DATASETS = 32766  # dataset ids are int16 in Megatron's blend index


def normalize(weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """weights / sum(weights) in float64, the same rounding as megatron-core's `normalize`."""
    w = np.asarray(weights, dtype=np.float64)
    return w / np.sum(w)


def sample_targets(normalized: np.ndarray, num_samples: int) -> list[int]:
    """Samples each dataset contributes to a blend of `num_samples`: ceil(num_samples * w)."""
    return [int(math.ceil(num_samples * w)) for w in normalized.tolist()]


def check_blend_weights(weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """The weights as contiguous float64, or a DataError saying what is wrong with them."""
    w = np.ascontiguousarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size == 0:
        raise DataError("blend weights must be a non-empty 1-D sequence")
    if w.size > MAX_DATASETS:
        raise DataError(f"blend of {w.size} datasets: at most {MAX_DATASETS} are supported")
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise DataError(f"blend weights must be positive and finite, got {w.tolist()}")
    return w


def build_blending_indices(weights: Sequence[float] | np.ndarray,
                           size: int) -> tuple[np.ndarray, np.ndarray]:
    """(dataset of sample t, index of that sample within its dataset) for t < size.

    Identical to megatron-core's `helpers.build_blending_indices(…, weights, n, size)`:
    `weights` are used as given (normalise them first, as Megatron's `BlendedDataset` does).
    """
    w = check_blend_weights(weights)
    if size < 0:
        raise DataError(f"blend size {size} must be >= 0")
    return greedy_blend(w, int(size))
