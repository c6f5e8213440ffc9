"""Exercise 05: Megatron-style blending and sample indices.

Fill in the two functions below, then check your work from the repository root:

    auroragpt exercises check 05
    auroragpt exercises check 05 --file my_copy.py

Both are checked against megatron-core's compiled helpers on random inputs, so your indices
must be identical to Megatron's, sample for sample.
"""

from collections.abc import Sequence

import numpy as np


def blending_indices(weights: Sequence[float], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Which dataset each of `size` blended samples comes from, Megatron's greedy way.

    Normalise the weights to sum to 1. Then, for sample i = 0, 1, ..., size - 1, pick the
    dataset d whose share is furthest behind its target: the largest
    weights[d] * max(i, 1) - taken[d], where taken[d] counts the samples already taken from d
    (on a tie, the lowest d). Record d and taken[d], then add one to taken[d].

    Returns (dataset_index, dataset_sample_index), two integer arrays of length `size`:
    sample i of the blend is sample dataset_sample_index[i] of dataset dataset_index[i].
    """
    # TODO 1: normalised weights (float64) and a counter per dataset
    # TODO 2: the greedy choice for every sample
    raise NotImplementedError("TODO: blending_indices")


def sample_index(doc_lengths: Sequence[int], seq_len: int) -> np.ndarray:
    """Where each training sample starts when documents are packed end to end.

    The documents (in this order, doc_lengths[j] tokens each) are laid end to end into one
    stream. Sample i is the seq_len + 1 tokens at stream positions i * seq_len ..
    (i + 1) * seq_len (inputs and shifted targets, so consecutive samples share one token).
    Only whole samples count: num_samples = (total_tokens - 1) // seq_len.

    Returns an integer array (num_samples + 1, 2): row i is (document, offset inside that
    document) of stream position i * seq_len; the last row marks where the last sample ends.
    """
    # TODO 1: where each document starts in the stream
    # TODO 2: for each boundary position, the document that holds it and the offset inside it
    raise NotImplementedError("TODO: sample_index")
