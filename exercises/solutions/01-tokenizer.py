"""Reference solution of exercise 01: tokenizer compression and byte fallback."""

import re
from collections.abc import Sequence
from pathlib import Path

from auroragpt.tokenizer import Tokenizer

BYTE_PIECE = re.compile(r"<0x[0-9A-F]{2}>")


def bytes_per_token(tokenizer: Tokenizer, texts: Sequence[str]) -> float:
    """Total UTF-8 bytes over total tokens (a ratio of sums, not a mean of ratios)."""
    n_bytes = sum(len(text.encode("utf-8")) for text in texts)
    n_tokens = sum(len(ids) for ids in tokenizer.encode_batch(list(texts)))
    return n_bytes / n_tokens


def count_byte_tokens(tokenizer: Tokenizer, text: str) -> int:
    """Tokens of `text` that spell a UTF-8 byte (`<0xNN>` pieces)."""
    return sum(bool(BYTE_PIECE.fullmatch(tokenizer.id_to_piece(i))) for i in tokenizer.encode(text))


def compression_by_vocab_size(train_texts: Sequence[str], test_texts: Sequence[str],
                              vocab_sizes: Sequence[int], workdir: str) -> dict[int, float]:
    """{vocab_size: bytes per token on test_texts} of tokenizers trained on train_texts."""
    results = {}
    for vocab_size in vocab_sizes:
        path = Path(workdir) / f"bpe{vocab_size}.model"
        tokenizer = Tokenizer.train(train_texts, vocab_size, path)
        results[vocab_size] = bytes_per_token(tokenizer, test_texts)
    return results
