"""The .bin/.idx format against megatron-core's writer and reader, and its validation."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from conftest import random_documents, write_with_megatron

from auroragpt.data import DataError, IndexedDataset, IndexedDatasetWriter
from auroragpt.data.indexed import check_vocab_fits, token_dtype_for_vocab


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.uint8, np.int64])
def test_writer_is_byte_identical_to_megatron(tmp_path, dtype):
    rng = np.random.default_rng(0)
    docs = random_documents(rng, 50, vocab=200)
    write_with_megatron(str(tmp_path / "ref"), docs, dtype=dtype)
    with IndexedDatasetWriter(tmp_path / "ours", dtype) as writer:
        writer.add_documents(docs[:20])
        for doc in docs[20:]:
            writer.add_document(doc)
    for suffix in (".bin", ".idx"):
        assert (tmp_path / f"ours{suffix}").read_bytes() == (tmp_path / f"ref{suffix}").read_bytes()


def test_reader_matches_megatron_reader(corpus_files):
    from megatron.core.datasets.indexed_dataset import IndexedDataset as MegatronIndexed

    ours, ref = IndexedDataset(corpus_files[1]), MegatronIndexed(corpus_files[1])
    assert len(ours) == len(ref)
    np.testing.assert_array_equal(ours.sequence_lengths, ref.sequence_lengths)
    np.testing.assert_array_equal(ours.document_indices, ref.document_indices)
    for i in range(len(ref)):
        np.testing.assert_array_equal(ours[i], ref[i])
        np.testing.assert_array_equal(ours.get(i, 1, 2), ref.get(i, 1, 2))


def test_nothing_is_left_when_writing_fails(tmp_path):
    with pytest.raises(RuntimeError):
        with IndexedDatasetWriter(tmp_path / "p", np.uint16) as writer:
            writer.add_document([1, 2, 3])
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def good_pair(tmp_path):
    prefix = tmp_path / "good"
    with IndexedDatasetWriter(prefix, np.uint16) as writer:
        writer.add_documents([[1, 2, 3], [4, 5], [6]])
    return prefix


def _patch(path, offset, data):
    raw = bytearray(path.read_bytes())
    raw[offset:offset + len(data)] = data
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("offset,data,message", [
    (0, b"NOTMEGA!!", "bad magic"),
    (9, struct.pack("<Q", 2), "unsupported version 2"),
    (17, bytes([9]), "unknown dtype code 9"),
])
def test_corrupt_header_is_named(good_pair, offset, data, message):
    _patch(good_pair.with_suffix(".idx"), offset, data)
    with pytest.raises(DataError, match=message) as err:
        IndexedDataset(good_pair)
    assert "good.idx" in str(err.value)


def test_truncated_idx(good_pair):
    path = good_pair.with_suffix(".idx")
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DataError, match="truncated"):
        IndexedDataset(good_pair)
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(DataError, match="truncated header"):
        IndexedDataset(good_pair)


def test_bin_size_disagreeing_with_index(good_pair):
    path = good_pair.with_suffix(".bin")
    path.write_bytes(path.read_bytes() + b"\0\0")
    with pytest.raises(DataError, match=r"good\.bin: size 14 bytes, but .* indexes 12 bytes"):
        IndexedDataset(good_pair)


def test_missing_half_of_the_pair(good_pair):
    good_pair.with_suffix(".bin").unlink()
    with pytest.raises(DataError, match=r"good\.bin: missing"):
        IndexedDataset(good_pair)


def test_vocabulary_larger_than_dtype(tmp_path):
    assert token_dtype_for_vocab(65499) == np.uint16
    assert token_dtype_for_vocab(65500) == np.int32  # megatron-core's threshold
    with pytest.raises(DataError, match="vocabulary of 70000 tokens does not fit dtype uint16"):
        check_vocab_fits(70000, np.uint16, "x")
    with IndexedDatasetWriter(tmp_path / "v", np.uint16) as writer:
        with pytest.raises(DataError, match="does not fit dtype uint16"):
            writer.add_document([1, 70000])
