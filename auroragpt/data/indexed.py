"""Megatron's indexed token format: a `.bin` of raw token ids and an `.idx` that indexes it.

Layout of `<prefix>.idx` (all little-endian), as written by megatron-core's
`IndexedDatasetBuilder` for text documents:

    9 bytes   magic  b"MMIDIDX\\x00\\x00"
    uint64    version, always 1
    uint8     dtype code of the tokens in .bin (1 uint8, 2 int8, 3 int16, 4 int32, 5 int64,
              6 float64, 7 float32, 8 uint16)
    uint64    S, the number of sequences
    uint64    D, the length of the document index (number of documents + 1)
    int32[S]  sequence lengths in tokens
    int64[S]  byte offset of each sequence in .bin
    int64[D]  document index: sequence number where each document starts, then S

A GPT corpus stores one sequence per document, so the document index is 0, 1, ..., S. The
`.bin` is the concatenation of every sequence's tokens; its size must equal the sum of the
lengths times the dtype size. `IndexedDataset` mmaps both files and validates all of this up
front, so a bad file fails at open with a message, not later with a wrong sample.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from auroragpt.atomic import atomic_path
from auroragpt.data.errors import DataError

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
HEADER_BYTES = len(MAGIC) + 8 + 1 + 8 + 8  # 34

DTYPE_CODES: dict[int, type[np.number]] = {
    1: np.uint8,
    2: np.int8,
    3: np.int16,
    4: np.int32,
    5: np.int64,
    6: np.float64,
    7: np.float32,
    8: np.uint16,
}
CODE_OF_DTYPE = {np.dtype(t): code for code, t in DTYPE_CODES.items()}


def idx_path(prefix: str | Path) -> Path:
    return Path(f"{prefix}.idx")


def bin_path(prefix: str | Path) -> Path:
    return Path(f"{prefix}.bin")


def token_dtype_for_vocab(vocab_size: int) -> np.dtype:
    """The smallest token dtype Megatron's preprocessing picks for a vocabulary.

    NOTE: megatron-core switches to int32 at 65500 (not 65536), so files we write for a given
    vocabulary are the files its `preprocess_data.py` would write.
    """
    return np.dtype(np.uint16 if vocab_size < 65500 else np.int32)


def check_vocab_fits(vocab_size: int, dtype: np.dtype | type, where: str) -> None:
    """Refuse a dtype whose range cannot hold every id of the vocabulary."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        raise DataError(f"{where}: token dtype {dtype.name} is not an integer type")
    if vocab_size - 1 > np.iinfo(dtype).max:
        raise DataError(
            f"{where}: vocabulary of {vocab_size} tokens does not fit dtype {dtype.name} "
            f"(max id {np.iinfo(dtype).max}); use int32"
        )


class IndexedDataset:
    """Read-only, memory-mapped view of `<prefix>.bin` / `<prefix>.idx`.

    `ds[i]` is the token array of sequence i (a view into the mmap, no copy);
    `ds.get(i, offset, length)` a slice of it. `sequence_lengths`, `sequence_pointers` and
    `document_indices` are mmapped arrays straight from the `.idx`.
    """

    def __init__(self, prefix: str | Path):
        self.prefix = str(prefix)
        self._open()

    def _open(self) -> None:
        ipath, bpath = idx_path(self.prefix), bin_path(self.prefix)
        for path in (ipath, bpath):
            if not path.is_file():
                raise DataError(f"{path}: missing (prefix {self.prefix!r} needs .bin and .idx)")
        (self.dtype, self.sequence_count, self.document_count,
         self.sequence_lengths, self.sequence_pointers, self.document_indices) = read_index(ipath)
        expected = int(self.sequence_lengths.sum(dtype=np.int64)) * self.dtype.itemsize
        actual = bpath.stat().st_size
        if actual != expected:
            raise DataError(
                f"{bpath}: size {actual} bytes, but {ipath} indexes {expected} bytes "
                f"({self.sequence_count} sequences of {self.dtype.name}); the pair is mismatched "
                "or one of them is truncated"
            )
        # NOTE: np.memmap refuses empty files; an empty corpus has nothing to map.
        self._bin = (np.memmap(bpath, dtype=self.dtype, mode="r") if actual
                     else np.empty(0, self.dtype))

    def __getstate__(self) -> dict:
        return {"prefix": self.prefix}  # mmaps are reopened in the receiving process

    def __setstate__(self, state: dict) -> None:
        self.prefix = state["prefix"]
        self._open()

    def __len__(self) -> int:
        return self.sequence_count

    def __getitem__(self, i: int) -> np.ndarray:
        return self.get(i)

    def get(self, i: int, offset: int = 0, length: int | None = None) -> np.ndarray:
        start = int(self.sequence_pointers[i]) // self.dtype.itemsize + offset
        if length is None:
            length = int(self.sequence_lengths[i]) - offset
        return self._bin[start:start + length]

    @property
    def num_tokens(self) -> int:
        return int(self.sequence_lengths.sum(dtype=np.int64))


