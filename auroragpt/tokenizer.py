"""A sentencepiece BPE tokenizer that round-trips any text exactly: code, whitespace, Unicode.

`Tokenizer.train(texts, vocab_size, path)` learns a BPE vocabulary from an iterator of texts and
writes one sentencepiece `.model` file; `Tokenizer.load(path)` reads it back. The special ids
are fixed so that every model this project trains agrees on them:

    pad = 0, unk = 1, bos = 2, eos = 3  (eos is also the end-of-document token of the data
                                          pipeline), "\\n" = 4, then the 256 byte pieces.

Settings that make `decode(encode(text)) == text` hold for every string:

- no normalisation (`identity`), no whitespace folding and no dummy leading space, so code
  indentation, tabs, repeated spaces and leading/trailing whitespace survive;
- newline is its own piece, because sentencepiece trains on single lines and would otherwise
  never see one;
- byte fallback, so characters outside the vocabulary become their UTF-8 bytes instead of
  `<unk>`;
- the one character sentencepiece reserves for itself, U+2581 ("▁", which it decodes as a
  space), is encoded here as its three byte pieces, which decode to the character itself.

Digits are always split into single-digit pieces, which makes arithmetic learnable by small
models (every number is spelled digit by digit, the same way in every context).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import sentencepiece as spm

from auroragpt.atomic import atomic_write_bytes

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3

# sentencepiece's stand-in for a space; a literal one in the input would decode as " ".
_META_SPACE = "\u2581"
# Training lines are cut into chunks of at most this many characters: sentencepiece silently
# drops sentences longer than `max_sentence_length` bytes (4 bytes per character at most).
_MAX_LINE_CHARS = 2048
_MAX_LINE_BYTES = 4 * _MAX_LINE_CHARS
# Text read from the iterator before training stops consuming it (bounds time and memory).
DEFAULT_MAX_INPUT_CHARS = 50_000_000


class Tokenizer:
    """A trained sentencepiece model plus exact, batched encode/decode.

    Build one with `Tokenizer.train` or `Tokenizer.load`; the constructor takes the raw
    serialized model and the path it came from.
    """

    def __init__(self, model_bytes: bytes, model_path: str | Path, num_threads: int | None = None):
        self._model_bytes = model_bytes
        self._model_path = Path(model_path)
        self._num_threads = num_threads or min(os.cpu_count() or 1, 8)
        self._sp = spm.SentencePieceProcessor()
        try:
            self._sp.LoadFromSerializedProto(model_bytes)
        except RuntimeError as err:
            raise ValueError(
                f"{self._model_path}: not a valid sentencepiece model file ({err})"
            ) from err
        self._meta_space_ids = self._byte_ids(_META_SPACE)

    # ------------------------------------------------------------------------------------------
    # Construction
    # ------------------------------------------------------------------------------------------

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        vocab_size: int,
        path: str | Path,
        *,
        max_input_chars: int = DEFAULT_MAX_INPUT_CHARS,
        character_coverage: float = 0.9995,
        num_threads: int | None = None,
    ) -> Tokenizer:
        """Learn a BPE vocabulary of exactly `vocab_size` pieces and write it to `path`.

        Texts are split into lines (long lines into chunks) before sentencepiece sees them, and
        at most `max_input_chars` characters are read from `texts`. Characters rarer than
        `character_coverage` get no piece of their own and are spelled as bytes. Training is
        deterministic: the same texts give a byte-identical model file. The file appears at
        `path` only when complete.
        """
        if vocab_size <= 0:
            raise ValueError(f"vocab_size={vocab_size} must be > 0")
        path = Path(path)
        stats = {"chars": 0}
        sentences = _training_sentences(texts, max_input_chars, stats)
        threads = num_threads or min(os.cpu_count() or 1, 8)
        buffer = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=sentences,
                model_writer=buffer,
                model_type="bpe",
                vocab_size=vocab_size,
                byte_fallback=True,
                character_coverage=character_coverage,
                normalization_rule_name="identity",
                remove_extra_whitespaces=False,
                add_dummy_prefix=False,
                allow_whitespace_only_pieces=True,
                split_digits=True,
                user_defined_symbols=["\n"],
                pad_id=PAD_ID,
                unk_id=UNK_ID,
                bos_id=BOS_ID,
                eos_id=EOS_ID,
                max_sentence_length=_MAX_LINE_BYTES,
                # NOTE: we bound the input ourselves (max_input_chars); 0 = use every sentence,
                # which avoids sentencepiece's random sampling and keeps training deterministic.
                input_sentence_size=0,
                shuffle_input_sentence=False,
                num_threads=threads,
                minloglevel=2,
            )
        except RuntimeError as err:
            raise _training_error(err, vocab_size, stats["chars"]) from None
        model_bytes = buffer.getvalue()
        atomic_write_bytes(path, model_bytes)
        return cls(model_bytes, path, threads)

    @classmethod
    def load(cls, path: str | Path, num_threads: int | None = None) -> Tokenizer:
        """Read a sentencepiece `.model` file (ours or any other sentencepiece model)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: tokenizer model file not found")
        return cls(path.read_bytes(), path, num_threads)

    def save(self, path: str | Path) -> Path:
        """Copy the model file to `path` (atomically); returns that path."""
        path = Path(path)
        atomic_write_bytes(path, self._model_bytes)
        return path

    # ------------------------------------------------------------------------------------------
    # Properties
    # ------------------------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return self._sp.get_piece_size()

    @property
    def pad_id(self) -> int:
        return self._sp.pad_id()

    @property
    def unk_id(self) -> int:
        return self._sp.unk_id()

    @property
    def bos_id(self) -> int:
        return self._sp.bos_id()

    @property
    def eos_id(self) -> int:
        return self._sp.eos_id()

    @property
    def model_path(self) -> Path:
        """The file this tokenizer was trained into or loaded from."""
        return self._model_path

    def id_to_piece(self, token_id: int) -> str:
        """The vocabulary entry of an id, e.g. "▁the", "<0x0A>" or "</s>" (for inspection)."""
        self._check_ids([token_id])
        return self._sp.id_to_piece(int(token_id))

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size}, model_path='{self._model_path}')"

    # ------------------------------------------------------------------------------------------
    # Encode / decode
    # ------------------------------------------------------------------------------------------

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        """Token ids of `text`, optionally wrapped in `bos_id` ... `eos_id`."""
        return self.encode_batch([text], bos=bos, eos=eos)[0]

    def encode_batch(
        self, texts: Sequence[str], bos: bool = False, eos: bool = False
    ) -> list[list[int]]:
        """Token ids of many texts at once, encoded by sentencepiece on several threads."""
        if isinstance(texts, str):
            raise TypeError("encode_batch expects a list of strings; use encode() for one string")
        texts = list(texts)
        if self._meta_space_ids is None or not any(_META_SPACE in text for text in texts):
            return self._sp.encode(texts, add_bos=bos, add_eos=eos, num_threads=self._num_threads)
        segments = [text.split(_META_SPACE) for text in texts]
        flat = [segment for parts in segments for segment in parts]
        encoded = iter(self._sp.encode(flat, num_threads=self._num_threads))
        result = []
        for parts in segments:
            ids = [self.bos_id] if bos else []
            for i in range(len(parts)):
                if i:
                    ids.extend(self._meta_space_ids)
                ids.extend(next(encoded))
            if eos:
                ids.append(self.eos_id)
            result.append(ids)
        return result

    def decode(self, ids: Iterable[int]) -> str:
        """Text of a sequence of ids; special ids (pad, bos, eos) decode to nothing."""
        return self.decode_batch([ids])[0]

    def decode_batch(self, batch: Iterable[Iterable[int]]) -> list[str]:
        """Texts of many id sequences (lists, tuples or integer arrays)."""
        rows = [list(map(int, ids)) for ids in batch]
        for row in rows:
            self._check_ids(row)
        return self._sp.decode(rows, num_threads=self._num_threads)

    # ------------------------------------------------------------------------------------------

    def _byte_ids(self, char: str) -> list[int] | None:
        """Ids of the byte pieces spelling `char` in UTF-8, or None without byte pieces."""
        ids = [self._sp.piece_to_id(f"<0x{b:02X}>") for b in char.encode("utf-8")]
        if any(i == self._sp.unk_id() or not self._sp.is_byte(i) for i in ids):
            return None
        return ids

    def _check_ids(self, ids: Sequence[int]) -> None:
        if not ids or (min(ids) >= 0 and max(ids) < self.vocab_size):
            return
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(
                f"token id {bad[0]} is outside the vocabulary of {self._model_path} "
                f"(valid ids: 0..{self.vocab_size - 1})"
            )


