"""GPT document/sample/shuffle indices and sample tokens against megatron-core's GPTDataset."""

from __future__ import annotations

import numpy as np
import pytest
from megatron_ref import megatron_gpt, megatron_text

from auroragpt.data import GPTDataset
from auroragpt.data.gpt import build_sample_index, plan_epochs
from auroragpt.data.kernels import MegatronRandom

CASES = [
    # seq_length, samples in epochs of the split, split, split_name
    (16, 0.3, "100,0,0", "train"),  # part of one epoch
    (16, 1.9, "100,0,0", "train"),  # two epochs, the last shuffled with the others
    (16, 1.3, "100,0,0", "train"),  # two epochs, the last separate (< 80% of it used)
    (8, 6.5, "98,2,0", "train"),  # many epochs
    (32, 1.5, "90,8,2", "valid"),
    (8, 2.2, "90,8,2", "test"),
    (16, None, "100,0,0", "train"),  # one epoch, however long
]


def _samples(prefix: str, seq_length: int, epochs: float | None, split: str, name: str):
    """A sample count that is `epochs` epochs of the split (None stays None)."""
    from auroragpt.data import IndexedDataset
    from auroragpt.data.gpt import split_documents

    if epochs is None:
        return None
    corpus = IndexedDataset(prefix)
    begin, end = split_documents(split, name, len(corpus))
    tokens = int(corpus.sequence_lengths[begin:end].sum())
    return int(epochs * (tokens - 1) // seq_length)


@pytest.mark.parametrize("seq_length,epochs,split,split_name", CASES)
def test_indices_and_tokens_equal_megatron(corpus_files, tmp_path, seq_length, epochs,
                                           split, split_name):
    prefix = corpus_files[1]
    num_samples = _samples(prefix, seq_length, epochs, split, split_name)
    ref = megatron_gpt(prefix, seq_length, num_samples, 1234, str(tmp_path), split, split_name)
    ours = GPTDataset(prefix, seq_length, num_samples, 1234, split=split, split_name=split_name)
    for name in ("document_index", "sample_index", "shuffle_index"):
        expected, actual = getattr(ref, name), getattr(ours.index, name)
        assert actual.dtype == expected.dtype, name
        np.testing.assert_array_equal(actual, expected, err_msg=name)
    assert len(ours) == len(ref)
    for k in range(len(ours)):
        np.testing.assert_array_equal(ours[k], megatron_text(ref, k))
        assert ours[k].shape == (seq_length + 1,)


def test_separate_last_epoch_rule_is_exercised(corpus_files):
    from auroragpt.data import IndexedDataset

    tokens = IndexedDataset(corpus_files[1]).num_tokens
    assert plan_epochs(tokens, 16, _samples(corpus_files[1], 16, 1.3, "100", "train")
                       ).separate_last_epoch
    assert not plan_epochs(tokens, 16, _samples(corpus_files[1], 16, 1.9, "100", "train")
                           ).separate_last_epoch


@pytest.mark.parametrize("size", [0, 1, 2, 3, 255, 256, 257, 65537, 300_001])
def test_compiled_shuffle_equals_randomstate(size):
    reference, ours = np.random.RandomState(99), MegatronRandom(99)
    for dtype in (np.int32, np.uint32, np.int64):  # consecutive shuffles share the stream
        a = np.arange(size, dtype=dtype)
        b = a.copy()
        reference.shuffle(a)
        ours.shuffle(b)
        np.testing.assert_array_equal(a, b)
    assert reference.randint(0, 2**32, dtype=np.uint32) == ours.randint32()


def test_sample_index_past_two_billion_tokens():
    """Token positions beyond 2^31 (and 2^32): the vectorised index against Megatron's C++."""
    from megatron.core.datasets import helpers

    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 2**22, size=3000).astype(np.int32)  # ~6e9 tokens per epoch
    seq_length = 2**20
    tokens = int(lengths.sum(dtype=np.int64))
    assert tokens > 2**32
    num_samples = int(1.5 * tokens / seq_length)
    ours = build_sample_index(lengths, (0, lengths.size), seq_length, num_samples, seed=7)
    epochs = plan_epochs(tokens, seq_length, num_samples).num_epochs
    expected = helpers.build_sample_idx(lengths, ours.document_index, seq_length, epochs,
                                        tokens, True, True)
    assert ours.sample_index.dtype == expected.dtype
    np.testing.assert_array_equal(ours.sample_index, expected)


def test_batch_of_files_equals_files_alone_and_rejection_restarts(monkeypatch):
    """One compiled pass over several files gives each file's own indices, also when the
    word stream runs out mid-file and the file is redone with more words."""
    import auroragpt.data.kernels as kernels
    from auroragpt.data.gpt import build_sample_indices, offsets

    rng = np.random.default_rng(5)
    lengths = [rng.integers(0, 50, size=n).astype(np.int32) for n in (3000, 7, 12000, 500)]
    documents = [(0, 3000), (1, 7), (100, 11000), (0, 500)]
    samples = [900, 3, 40000, None]
    alone = [build_sample_index(lens, docs, 16, n, 11)
             for lens, docs, n in zip(lengths, documents, samples, strict=True)]
    kernels._streams.pop(11, None)  # a fresh stream, drawn a little at a time
    monkeypatch.setattr(kernels, "_WORDS_PER_ELEMENT_BOUND", 0.0)
    batch = build_sample_indices(np.concatenate(lengths), offsets([x.size for x in lengths]),
                                 documents, 16, samples, 11)
    for f, expected in enumerate(alone):
        for name in ("document_index", "sample_index", "shuffle_index"):
            np.testing.assert_array_equal(getattr(batch.file(f), name), getattr(expected, name))
    # The first file's document order is numpy's own shuffle of its documents.
    reference = np.arange(3000, dtype=np.int32)
    np.random.RandomState(11).shuffle(reference)
    np.testing.assert_array_equal(batch.file(0).document_index, reference)