def _read_header(path: Path, fd: int) -> tuple[np.dtype, int, int]:
    """Validate the fixed header and the file size; (dtype, S, D)."""
    header = os.pread(fd, HEADER_BYTES, 0)
    if len(header) < HEADER_BYTES:
        raise DataError(f"{path}: truncated header ({len(header)} of {HEADER_BYTES} bytes)")
    if header[:9] != MAGIC:
        raise DataError(f"{path}: bad magic {header[:9]!r}, expected {MAGIC!r} (not a Megatron .idx)")
    version, code, seq_count, doc_count = struct.unpack("<QBQQ", header[9:])
    if version != VERSION:
        raise DataError(f"{path}: unsupported version {version}, expected {VERSION}")
    if code not in DTYPE_CODES:
        raise DataError(f"{path}: unknown dtype code {code}, expected one of 1-8")
    expected = HEADER_BYTES + seq_count * (4 + 8) + doc_count * 8
    size = os.fstat(fd).st_size
    if size < expected:
        raise DataError(
            f"{path}: truncated: {size} bytes, but the header promises {seq_count} sequences "
            f"and {doc_count} document-index entries ({expected} bytes)"
        )
    return np.dtype(DTYPE_CODES[code]), seq_count, doc_count


def _check_documents(path: Path, first: int, last: int, doc_count: int, seq_count: int) -> None:
    if doc_count == 0 or first != 0 or last != seq_count:
        raise DataError(
            f"{path}: document index must run from 0 to the sequence count {seq_count}, "
            f"got {first}..{last}"
        )


def _read_int(fd: int, offset: int, size: int) -> int:
    return int.from_bytes(os.pread(fd, size, offset), "little", signed=True)


class IndexHeader:
    """An `.idx` opened for point reads: its validated header and single entries, no arrays.

    A planner sizes thousands of files from a few bytes of each: the tokens of sequences
    [b, e) are `token_offset(e) - token_offset(b)`, from two pointers.
    """

    def __init__(self, path: str | Path):
        self.path = path
        self._fd = os.open(path, os.O_RDONLY)
        try:
            self.dtype, self.sequence_count, self.document_count = _read_header(self.path, self._fd)
            documents, count = HEADER_BYTES + 12 * self.sequence_count, self.document_count
            first = _read_int(self._fd, documents, 8) if count else -1
            last = _read_int(self._fd, documents + 8 * (count - 1), 8) if count else -1
            _check_documents(self.path, first, last, count, self.sequence_count)
        except BaseException:
            os.close(self._fd)
            raise

    def __enter__(self) -> IndexHeader:
        return self

    def __exit__(self, *exc) -> None:
        os.close(self._fd)

    def token_offset(self, sequence: int) -> int:
        """Where sequence i starts in `.bin`, in tokens; i = S gives the token count."""
        if sequence == self.sequence_count:
            if sequence == 0:
                return 0
            last = sequence - 1
            return self.token_offset(last) + _read_int(self._fd, HEADER_BYTES + 4 * last, 4)
        pointer = _read_int(self._fd, HEADER_BYTES + 4 * self.sequence_count + 8 * sequence, 8)
        return pointer // self.dtype.itemsize

    def lengths(self, out: np.ndarray | None = None) -> np.ndarray:
        """Every sequence length, int32, checked non-negative (read into `out` if given)."""
        lengths = np.empty(self.sequence_count, np.int32) if out is None else out
        if lengths.shape != (self.sequence_count,) or lengths.dtype != np.int32:
            raise DataError(f"{self.path}: holds {self.sequence_count} sequences, not "
                            f"{lengths.shape[0]} (did it change since it was planned?)")
        if os.preadv(self._fd, [lengths], HEADER_BYTES) != lengths.nbytes:
            raise DataError(f"{self.path}: changed while being read")
        if lengths.size and lengths.min() < 0:
            raise DataError(f"{self.path}: negative sequence length")
        return lengths


