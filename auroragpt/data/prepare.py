"""`prepare_data(cfg)`: everything the training loop reads, built once and cached.

Built-in corpora take the same path as a user's data-file-list: a tokenizer is trained on
them (unless `data.tokenizer` names one), each corpus is tokenized into a `.bin/.idx`, a
data-file-list is written with the `data.builtin` weights, and that list is blended like any
other. Every step is a cache unit keyed by its inputs, so every rank may call this at once:
one builds each unit, the others take other units or wait, and nobody reads a partial file.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from auroragpt.config import Config
from auroragpt.data import cache
from auroragpt.data.blended import BlendedDataset, open_blend
from auroragpt.data.errors import DataError
from auroragpt.data.file_list import DataFileList, format_file_list, parse_file_list, read_file_list
from auroragpt.data.gpt import split_bounds
from auroragpt.data.preprocess import builtin_corpus

TOKENIZER_TRAINING_CHARS = 2_000_000  # enough for a small BPE; keeps the debug start fast


@dataclass
class PreparedData:
    tokenizer: object  # auroragpt.tokenizer.Tokenizer
    train: BlendedDataset
    valid: BlendedDataset | None
    corpus_names: list[str]


def prepare_data(cfg: Config, rank: int = 0, world_size: int = 1,
                 progress: bool = True) -> PreparedData:
    """Tokenizer, train and valid datasets for `cfg`, sized for max_steps * global batch.

    Call it on every rank: ranks share the building through the cache's lock files, so no
    rank needs to know which others share its filesystem (`world_size` is accepted for the
    interface; the work split needs only `rank`, which spreads where each rank starts).
    """
    cache_dir = Path(cfg.data.cache_dir).expanduser()
    cache_dir.mkdir(parents=True, exist_ok=True)
    show = progress and rank == 0
    tokenizer = _tokenizer(cfg, cache_dir)
    if tokenizer.vocab_size > cfg.model.vocab_size:
        raise DataError(
            f"tokenizer {tokenizer.model_path} has {tokenizer.vocab_size} tokens but "
            f"model.vocab_size={cfg.model.vocab_size}; raise model.vocab_size"
        )
    file_list = (read_file_list(cfg.data.file_list) if cfg.data.file_list
                 else _builtin_file_list(cfg, tokenizer, cache_dir))
    log = (lambda text: print(text, file=sys.stderr)) if show else None
    common = dict(seq_length=cfg.model.max_seq_len, seed=cfg.train.seed,
                  cache_dir=cache_dir / "indices", split=cfg.data.split, rank=rank,
                  progress=show, log=log)
    train = open_blend(file_list, num_samples=cfg.train.max_steps * cfg.train.global_batch_size,
                       split_name="train", **common)
    valid = None
    if split_bounds(cfg.data.split)[1] is not None and cfg.train.eval_every > 0:
        valid_samples = max(1, cfg.train.eval_batches) * cfg.train.global_batch_size
        valid = open_blend(file_list, num_samples=valid_samples, split_name="valid", **common)
    return PreparedData(tokenizer, train, valid, train.corpus_names)


def _tokenizer(cfg: Config, cache_dir: Path):
    from auroragpt.tokenizer import Tokenizer

    if cfg.data.tokenizer:
        try:
            return Tokenizer.load(cfg.data.tokenizer)
        except (OSError, ValueError) as err:
            raise DataError(f"data.tokenizer={cfg.data.tokenizer!r}: not a readable "
                            f"sentencepiece model ({str(err).splitlines()[0]})") from None
    if cfg.data.file_list:
        raise DataError(
            f"data.file_list={cfg.data.file_list!r} is tokenized already: set data.tokenizer "
            "to the sentencepiece model it was tokenized with"
        )
    names = sorted(cfg.data.builtin)
    key = cache.stable_hash(["tokenizer", names, cfg.data.builtin_chars,
                             cfg.model.vocab_size, cfg.train.seed])
    path = cache_dir / "tokenizers" / f"{key}.model"
    path.parent.mkdir(parents=True, exist_ok=True)
    unit = cache.Unit(path, (names, cfg.data.builtin_chars, cfg.model.vocab_size, cfg.train.seed))
    cache.run_units([unit], _train_tokenizer)
    return Tokenizer.load(path)


def _train_tokenizer(unit: cache.Unit) -> None:
    from auroragpt.tokenizer import Tokenizer

    names, chars, vocab_size, seed = unit.payload
    Tokenizer.train(_interleaved_documents(names, chars, seed), vocab_size, unit.path,
                    max_input_chars=TOKENIZER_TRAINING_CHARS)


def _interleaved_documents(names: list[str], chars: int, seed: int) -> Iterator[str]:
    """Documents of all corpora taken in turn, so a character budget covers every corpus."""
    streams = [builtin_corpus(name).documents(seed=seed, max_chars=chars) for name in names]
    for docs in itertools.zip_longest(*streams):
        yield from (doc for doc in docs if doc is not None)


def _builtin_file_list(cfg: Config, tokenizer, cache_dir: Path) -> DataFileList:
    """Tokenize each weighted built-in corpus once; a list of them with their weights."""
    model = cache.file_identity(tokenizer.model_path)[1:]  # size and mtime of the model file
    units, lines = [], []
    for name, weight in cfg.data.builtin.items():
        if weight <= 0:
            continue
        key = cache.stable_hash(["corpus", name, cfg.data.builtin_chars, cfg.train.seed,
                                 str(tokenizer.model_path), model])
        prefix = cache_dir / "corpora" / f"{name}-{key}"
        prefix.parent.mkdir(parents=True, exist_ok=True)
        units.append(cache.Unit(Path(f"{prefix}.idx"),
                                (name, str(tokenizer.model_path), str(prefix),
                                 cfg.data.builtin_chars, cfg.train.seed)))
        lines.append((weight, str(prefix), name))
    cache.run_units(units, _tokenize_corpus)
    return parse_file_list(format_file_list(lines), "data.builtin")


def _tokenize_corpus(unit: cache.Unit) -> None:
    from auroragpt.data.preprocess import preprocess_files

    name, model, prefix, chars, seed = unit.payload
    preprocess_files([f"builtin:{name}"], model, prefix, seed=seed, max_chars=chars, progress=False)
