"""Our sentencepiece model as Hugging Face tokenizer files that encode token-for-token alike.

`transformers` 5 builds Llama tokenizers from `tokenizer.model` only with a fixed Llama
recipe (no normaliser, Metaspace pre-tokenizer), which ignores how *our* model was trained
(normalisation rule, whitespace handling). So the export writes a `tokenizer.json` that spells
out this model's own rules, read from its protobuf:

- normaliser: the precompiled character map (NFKC etc.) when the model has one, then the
  extra-whitespace rule, the dummy "▁" prefix and space -> "▁", in sentencepiece's order;
- no pre-tokenizer: sentencepiece merges over the whole normalised text, and so does this;
- model: BPE whose merges are every split of every piece, ranked by the piece's score (the
  order sentencepiece merges in), or Unigram with the piece scores; byte fallback as trained;
- control pieces (<s>, </s>, <pad>) are special tokens, never matched in text
  (`split_special_tokens`), as in sentencepiece.

`tokenizer_config.json` names `PreTrainedTokenizerFast`, which loads `tokenizer.json`
verbatim in transformers 4 and 5. `tokenizer.model` is copied too, for sentencepiece users.

One known difference: a literal "▁" (U+2581) in the text. `auroragpt.tokenizer` spells it as
its three UTF-8 byte pieces; sentencepiece itself, and so this file, read it as a space.
"""

from __future__ import annotations

import json
from pathlib import Path

from auroragpt.atomic import atomic_write_bytes

# sentencepiece ModelProto.SentencePiece.Type and TrainerSpec.ModelType values
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _UNUSED, _BYTE = 1, 2, 3, 4, 5, 6
_UNIGRAM, _BPE = 1, 2
_SPACE = "\u2581"  # "▁", sentencepiece's visible space


def read_model_proto(path: str | Path):
    """Parse a sentencepiece .model file into its `ModelProto` (needs the protobuf package)."""
    try:
        from sentencepiece import sentencepiece_model_pb2
    except ImportError as err:  # protobuf missing
        raise ImportError(
            "exporting a tokenizer needs the protobuf package: pip install 'auroragpt[hf]'"
        ) from err
    proto = sentencepiece_model_pb2.ModelProto()
    try:
        proto.ParseFromString(Path(path).read_bytes())
    except Exception as err:  # protobuf's DecodeError, or an unreadable file
        raise ValueError(f"{path}: not a sentencepiece model ({err})") from err
    return proto


