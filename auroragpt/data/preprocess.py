"""Tokenize documents into a Megatron `.bin/.idx` pair, on several processes.

Inputs are JSONL files (one document per line, text under a configurable key), plain text
files (one document per file) or `builtin:NAME` (a built-in corpus). Every document gets the
tokenizer's end-of-document id (`eos_id`) appended, as Megatron's `--append-eod` does. Worker
processes each load the tokenizer once and encode batches; the parent writes in input order,
so the output does not depend on the number of workers.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auroragpt.data.errors import DataError
from auroragpt.data.indexed import IndexedDatasetWriter, check_vocab_fits, token_dtype_for_vocab

BATCH_DOCUMENTS = 256


@dataclass
class PreprocessStats:
    documents: int
    tokens: int
    characters: int
    seconds: float

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / max(self.seconds, 1e-9)


def iter_documents(inputs: Iterable[str], json_key: str = "text", seed: int = 0,
                   max_chars: int | None = None) -> Iterator[str]:
    """Documents of every input in order; errors name the file and line."""
    for spec in inputs:
        if spec.startswith("builtin:"):
            name = spec.split(":", 1)[1]
            yield from builtin_corpus(name).documents(seed=seed, max_chars=max_chars)
            continue
        path = Path(spec)
        if not path.is_file():
            raise DataError(f"{path}: input file not found")
        if path.suffix in (".jsonl", ".json"):
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f, start=1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError as err:
                        raise DataError(f"{path}:{number}: not valid JSON: {err.msg}") from None
                    text = record.get(json_key) if isinstance(record, dict) else None
                    if not isinstance(text, str):
                        raise DataError(f"{path}:{number}: expected a string under key {json_key!r}")
                    yield text
        else:
            yield path.read_text(encoding="utf-8")


def builtin_corpus(name: str):
    """The built-in corpus `name`, or a DataError listing the available ones."""
    from auroragpt.corpora import CORPORA

    if name not in CORPORA:
        raise DataError(f"builtin:{name}: unknown corpus; available: {', '.join(sorted(CORPORA))}")
    return CORPORA[name]


def _batches(documents: Iterator[str]) -> Iterator[list[str]]:
    batch = []
    for doc in documents:
        batch.append(doc)
        if len(batch) == BATCH_DOCUMENTS:
            yield batch
            batch = []
    if batch:
        yield batch


_worker_tokenizer = None


def _init_worker(model_path: str) -> None:
    global _worker_tokenizer
    from auroragpt.tokenizer import Tokenizer

    _worker_tokenizer = Tokenizer.load(model_path, num_threads=1)


def _encode(batch: list[str], tokenizer=None) -> tuple[np.ndarray, np.ndarray, int]:
    """A batch as (all token ids, per-document lengths, characters): arrays pickle cheaply."""
    ids = (tokenizer or _worker_tokenizer).encode_batch(batch, eos=True)
    lengths = np.fromiter(map(len, ids), np.int32, len(ids))
    flat = np.fromiter((t for doc in ids for t in doc), np.int64, int(lengths.sum()))
    return flat, lengths, sum(map(len, batch))


def preprocess_files(inputs: list[str], tokenizer_path: str | Path, output_prefix: str | Path,
                     workers: int = 1, json_key: str = "text", dtype: str | None = None,
                     seed: int = 0, max_chars: int | None = None,
                     progress: bool = True) -> PreprocessStats:
    """Tokenize `inputs` into `<output_prefix>.bin/.idx` (written atomically)."""
    from auroragpt.tokenizer import Tokenizer

    # NOTE: one thread: `workers` is the whole encoding parallelism (worker processes).
    tokenizer = Tokenizer.load(tokenizer_path, num_threads=1)
    token_dtype = np.dtype(dtype) if dtype else token_dtype_for_vocab(tokenizer.vocab_size)
    check_vocab_fits(tokenizer.vocab_size, token_dtype, f"{output_prefix}")
    batches = _batches(iter_documents(inputs, json_key, seed, max_chars))
    tally = _Tally(f"tokenizing {Path(output_prefix).name}" if progress else None)
    with IndexedDatasetWriter(output_prefix, token_dtype) as writer:
        if workers > 1:
            context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
            with context.Pool(workers, _init_worker, (str(tokenizer.model_path),)) as pool:
                for encoded in pool.imap(_encode, batches, chunksize=4):
                    tally.write(writer, *encoded)
        else:
            for batch in batches:
                tally.write(writer, *_encode(batch, tokenizer))
    stats = tally.close()
    with open(f"{output_prefix}.preprocess.jsonl", "a") as f:
        f.write(json.dumps({"time": time.time(), "inputs": inputs, "workers": workers,
                            "tokenizer": str(tokenizer_path), **stats.__dict__,
                            "tokens_per_s": stats.tokens_per_s}) + "\n")
    return stats


class _Tally:
    """Writes encoded batches in order, counts them and drives the progress bar."""

    def __init__(self, description: str | None):
        self.start = time.perf_counter()
        self.documents = self.tokens = self.characters = 0
        self.bar = None
        if description:
            from tqdm import tqdm

            self.bar = tqdm(desc=description, unit="doc", file=sys.stderr)

    def write(self, writer: IndexedDatasetWriter, tokens: np.ndarray, lengths: np.ndarray,
              chars: int) -> None:
        writer.add_flat(tokens, lengths)
        self.documents += len(lengths)
        self.tokens += tokens.size
        self.characters += chars
        if self.bar is not None:
            self.bar.update(len(lengths))
            self.bar.set_postfix_str(f"{self.tokens / (time.perf_counter() - self.start):,.0f} tok/s")

    def close(self) -> PreprocessStats:
        if self.bar is not None:
            self.bar.close()
        return PreprocessStats(self.documents, self.tokens, self.characters,
                               time.perf_counter() - self.start)
