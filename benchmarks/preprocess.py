"""Preprocessing throughput against its limit: the bare tokenizer's encode rate times workers.

    python benchmarks/preprocess.py --megabytes 20 --workers 1 2

A JSONL of generated documents is tokenized by `auroragpt data preprocess` (reading JSON,
encoding in worker processes, writing .bin/.idx); the limit is one process calling the
sentencepiece model's `encode_batch` on the same texts in memory, single-threaded, times the
number of workers. The ratio says how much the pipeline around the tokenizer costs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

WORDS = ("the of and to in is was for on that with as by at from his her an which are be "
         "this or had not but were they have one all their has been would more who when "
         "there she can if into other its time some these two may then do first any like "
         "now my such new over only our also most very after what made years where through "
         "energy carbon molecule gradient tensor equation sample kernel rank node cluster").split()


def make_documents(megabytes: float, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    docs, size = [], 0
    while size < megabytes * 1e6:
        words = rng.choice(WORDS, size=int(rng.geometric(1 / 300)) + 5)
        numbers = rng.integers(0, 10_000, size=len(words) // 20)
        text = " ".join(words.tolist()) + ". " + " ".join(map(str, numbers.tolist()))
        docs.append(text)
        size += len(text)
    return docs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--vocab-size", type=int, default=768)
    args = parser.parse_args()

    from auroragpt.data.preprocess import preprocess_files
    from auroragpt.tokenizer import Tokenizer

    work = Path(tempfile.mkdtemp(prefix="auroragpt-preprocess-"))
    docs = make_documents(args.megabytes)
    jsonl = work / "docs.jsonl"
    jsonl.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    tokenizer = Tokenizer.train(docs, args.vocab_size, work / "tok.model")
    bare = Tokenizer.load(tokenizer.model_path, num_threads=1)
    start = time.perf_counter()
    tokens = sum(len(ids) for ids in bare.encode_batch(docs, eos=True))
    bare_rate = tokens / (time.perf_counter() - start)
    print(f"{len(docs):,} documents, {args.megabytes:g} MB, {tokens:,} tokens; bare "
          f"encode_batch (1 thread): {bare_rate:,.0f} tokens/s")
    print(f"{'workers':>8} {'ours tok/s':>12} {'limit tok/s':>12} {'ours/limit':>10}")
    for workers in args.workers:
        stats = preprocess_files([str(jsonl)], tokenizer.model_path, work / f"out{workers}",
                                 workers=workers, progress=False)
        assert stats.tokens == tokens
        limit = bare_rate * workers
        print(f"{workers:>8} {stats.tokens_per_s:>12,.0f} {limit:>12,.0f} "
              f"{stats.tokens_per_s / limit:>10.2f}")


if __name__ == "__main__":
    main()