def tokenizer_json(model_path: str | Path) -> dict:
    """The `tokenizer.json` (as a dict) equivalent to the sentencepiece model at `model_path`."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers
    from tokenizers.models import BPE, Unigram

    proto = read_model_proto(model_path)
    pieces = [(p.piece, p.score, p.type) for p in proto.pieces]
    trainer, norm = proto.trainer_spec, proto.normalizer_spec
    vocab = {piece: i for i, (piece, _, _) in enumerate(pieces)}
    unk_piece = pieces[trainer.unk_id][0]

    if trainer.model_type == _BPE:
        model = BPE(vocab=vocab, merges=_bpe_merges(pieces, vocab), unk_token=unk_piece,
                    fuse_unk=True, byte_fallback=trainer.byte_fallback)
    elif trainer.model_type == _UNIGRAM:
        # NOTE: sentencepiece keeps control, byte and unused pieces out of its lattice; a
        # score far below any real piece keeps them out of `tokenizers`' lattice as well.
        floor = min(score for _, score, _ in pieces) - 1e4
        model = Unigram([(piece, score if kind in (_NORMAL, _USER_DEFINED) else floor)
                         for piece, score, kind in pieces],
                        unk_id=trainer.unk_id, byte_fallback=trainer.byte_fallback)
    else:
        raise ValueError(f"{model_path}: trainer_spec.model_type={trainer.model_type}: "
                         "only BPE and Unigram sentencepiece models can be exported")

    tokenizer = Tokenizer(model)
    tokenizer.normalizer = normalizers.Sequence(_normalizer_steps(norm, normalizers, Regex))
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace(_SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
        + ([decoders.Strip(content=" ", left=1, right=0)] if norm.add_dummy_prefix else [])
    )
    tokenizer.add_special_tokens([
        AddedToken(piece, special=True, normalized=False)
        for piece, _, kind in pieces if kind in (_CONTROL, _UNKNOWN)
    ])
    user_defined = [piece for piece, _, kind in pieces if kind == _USER_DEFINED]
    if user_defined:  # sentencepiece matches these in the text before BPE, as added tokens are
        tokenizer.add_tokens([AddedToken(p, normalized=False) for p in user_defined])
    return json.loads(tokenizer.to_str())


def _normalizer_steps(norm, normalizers, Regex) -> list:
    """sentencepiece's normaliser as `tokenizers` steps, in its order of application."""
    steps = []
    if norm.precompiled_charsmap:
        steps.append(normalizers.Precompiled(norm.precompiled_charsmap))
    if norm.remove_extra_whitespaces:
        # NOTE: sentencepiece treats only " " as whitespace here (after the charsmap, which
        # maps tabs and newlines to " " under nmt_nfkc); Strip() would also eat "\n".
        steps += [normalizers.Replace(Regex("^ +| +$"), ""),
                  normalizers.Replace(Regex(" {2,}"), " ")]
    if norm.add_dummy_prefix:
        steps.append(normalizers.Prepend(_SPACE))
    if norm.escape_whitespaces:
        steps.append(normalizers.Replace(" ", _SPACE))
    return steps


def _bpe_merges(pieces: list[tuple[str, float, int]],
                vocab: dict[str, int]) -> list[tuple[str, str]]:
    """Every (left, right) whose concatenation is a piece, best-scoring merged piece first.

    sentencepiece's BPE repeatedly joins the adjacent pair whose joined piece scores highest;
    a merges list ranked by that score makes `tokenizers`' BPE choose the same pair.
    """
    # NOTE: user-defined pieces (our "\n") are matched whole, never merged with neighbours
    mergeable = {p for p, _, kind in pieces if kind == _NORMAL}
    ranked = []
    for piece, score, kind in pieces:
        if kind != _NORMAL or len(piece) < 2:
            continue
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in mergeable and right in mergeable:
                ranked.append((-score, vocab[piece], vocab[left], (left, right)))
    ranked.sort()
    return [pair for *_, pair in ranked]


def write_hf_tokenizer(model_path: str | Path, out_dir: str | Path,
                       max_length: int) -> list[str]:
    """Write tokenizer.json, tokenizer_config.json, special_tokens_map.json and tokenizer.model.

    Returns the file names written. Files are written to temporary names and renamed.
    """
    proto = read_model_proto(model_path)
    trainer = proto.trainer_spec
    pieces = [p.piece for p in proto.pieces]
    special = {
        name: pieces[index]
        for name, index in (("unk_token", trainer.unk_id), ("bos_token", trainer.bos_id),
                            ("eos_token", trainer.eos_id), ("pad_token", trainer.pad_id))
        if 0 <= index < len(pieces)
    }
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_length,
        # NOTE: sentencepiece never turns the text "</s>" into the control id; neither may we.
        "split_special_tokens": True,
        "clean_up_tokenization_spaces": False,
        "add_bos_token": False,
        "add_eos_token": False,
        "padding_side": "left",
        **special,
    }
    out = Path(out_dir)
    files = {
        "tokenizer.json": json.dumps(tokenizer_json(model_path), ensure_ascii=False, indent=1),
        "tokenizer_config.json": json.dumps(config, indent=2),
        "special_tokens_map.json": json.dumps(special, indent=2),
    }
    for name, text in files.items():
        atomic_write_bytes(out / name, text.encode())
    atomic_write_bytes(out / "tokenizer.model", Path(model_path).read_bytes())
    return [*files, "tokenizer.model"]
