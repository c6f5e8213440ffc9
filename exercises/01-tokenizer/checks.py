"""Checks of exercise 01 on tokenizers trained from the Python standard library's source, with
random held-out texts full of multi-byte characters: against the byte/token counts computed
here and sentencepiece's own record of which pieces are bytes."""

import argparse
import difflib
import json
import random
import textwrap
from pathlib import Path

import sentencepiece as spm

from auroragpt.exercise_checker.checking import CheckFailed, check, expect_close, is_close
from auroragpt.tokenizer import Tokenizer

# Characters the training text (Python source in English) has rarely or never seen.
RARE = "éüßøλπΣж中文字😀🚀∑√→"


def _stdlib_texts(*modules) -> list[str]:
    return [Path(m.__file__).read_text(encoding="utf-8") for m in modules]


def _tokenizer(workdir: Path) -> Tokenizer:
    return Tokenizer.train(_stdlib_texts(argparse, difflib), 600, workdir / "check.model")


def _held_out_texts(seed: int) -> list[str]:
    """Lines of another module, some with rare characters mixed in, of very different lengths."""
    rng = random.Random(seed)
    lines = [line for line in _stdlib_texts(json.decoder)[0].splitlines() if line.strip()]
    texts = []
    for n_lines in (1, 2, 40, 3, 200):
        start = rng.randrange(len(lines) - n_lines)
        text = "\n".join(lines[start:start + n_lines])
        if rng.random() < 0.7:
            text += " " + "".join(rng.choice(RARE) for _ in range(rng.randint(3, 30)))
        texts.append(text)
    texts.append("".join(rng.choice(RARE) for _ in range(12)))  # almost all bytes
    return texts


def _ratio(tokenizer: Tokenizer, texts, count=lambda text: len(text.encode("utf-8"))) -> float:
    return sum(map(count, texts)) / sum(len(tokenizer.encode(text)) for text in texts)


def _as_number(value, what: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise CheckFailed(f"{what}: returned {type(value).__name__}, expected a number")
    return float(value)


@check("bytes_per_token matches total UTF-8 bytes / total tokens on random held-out texts",
       hint="one ratio of two totals over all texts; bytes are len(text.encode('utf-8')), which "
            "differs from len(text) as soon as a character is not ASCII.")
def bytes_per_token_matches(ctx):
    bytes_per_token = ctx.function("bytes_per_token")
    tokenizer = _tokenizer(ctx.workdir)
    texts = _held_out_texts(ctx.seed)
    expected = _ratio(tokenizer, texts)
    got = _as_number(bytes_per_token(tokenizer, list(texts)), "bytes_per_token")
    if is_close(got, expected, atol=0, rtol=1e-12):
        return
    n_tokens = sum(len(tokenizer.encode(text)) for text in texts)
    mistakes = {
        "you counted characters, not UTF-8 bytes": _ratio(tokenizer, texts, len),
        "that is tokens per byte; the ratio is the other way up": 1 / expected,
        "that is a mean of per-text ratios: short texts weigh as much as long ones":
            sum(_ratio(tokenizer, [t]) for t in texts) / len(texts),
        "BOS/EOS tokens are counted; count only the text's own tokens":
            sum(len(t.encode("utf-8")) for t in texts) / (n_tokens + len(texts)),
    }
    for message, wrong in mistakes.items():
        if is_close(got, wrong, atol=0, rtol=1e-9):
            raise CheckFailed(message)
    expect_close(got, expected, "bytes per token", atol=0, rtol=1e-12)


@check("count_byte_tokens agrees with sentencepiece's own list of byte pieces",
       hint="byte pieces are named <0x..> with two hexadecimal digits; a character of k UTF-8 "
            "bytes outside the vocabulary costs k of them.")
def byte_tokens_match(ctx):
    count_byte_tokens = ctx.function("count_byte_tokens")
    tokenizer = _tokenizer(ctx.workdir)
    processor = spm.SentencePieceProcessor(model_file=str(tokenizer.model_path))
    for text in _held_out_texts(ctx.seed + 1) + ["plain ascii text", "\u2581", "0x41 <0x41>"]:
        expected = sum(processor.is_byte(i) for i in tokenizer.encode(text))
        got = _as_number(count_byte_tokens(tokenizer, text), "count_byte_tokens")
        if got != expected:
            raise CheckFailed(f"for the text {textwrap.shorten(text, 60)!r}: you counted "
                              f"{got:g} byte tokens among its {len(tokenizer.encode(text))} tokens")


@check("compression_by_vocab_size matches tokenizers trained and measured here",
       hint="train with Tokenizer.train(train_texts, vocab_size, path) for each size, measure "
            "on test_texts only (held out: never the training text), and key the result by "
            "vocabulary size.")
def compression_by_vocab_matches(ctx):
    compression_by_vocab_size = ctx.function("compression_by_vocab_size")
    train = _stdlib_texts(argparse, difflib)
    test = _held_out_texts(ctx.seed + 2)
    vocab_sizes = [400, 900]
    learner_dir = ctx.workdir / "learner"
    learner_dir.mkdir()
    got = compression_by_vocab_size(train, test, vocab_sizes, str(learner_dir))
    if not isinstance(got, dict) or sorted(got) != vocab_sizes:
        raise CheckFailed(f"expected a dict keyed by the vocabulary sizes {vocab_sizes}, got "
                          f"{got!r:.80}")
    for vocab_size in vocab_sizes:
        tokenizer = Tokenizer.train(train, vocab_size, ctx.workdir / f"ref{vocab_size}.model")
        expected = _ratio(tokenizer, test)
        value = _as_number(got[vocab_size], f"the value for vocab_size={vocab_size}")
        if is_close(value, _ratio(tokenizer, train), atol=0, rtol=1e-9):
            raise CheckFailed(f"vocab_size={vocab_size}: measured on the training texts; "
                              "measure on test_texts")
        expect_close(value, expected, f"bytes per token at vocab_size={vocab_size}",
                     atol=0, rtol=1e-12)