def _training_sentences(texts: Iterable[str], max_chars: int, stats: dict) -> Iterator[str]:
    """Non-empty lines of `texts`, long ones cut into chunks, up to `max_chars` characters.

    `stats["chars"]` counts what was yielded, for error messages.
    """
    if isinstance(texts, str):
        raise TypeError("Tokenizer.train expects an iterable of texts, not a single string")
    for text in texts:
        for line in text.split("\n"):
            for start in range(0, len(line), _MAX_LINE_CHARS):
                chunk = line[start:start + _MAX_LINE_CHARS]
                if stats["chars"] >= max_chars:
                    return
                stats["chars"] += len(chunk)
                yield chunk


def _training_error(err: RuntimeError, vocab_size: int, chars: int) -> ValueError:
    """Turn sentencepiece's internal assertion messages into an actionable error."""
    message = str(err)
    if chars == 0:
        return ValueError(
            "Tokenizer.train: no text to train on (the iterator was empty or held only "
            "empty lines)"
        )
    too_small = re.search(r"smaller than required_chars\. (\d+) vs (\d+)", message)
    if too_small:
        return ValueError(
            f"vocab_size={vocab_size} is too small for this text: it needs at least "
            f"{too_small.group(2)} pieces (4 special ids, newline, 256 bytes and every "
            f"frequent character); use vocab_size >= {too_small.group(2)}"
        )
    too_large = re.search(r"Vocabulary size too high \((\d+)\).*<= (\d+)", message)
    if too_large:
        return ValueError(
            f"vocab_size={vocab_size} is too large for {chars} characters of text: at most "
            f"{too_large.group(2)} pieces can be learned from it; give more text or a smaller "
            "vocab_size"
        )
    return ValueError(f"sentencepiece training failed: {message}")
