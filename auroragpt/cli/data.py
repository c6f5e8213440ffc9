"""`auroragpt data preprocess` and `auroragpt data build-index`."""

from __future__ import annotations

import argparse
import os
import sys

from auroragpt.cli.args import non_negative_int, positive_int, split_shares


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="tokenize corpora and build blend indices")
    commands = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)

    pre = commands.add_parser("preprocess", help="tokenize JSONL/text into a .bin/.idx pair")
    pre.add_argument("--input", nargs="+", required=True,
                     help="JSONL or text files, or builtin:NAME for a built-in corpus")
    pre.add_argument("--tokenizer", required=True, help="sentencepiece .model file")
    pre.add_argument("--output-prefix", required=True, help="writes PREFIX.bin and PREFIX.idx")
    pre.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1)
    pre.add_argument("--json-key", default="text", help="JSONL field holding the text")
    pre.add_argument("--dtype", default=None, help="token dtype (default: uint16 if it fits)")
    pre.add_argument("--max-chars", type=positive_int, default=None,
                     help="builtin corpora: characters")
    pre.set_defaults(func=_preprocess)

    build = commands.add_parser("build-index",
                                help="build (or load) every index of a data-file-list")
    build.add_argument("--data-file-list", required=True, help="'weight prefix corpus' lines")
    build.add_argument("--seq-length", type=positive_int, required=True)
    build.add_argument("--num-samples", type=positive_int, required=True, help="train samples")
    build.add_argument("--seed", type=int, default=1234)
    build.add_argument("--cache", required=True, help="index cache directory")
    build.add_argument("--split", type=split_shares, default="100,0,0",
                       help="train,valid,test document shares")
    build.add_argument("--valid-samples", type=non_negative_int, default=0)
    build.add_argument("--test-samples", type=non_negative_int, default=0)
    build.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1,
                       help="threads of this process building indices")
    build.add_argument("--rank", type=int, default=int(os.environ.get("RANK", 0)),
                       help="this process's rank (spreads work; any value is safe)")
    build.set_defaults(func=_build_index)


def _preprocess(args: argparse.Namespace) -> int:
    from auroragpt.data.errors import DataError
    from auroragpt.data.preprocess import preprocess_files

    try:
        stats = preprocess_files(args.input, args.tokenizer, args.output_prefix, workers=args.workers,
                           json_key=args.json_key, dtype=args.dtype, max_chars=args.max_chars)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{stats.documents:,} documents, {stats.tokens:,} tokens in {stats.seconds:.2f} s: "
          f"{stats.tokens_per_s:,.0f} tokens/s with {args.workers} workers -> "
          f"{args.output_prefix}.bin/.idx")
    return 0


def _build_index(args: argparse.Namespace) -> int:
    from auroragpt.data.blended import open_blend
    from auroragpt.data.errors import DataError
    from auroragpt.data.file_list import read_file_list

    log = lambda text: print(text, file=sys.stderr)  # noqa: E731
    try:
        file_list = read_file_list(args.data_file_list)
        for split_name, samples in (("train", args.num_samples), ("valid", args.valid_samples),
                                    ("test", args.test_samples)):
            if samples > 0:
                open_blend(file_list, args.seq_length, samples, args.seed, args.cache,
                           split=args.split, split_name=split_name, rank=args.rank,
                           workers=args.workers, log=log)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
