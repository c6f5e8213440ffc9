"""The running Python's standard library: real code and English docstrings, present everywhere.

Each `.py` file under `sysconfig.get_paths()["stdlib"]` is one document, headed by a comment
line with its relative path and cut (at a line end) after `MAX_FILE_CHARS` characters.
Left out: tests, IDLE, installed packages, the huge generated `pydoc_data` topics, machine
specific `_sysconfigdata*` files, generated codec tables and empty files. Documents come in a
seeded shuffle of the sorted file list, so they are deterministic for a given Python
installation (another Python version has another standard library).

Probes complete a `def`, `class`, `import` or `from` line: the prompt is up to
`PROBE_CONTEXT_CHARS` characters of the file before the line plus the line up to its keyword,
the answer is the rest of the line, e.g. prompt "...\\n    def" and answer " __init__(self):".
One file in ten (by a hash of its path) is held out: it is never a document and all probes
come from these files, except passages that also occur verbatim in a training file.
"""

from __future__ import annotations

import os
import random
import re
import sysconfig
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

from auroragpt.corpora.base import Corpus, Probe, check_max_chars, is_held_out, take_chars

NAME = "stdlib"
MAX_FILE_CHARS = 40_000
PROBE_CONTEXT_CHARS = 400
MAX_ANSWER_CHARS = 60
_SKIPPED_DIRS = {"test", "tests", "idlelib", "site-packages", "dist-packages", "pydoc_data",
                 "__pycache__"}
_PROBE_LINE = re.compile(
    r"^[ \t]*(?:def (?=\w+\()|class (?=\w+[(:])|import (?=\w)|from (?=\.*\w[\w.]* import ))"
    r"(?P<rest>\S[^\n]*)$",
    re.MULTILINE,
)


class StdlibCorpus(Corpus):
    name = NAME
    description = "the running Python's standard-library source files (code and docstrings)"

    def __init__(self, root: str | Path | None = None) -> None:
        self._root = Path(root) if root is not None else None

    @property
    def root(self) -> Path:
        return self._root or Path(sysconfig.get_paths()["stdlib"])

    @cached_property
    def files(self) -> tuple[str, ...]:
        """Relative paths (POSIX style, sorted) of every candidate file, held out or not."""
        root = self.root
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: standard library directory not found")
        paths = []
        for directory, subdirs, names in os.walk(root):
            subdirs[:] = [d for d in subdirs if d not in _SKIPPED_DIRS]
            relative = Path(directory).relative_to(root)
            paths += [(relative / name).as_posix() for name in names
                      if name.endswith(".py") and not name.startswith("_sysconfigdata")]
        return tuple(sorted(paths))

    def training_files(self) -> list[str]:
        return [f for f in self.files if not is_held_out(NAME, f)]

    def held_out_files(self) -> list[str]:
        return [f for f in self.files if is_held_out(NAME, f)]

    @cached_property
    def _training_text(self) -> str:
        """All training documents in one string, to check probes against."""
        return "\0".join(doc for doc in map(self.read, self.training_files()) if doc is not None)

    def read(self, relative: str) -> str | None:
        """The document for one file, or None for files that are skipped by content."""
        try:
            text = (self.root / relative).read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            return None
        # Codec modules generated from mapping tables are long hex tables, not prose or code.
        if not text.strip() or "gencodec.py" in text[:500]:
            return None
        if len(text) > MAX_FILE_CHARS:
            text = text[: text.rfind("\n", 0, MAX_FILE_CHARS) + 1]
        return f"# {relative}\n{text}"

    def documents(self, seed: int = 0, max_chars: int | None = None) -> Iterator[str]:
        check_max_chars(max_chars)
        order = self.training_files()
        random.Random(f"{NAME}/documents/{seed}").shuffle(order)
        return take_chars((doc for doc in map(self.read, order) if doc is not None), max_chars)

    def probes(self, n: int, seed: int = 0) -> list[Probe]:
        if n < 0:
            raise ValueError(f"n={n} must be >= 0")
        rng = random.Random(f"{NAME}/probes/{seed}")
        files = self.held_out_files()
        rng.shuffle(files)
        per_file = []
        for relative in files:
            document = self.read(relative)
            if document is not None:
                candidates = _line_probes(document)
                rng.shuffle(candidates)
                per_file.append(candidates)
        probes: list[Probe] = []
        seen: set[str] = set()
        # Round-robin over files: the first probes spread over as many files as possible.
        for round_ in range(max(map(len, per_file), default=0)):
            for candidates in per_file:
                if len(probes) == n:
                    return probes
                if round_ >= len(candidates) or candidates[round_].prompt in seen:
                    continue
                probe = candidates[round_]
                seen.add(probe.prompt)
                # NOTE: some files share boilerplate (codec modules, test mains), so a passage
                # of a held-out file can also occur in a training file; such probes are dropped.
                if probe.prompt + probe.answer not in self._training_text:
                    probes.append(probe)
        if len(probes) < n:
            raise ValueError(f"corpus {NAME!r} has only {len(probes)} probes, {n} requested")
        return probes


def _line_probes(document: str) -> list[Probe]:
    """Every completable `def`/`class`/`import`/`from` line of a document, as a probe."""
    probes = []
    for match in _PROBE_LINE.finditer(document):
        rest = match.group("rest")
        if len(rest) > MAX_ANSWER_CHARS or rest != rest.rstrip():
            continue
        keyword_end = match.start("rest") - 1  # the space after the keyword is in the answer
        context_start = document.rfind("\n", 0, max(0, match.start() - PROBE_CONTEXT_CHARS)) + 1
        probes.append(Probe(NAME, document[context_start:keyword_end], " " + rest))
    return probes
