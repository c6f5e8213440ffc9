"""Exercise 01: how much does a tokenizer compress, and what happens to characters it never saw?

Fill in the three functions below, then check your work from the repository root:

    auroragpt exercises check 01
    auroragpt exercises check 01 --file my_copy.py

Then answer the question of the task text (README.md) with your own measurements: run this file
(`python exercises/01-tokenizer/starter.py`) once the functions work.
"""

from collections.abc import Sequence
from pathlib import Path

from auroragpt.tokenizer import Tokenizer


def bytes_per_token(tokenizer: Tokenizer, texts: Sequence[str]) -> float:
    """Compression of `tokenizer` on `texts`: UTF-8 bytes per token, over all texts together.

    The total number of UTF-8 bytes of all texts divided by the total number of tokens they
    encode to (no BOS or EOS tokens). Higher is better: each token carries more text.
    """
    # TODO: total bytes (not characters!) over total tokens
    raise NotImplementedError("TODO: bytes_per_token")


def count_byte_tokens(tokenizer: Tokenizer, text: str) -> int:
    """How many tokens of `text` are byte-fallback tokens.

    A character that is not in the vocabulary is spelled as its UTF-8 bytes, one token per
    byte; those tokens' pieces look like `<0xE2>` (see tokenizer.id_to_piece).
    """
    # TODO: encode, then count the ids whose piece is a byte piece
    raise NotImplementedError("TODO: count_byte_tokens")


def compression_by_vocab_size(train_texts: Sequence[str], test_texts: Sequence[str],
                              vocab_sizes: Sequence[int], workdir: str) -> dict[int, float]:
    """Train one tokenizer per vocabulary size on `train_texts`; measure each on `test_texts`.

    Use Tokenizer.train(train_texts, vocab_size, path) with a path inside `workdir`.
    Returns {vocab_size: bytes_per_token on test_texts}.
    """
    # TODO: one tokenizer per vocabulary size, measured on the held-out texts
    raise NotImplementedError("TODO: compression_by_vocab_size")


if __name__ == "__main__":
    # Your measurement for the question in README.md: the standard library's own source.
    import argparse
    import difflib
    import tempfile
    import textwrap

    train = [Path(m.__file__).read_text(encoding="utf-8") for m in (argparse, difflib)]
    test = [Path(textwrap.__file__).read_text(encoding="utf-8")]
    with tempfile.TemporaryDirectory() as workdir:
        results = compression_by_vocab_size(train, test, [400, 800, 1600, 3200], workdir)
    for vocab_size, ratio in results.items():
        print(f"vocab {vocab_size:5d}: {ratio:.2f} bytes per token")
