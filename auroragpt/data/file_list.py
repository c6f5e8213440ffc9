"""ALCF's data-file-list format: one `weight prefix corpus` line per tokenized file.

    # comments and blank lines are ignored
    0.0123  /data/dolma/cc_en_head-0000_text_document  cc_en_head
    0.0045  books/gutenberg-0001_text_document            books

The weight is the file's share of the blend (any positive scale; the list is normalised).
The corpus groups files: corpora are blended by the sum of their files' weights. A line with
only `weight prefix` makes the line its own corpus, which gives exactly megatron-core's flat
blend of `--data-path w1 p1 w2 p2 ...`, a prefix listed twice included (two datasets, as
megatron-core builds them). Relative prefixes are resolved against the directory of the list
file, so a list and its data can move together.

A `#` starts a comment at the start of a line or after whitespace; inside a path it is part
of the path. A prefix may carry the `.bin` (or `.idx`) suffix, as lists made with
`ls *.bin` do and ALCF's scripts accept: it names the same pair.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from auroragpt.data.errors import DataError


@dataclass(frozen=True)
class FileEntry:
    """One line of a data-file-list."""

    weight: float
    prefix: str  # absolute path prefix of the .bin/.idx pair
    corpus: str
    line: int  # 1-based line number in the list, for error messages


@dataclass
class DataFileList:
    entries: list[FileEntry]
    source: str  # where the list came from (a path, or a description)

    @property
    def corpora(self) -> list[str]:
        """Corpus names in order of first appearance (the order of the blend's datasets)."""
        return list(dict.fromkeys(entry.corpus for entry in self.entries))


_COMMENT = re.compile(r"(^|\s)#.*")
_SUFFIXES = (".bin", ".idx")


def _prefix(path: str) -> str:
    """The pair's prefix: `path` itself, or `path` less a `.bin`/`.idx` suffix unless
    `path` itself names a pair (`x.bin.bin`)."""
    if path.endswith(_SUFFIXES) and not os.path.isfile(f"{path}.idx"):
        return path[:-4]
    return path


def parse_file_list(text: str, source: str, base_dir: str | Path = ".",
                    check_files: bool = True) -> DataFileList:
    entries, corpora = [], set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _COMMENT.sub("", raw).strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) not in (2, 3):
            raise DataError(
                f"{source}:{number}: expected 'weight prefix corpus', got {len(fields)} fields: {raw!r}"
            )
        try:
            weight = float(fields[0])
        except ValueError:
            raise DataError(
                f"{source}:{number}: weight {fields[0]!r} is not a number (expected 'weight prefix corpus')"
            ) from None
        if not (math.isfinite(weight) and weight > 0):
            raise DataError(
                f"{source}:{number}: weight {fields[0]} must be a positive number; "
                "comment the line out to drop a file"
            )
        prefix = _prefix(os.path.abspath(os.path.join(base_dir, os.path.expanduser(fields[1]))))
        if check_files:
            missing = [p for p in (f"{prefix}.bin", f"{prefix}.idx") if not os.path.isfile(p)]
            if missing:
                raise DataError(f"{source}:{number}: prefix {fields[1]!r}: missing {', '.join(missing)}")
        corpus = fields[2] if len(fields) == 3 else _own_corpus(prefix, number, corpora)
        corpora.add(corpus)
        entries.append(FileEntry(weight, prefix, corpus, number))
    if not entries:
        raise DataError(f"{source}: no files listed")
    return DataFileList(entries, source)


def _own_corpus(prefix: str, line: int, corpora: set[str]) -> str:
    """The corpus name of a two-column line: its prefix, or, if a corpus of that name exists
    already, the prefix and line, so a repeated prefix stays a dataset of its own."""
    return f"{prefix}@{line}" if prefix in corpora else prefix


def read_file_list(path: str | Path, check_files: bool = True) -> DataFileList:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: data-file-list not found")
    return parse_file_list(path.read_text(), str(path), path.parent, check_files)


def format_file_list(entries: list[tuple[float, str, str]]) -> str:
    return "".join(f"{weight!r} {prefix} {corpus}\n" for weight, prefix, corpus in entries)