def read_index(path: Path) -> tuple[np.dtype, int, int, np.ndarray, np.ndarray, np.ndarray]:
    """Parse and validate an `.idx`, memory-mapped: (dtype, S, D, lengths, pointers, documents)."""
    with IndexHeader(path) as header:
        dtype, seq_count, doc_count = header.dtype, header.sequence_count, header.document_count
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    lengths = np.frombuffer(mm, np.int32, seq_count, HEADER_BYTES)
    pointers = np.frombuffer(mm, np.int64, seq_count, HEADER_BYTES + 4 * seq_count)
    documents = np.frombuffer(mm, np.int64, doc_count, HEADER_BYTES + 12 * seq_count)
    return dtype, seq_count, doc_count, lengths, pointers, documents


class IndexedDatasetWriter:
    """Append documents, then `finalize()`: writes `<prefix>.bin` and `<prefix>.idx` atomically.

    Both files are written under temporary names and renamed into place at the end, `.idx`
    last, so a reader never sees a half-written pair. Output is byte-identical to
    megatron-core's `IndexedDatasetBuilder` (`add_item` + `end_document` per document).
    """

    def __init__(self, prefix: str | Path, dtype: np.dtype | type = np.uint16):
        self.prefix = str(prefix)
        self.dtype = np.dtype(dtype)
        if self.dtype not in CODE_OF_DTYPE:
            raise DataError(f"{prefix}: dtype {self.dtype} has no Megatron dtype code")
        self._bin_file = atomic_path(bin_path(prefix))
        self._idx_file = atomic_path(idx_path(prefix))
        self._bin = open(self._bin_file.tmp, "wb")
        self._lengths: list[np.ndarray] = []

    def add_document(self, tokens: Iterable[int] | np.ndarray) -> None:
        self.add_documents([tokens])

    def add_documents(self, documents: Iterable[Iterable[int] | np.ndarray]) -> None:
        """Append many documents at once (one write, one length array)."""
        arrays = [self._as_tokens(doc) for doc in documents]
        if not arrays:
            return
        self._bin.write(np.concatenate(arrays).tobytes())
        self._lengths.append(np.fromiter((a.size for a in arrays), np.int32, len(arrays)))

    def add_flat(self, tokens: np.ndarray, lengths: np.ndarray) -> None:
        """Append documents given as one token array and their lengths (no per-document work)."""
        self._bin.write(self._as_tokens(tokens).tobytes())
        self._lengths.append(np.asarray(lengths, np.int32))

    def _as_tokens(self, doc: Iterable[int] | np.ndarray) -> np.ndarray:
        array = np.asarray(doc if isinstance(doc, np.ndarray) else list(doc))
        if array.size and array.dtype != self.dtype:
            info = np.iinfo(self.dtype)
            if array.min() < info.min or array.max() > info.max:
                raise DataError(
                    f"{self.prefix}: token id {int(array.max())} does not fit dtype "
                    f"{self.dtype.name}; the vocabulary is larger than the dtype (use int32)"
                )
        return array.astype(self.dtype, copy=False)

    def finalize(self) -> None:
        self._bin.close()
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.int32)
        try:
            write_index(self._idx_file.tmp, self.dtype, lengths)
        except BaseException:
            self.abort()
            raise
        self._bin_file.commit()
        self._idx_file.commit()

    def abort(self) -> None:
        self._bin.close()
        self._bin_file.discard()
        self._idx_file.discard()

    def __enter__(self) -> IndexedDatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finalize()
        else:
            self.abort()


def write_index(path: str | Path, dtype: np.dtype, lengths: np.ndarray) -> None:
    """Write an `.idx` for one sequence per document with the given token counts."""
    lengths = np.asarray(lengths, dtype=np.int32)
    count = lengths.size
    pointers = np.zeros(count, np.int64)
    np.cumsum(lengths[:-1], dtype=np.int64, out=pointers[1:])
    pointers *= np.dtype(dtype).itemsize
    with open(path, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<QB", VERSION, CODE_OF_DTYPE[np.dtype(dtype)]))
        f.write(struct.pack("<QQ", count, count + 1))
        f.write(lengths.tobytes())
        f.write(pointers.tobytes())
        f.write(np.arange(count + 1, dtype=np.int64).tobytes())
