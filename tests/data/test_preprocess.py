"""Preprocessing and the `auroragpt data` commands, against the tokenizer's own encode."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from auroragpt.cli import main
from auroragpt.data import DataError, IndexedDataset, preprocess_files

TEXTS = [f"Document {i}: the quick brown fox jumps over {i * 7} lazy dogs. " * (1 + i % 5)
         for i in range(300)]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from auroragpt.tokenizer import Tokenizer

    return Tokenizer.train(TEXTS, 320, tmp_path_factory.mktemp("tok") / "t.model")


@pytest.fixture(scope="module")
def jsonl(tmp_path_factory):
    path = tmp_path_factory.mktemp("in") / "docs.jsonl"
    path.write_text("".join(json.dumps({"body": t, "id": i}) + "\n" for i, t in enumerate(TEXTS)))
    return path


def test_tokens_are_encode_plus_eod_for_any_worker_count(tokenizer, jsonl, tmp_path):
    one = preprocess_files([str(jsonl)], tokenizer.model_path, tmp_path / "one", workers=1,
                     json_key="body", progress=False)
    two = preprocess_files([str(jsonl)], tokenizer.model_path, tmp_path / "two", workers=2,
                     json_key="body", progress=False)
    for suffix in (".bin", ".idx"):
        assert (tmp_path / f"one{suffix}").read_bytes() == (tmp_path / f"two{suffix}").read_bytes()
    corpus = IndexedDataset(tmp_path / "one")
    assert corpus.dtype == np.uint16 and len(corpus) == len(TEXTS) == one.documents
    for i in (0, 1, 123, 299):
        assert corpus[i].tolist() == tokenizer.encode(TEXTS[i]) + [tokenizer.eos_id]
    assert one.tokens == two.tokens == corpus.num_tokens
    metrics = (tmp_path / "one.preprocess.jsonl").read_text().splitlines()
    assert json.loads(metrics[-1])["tokens"] == one.tokens


def test_plain_text_files_are_one_document_each(tokenizer, tmp_path):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"doc{i}.txt")
        paths[-1].write_text(TEXTS[i])
    preprocess_files([str(p) for p in paths], tokenizer.model_path, tmp_path / "txt", progress=False)
    corpus = IndexedDataset(tmp_path / "txt")
    assert [corpus[i].tolist() for i in range(3)] == [
        tokenizer.encode(t) + [tokenizer.eos_id] for t in TEXTS[:3]]


@pytest.mark.parametrize("content,message", [
    ('{"text": "ok"}\nnot json\n', r"bad.jsonl:2: not valid JSON"),
    ('{"other": "x"}\n', r"bad.jsonl:1: expected a string under key 'text'"),
])
def test_bad_jsonl(tokenizer, tmp_path, content, message):
    (tmp_path / "bad.jsonl").write_text(content)
    with pytest.raises(DataError, match=message):
        preprocess_files([str(tmp_path / "bad.jsonl")], tokenizer.model_path, tmp_path / "o",
                   progress=False)
    assert not (tmp_path / "o.idx").exists() and not (tmp_path / "o.bin").exists()


def test_dtype_too_small_for_vocabulary(tokenizer, jsonl, tmp_path):
    with pytest.raises(DataError, match="vocabulary of 320 tokens does not fit dtype uint8"):
        preprocess_files([str(jsonl)], tokenizer.model_path, tmp_path / "o", dtype="uint8",
                   json_key="body", progress=False)


def test_cli_preprocess_then_build_index(tokenizer, jsonl, tmp_path, capsys):
    prefix = tmp_path / "corpus"
    assert main(["data", "preprocess", "--input", str(jsonl), "--json-key", "body",
                 "--tokenizer", str(tokenizer.model_path), "--output-prefix", str(prefix),
                 "--workers", "2"]) == 0
    assert "tokens/s with 2 workers" in capsys.readouterr().out
    listing = tmp_path / "list.txt"
    listing.write_text(f"0.7 {prefix} web\n0.3 corpus books\n")
    args = ["data", "build-index", "--data-file-list", str(listing), "--seq-length", "32",
            "--num-samples", "200", "--seed", "5", "--cache", str(tmp_path / "cache"),
            "--split", "90,10,0", "--valid-samples", "20", "--workers", "2"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert re.search(r"train: 20\d samples of 32 tokens from 2 files in 2 corpora", err)
    assert "valid:" in err and "0.7000" in err
    assert main(args) == 0  # warm: loads what is there
    assert "0 of 2 index files were missing, 0 built here" in capsys.readouterr().err
    listing.write_text("0.7 missing_prefix web\n")
    assert main(args) == 1
    assert "list.txt:1: prefix 'missing_prefix'" in capsys.readouterr().err
