"""stdlib corpus: documents are the library's own files (read back independently here),
skipping rules hold on a fake library tree, and probes are true continuations of held-out
files."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from auroragpt.corpora import get_corpus
from auroragpt.corpora.stdlib import MAX_FILE_CHARS, StdlibCorpus

ROOT = Path(sysconfig.get_paths()["stdlib"])


def split_header(document: str) -> tuple[str, str]:
    header, _, body = document.partition("\n")
    assert header.startswith("# ")
    return header[2:], body


def test_documents_are_the_library_files():
    docs = list(get_corpus("stdlib").documents(seed=0, max_chars=3_000_000))
    paths = [split_header(doc)[0] for doc in docs]
    assert len(set(paths)) == len(paths) > 50
    for doc, relative in zip(docs, paths, strict=True):
        parts = Path(relative).parts
        assert not {"test", "tests", "idlelib", "site-packages"} & set(parts)
        source = (ROOT / relative).read_text(encoding="utf-8")
        body = split_header(doc)[1]
        assert body == source if len(source) <= MAX_FILE_CHARS else source.startswith(body)


def test_seed_shuffles_the_same_files():
    corpus = get_corpus("stdlib")
    first = [split_header(d)[0] for d in corpus.documents(seed=0)]
    second = [split_header(d)[0] for d in corpus.documents(seed=1)]
    assert first != second and sorted(first) == sorted(second)


def test_probes_continue_held_out_files_truthfully():
    corpus = get_corpus("stdlib")
    training = {split_header(d)[0] for d in corpus.documents(seed=0)}
    held_out = [f for f in corpus.files if f not in training]
    sources = {f: (ROOT / f).read_text(encoding="utf-8", errors="replace") for f in held_out}
    probes = corpus.probes(80, seed=0)
    for probe in probes:
        text = probe.prompt
        if text.startswith("# "):  # the context reaches the top of the file
            text = split_header(text)[1]
        passage = text + probe.answer + "\n"
        owners = [f for f, source in sources.items() if passage in source]
        assert owners, probe
        keyword = probe.prompt.rsplit("\n", 1)[-1].strip()
        assert keyword in ("def", "class", "import", "from")


def _fake_library(root: Path) -> None:
    files = {
        "alpha.py": "import os\n\n\ndef alpha(x):\n    return x\n",
        "pkg/__init__.py": "",
        "pkg/beta.py": "from pkg import gamma\nclass Beta:\n    pass\n",
        "pkg/big.py": "".join(f"value_{i} = {i}\n" for i in range(MAX_FILE_CHARS // 10)),
        "test/test_alpha.py": "import alpha\n",
        "pkg/tests/test_beta.py": "import pkg\n",
        "idlelib/editor.py": "import tkinter\n",
        "site-packages/third_party.py": "import requests\n",
        "_sysconfigdata__linux.py": "build_time_vars = {}\n",
        "encodings/cp9999.py": '""" Python Character Mapping Codec generated with gencodec.py """\n',
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "latin.py").write_bytes(b"# caf\xe9\nx = 1\n")  # not UTF-8
    for i in range(30):  # enough files that some are held out
        (root / f"mod{i:02d}.py").write_text(f"def f{i}(a, b):\n    return a + {i}\n")


def test_skipping_rules_on_a_fake_library(tmp_path):
    _fake_library(tmp_path)
    corpus = StdlibCorpus(tmp_path)
    assert "test/test_alpha.py" not in corpus.files
    assert not any(f.startswith(("idlelib/", "site-packages/", "_sysconfigdata", "pkg/tests/"))
                   for f in corpus.files)
    docs = {split_header(d)[0]: split_header(d)[1] for d in corpus.documents(seed=0)}
    # Content rules: empty, generated codec tables and undecodable files give no document.
    assert not {"pkg/__init__.py", "encodings/cp9999.py", "latin.py"} & set(docs)
    readable = {f for f in corpus.files
                if f not in ("pkg/__init__.py", "encodings/cp9999.py", "latin.py")}
    held_out = set(corpus.held_out_files())
    assert set(docs) == readable - held_out and held_out & readable
    big = split_header(corpus.read("pkg/big.py"))[1]  # cut at a line end below the cap
    assert MAX_FILE_CHARS - 20 < len(big) <= MAX_FILE_CHARS and big.endswith("\n")
    assert (tmp_path / "pkg/big.py").read_text().startswith(big)


def test_missing_library_directory_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        list(StdlibCorpus(tmp_path / "nowhere").documents())
