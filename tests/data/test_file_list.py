"""ALCF data-file-lists: parsing and every kind of bad input."""

from __future__ import annotations

import numpy as np
import pytest

from auroragpt.data import (
    DataError,
    IndexedDatasetWriter,
    open_blend,
    parse_file_list,
    read_file_list,
)


def test_parse_relative_comments_and_corpora(corpus_files, tmp_path):
    listing = tmp_path / "list.txt"
    rel = [f"../{p.split('/')[-2]}/{p.split('/')[-1]}" for p in corpus_files[:2]]
    listing.write_text(f"# Dolma-style\n0.5 {rel[0]} web\n\n2 {rel[1]} code  # trailing\n"
                       f"1e-1 {corpus_files[2]}\n")
    parsed = read_file_list(listing)
    assert [e.weight for e in parsed.entries] == [0.5, 2.0, 0.1]
    assert parsed.corpora == ["web", "code", corpus_files[2]]
    assert parsed.entries[0].prefix == corpus_files[0]
    assert parsed.entries[1].line == 4


@pytest.mark.parametrize("line,message", [
    ("abc {p} web", "list:1: weight 'abc' is not a number"),
    ("-1 {p} web", "list:1: weight -1 must be a positive number"),
    ("0 {p} web", "weight 0 must be a positive number"),
    ("1 {p}_nope web", r"list:1: prefix .*_nope.*: missing .*_nope\.bin"),
    ("1", "list:1: expected 'weight prefix corpus', got 1 fields"),
    ("1 {p} web extra", "got 4 fields"),
])
def test_bad_lines(corpus_files, line, message):
    with pytest.raises(DataError, match=message):
        parse_file_list(line.format(p=corpus_files[0]), "list")


def test_hash_inside_a_path_and_bin_suffix(corpus_files, tmp_path):
    """`#` is a comment only at a line's start or after a space; `x.bin` names the pair x."""
    import shutil

    for suffix in (".bin", ".idx"):
        shutil.copy(corpus_files[0] + suffix, tmp_path / f"run#3{suffix}")
    text = (f"  # heading\n1 {tmp_path}/run#3 web # note\n2 {corpus_files[1]}.bin\n"
            f"3 {corpus_files[2]}.idx code\n")
    parsed = parse_file_list(text, "list")
    assert [e.prefix for e in parsed.entries] == [f"{tmp_path}/run#3", *corpus_files[1:3]]
    assert parsed.corpora == ["web", corpus_files[1], "code"]


def test_empty_list():
    with pytest.raises(DataError, match="no files listed"):
        parse_file_list("# nothing\n", "list")


def test_empty_corpus_and_short_split(corpus_files, tmp_path):
    with IndexedDatasetWriter(tmp_path / "empty", np.uint16):
        pass
    file_list = parse_file_list(f"1 {corpus_files[0]} web\n1 {tmp_path}/empty books\n", "list")
    with pytest.raises(DataError, match=r"list:2 .*empty.*leaves no documents of its 0"):
        open_blend(file_list, 16, 100, 1, tmp_path / "c", progress=False)


def test_split_shorter_than_a_sample_cycles_epochs_as_megatron(corpus_files, tmp_path):
    """A split of 9 tokens serves 16-token samples by cycling epochs, as megatron-core does."""
    from megatron_ref import megatron_gpt, megatron_text

    from auroragpt.data.gpt import buffered_samples

    with IndexedDatasetWriter(tmp_path / "tiny", np.uint16) as writer:
        for doc in ([1, 2, 3], [4, 5], [6, 7, 8, 9]):
            writer.add_document(doc)
    file_list = parse_file_list(f"1 {tmp_path}/tiny books\n", "list")
    ours = open_blend(file_list, 16, 100, 1, tmp_path / "c", progress=False)
    ref = megatron_gpt(f"{tmp_path}/tiny", 16, buffered_samples(100), 1, str(tmp_path / "m"))
    assert len(ours) == 100
    for k in range(len(ours)):
        np.testing.assert_array_equal(ours[k]["tokens"], megatron_text(ref, k))


def test_corrupt_idx_names_the_list_line(corpus_files, tmp_path):
    import shutil

    for suffix in (".bin", ".idx"):
        shutil.copy(corpus_files[0] + suffix, tmp_path / f"bad{suffix}")
    (tmp_path / "bad.idx").write_bytes(b"garbage!!" + (tmp_path / "bad.idx").read_bytes()[9:])
    file_list = parse_file_list(f"1 {corpus_files[1]} a\n1 {tmp_path}/bad b\n", "list")
    with pytest.raises(DataError, match=r"list:2 .*bad.idx: bad magic"):
        open_blend(file_list, 16, 100, 1, tmp_path / "c", progress=False)


def test_pointers_disagreeing_with_lengths_are_named(corpus_files, tmp_path):
    """The plan counts tokens from two pointers; the build checks them against the lengths."""
    import shutil

    from auroragpt.data.indexed import HEADER_BYTES, read_index

    for suffix in (".bin", ".idx"):
        shutil.copy(corpus_files[0] + suffix, tmp_path / f"odd{suffix}")
    _, count, _, lengths, _, _ = read_index(tmp_path / "odd.idx")
    data = bytearray((tmp_path / "odd.idx").read_bytes())
    lengths = lengths.copy()
    lengths[[3, 4]] = lengths[3] + 1, lengths[4] - 1  # same total, so the .bin size still fits
    assert lengths[4] >= 0
    data[HEADER_BYTES:HEADER_BYTES + 4 * count] = lengths.tobytes()
    # Now the pointer of sequence 4 is one token off its lengths; the split ends there.
    (tmp_path / "odd.idx").write_bytes(bytes(data))
    file_list = parse_file_list(f"1 {tmp_path}/odd a\n", "list")
    for workers in (1, 2):  # with builder threads, the one that fails stops the others
        with pytest.raises(DataError, match=r"odd.idx: its sequence lengths and sequence "
                                            "pointers disagree"):
            open_blend(file_list, 8, 20, 1, tmp_path / "c", split=f"{4 / count * 100},"
                       f"{100 - 4 / count * 100},0", workers=workers, progress=False)
        assert not [p for p in (tmp_path / "c").iterdir() if ".lock" in p.name or ".tmp" in p.name]


def test_bin_size_checked_when_planning(corpus_files, tmp_path):
    import shutil

    for suffix in (".bin", ".idx"):
        shutil.copy(corpus_files[0] + suffix, tmp_path / f"short{suffix}")
    with open(tmp_path / "short.bin", "r+b") as f:
        f.truncate(f.seek(0, 2) - 2)
    file_list = parse_file_list(f"1 {corpus_files[1]} a\n1 {tmp_path}/short b\n", "list")
    with pytest.raises(DataError, match=r"list:2 .*short.bin has \d+ bytes but its .idx indexes"):
        open_blend(file_list, 16, 100, 1, tmp_path / "c", progress=False)
