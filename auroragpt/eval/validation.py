"""Validation loss on the run's own held-out split: the blend's, and per corpus.

Two numbers answer two questions, and each has one name everywhere:

- "val loss" is what training logs as `val_loss`: the mean next-token loss over the first
  `train.eval_batches` micro-batches of the validation blend, sized as training sized it,
  so corpora count by their blend weight. `auroragpt eval` gives the same number for the same
  checkpoint.
- per-corpus losses score the first `per_corpus` samples of each corpus (of a blend sized to
  hold them), and "corpus mean" is their plain mean, every corpus counting once.

The same samples are scored at every checkpoint (their order does not depend on the model),
so the curves across steps compare like with like.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from auroragpt.eval.metrics import perplexity


@dataclass
class ValidationData:
    """The run's validation datasets (see the module docstring)."""

    blend: object  # the validation blend exactly as training built it
    blend_indices: list[int]  # the samples training's validation scores
    per_corpus: object  # a larger blend of the same split, for per-corpus losses
    corpus_names: list[str]


def prepare_validation(cfg, tokenizer_path: Path, per_corpus: int,
                       progress: bool = True) -> ValidationData:
    """The run's validation blends: as training built it, and one large enough for
    `per_corpus` samples of every corpus.

    Uses the run's own data settings and cache (`data.cache_dir`, saved as an absolute path
    by `auroragpt train`; a relative one is taken from the working directory), so evaluating a
    run rebuilds nothing but the validation index. NOTE: the cached tokenizer is used only if
    it is byte-identical to the checkpoint's; otherwise the corpora are tokenized again with
    the checkpoint's tokenizer.
    """
    from auroragpt.data import DataError, prepare_data

    cfg = copy.deepcopy(cfg)
    cfg.train.max_steps = 1  # the training index is not needed: keep it tiny
    cfg.train.eval_every = max(cfg.train.eval_every, 1)
    as_trained = prepare_data(cfg, progress=progress)
    if Path(as_trained.tokenizer.model_path).read_bytes() != Path(tokenizer_path).read_bytes():
        cfg.data.tokenizer = str(Path(tokenizer_path).resolve())
        as_trained = prepare_data(cfg, progress=progress)
    if as_trained.valid is None:
        raise DataError(f"data.split={cfg.data.split!r} holds no validation documents; "
                        "evaluate with validation off (--no-val) or give the split a valid share")
    # NOTE: training's micro-batches at one data-parallel rank; with more ranks it scores
    # the same samples whenever their number divides train.eval_batches.
    first = max(1, cfg.train.eval_batches) * cfg.train.micro_batch_size
    indices = [k % len(as_trained.valid) for k in range(first)]
    cfg.train.eval_batches = math.ceil(_samples_needed(cfg, per_corpus)
                                       / cfg.train.global_batch_size)
    wide = prepare_data(cfg, progress=progress)
    return ValidationData(as_trained.valid, indices, wide.valid, list(wide.corpus_names))


def _samples_needed(cfg, per_corpus: int) -> int:
    """Blend size that gives the least-weighted built-in corpus `per_corpus` samples."""
    weights = [w for w in cfg.data.builtin.values() if w > 0]
    if cfg.data.file_list is not None or not weights:
        return 32 * per_corpus  # NOTE: corpus weights unknown before reading the list
    return math.ceil(1.25 * per_corpus * sum(weights) / min(weights))


SCAN_FACTOR = 64  # samples looked at per sample wanted, before giving up on a rare corpus


def select_samples(dataset, n_corpora: int, per_corpus: int) -> list[int]:
    """Indices of the first `per_corpus` samples of every corpus id, in dataset order.

    A corpus with very few validation samples gets what the first
    `SCAN_FACTOR * per_corpus * n_corpora` samples hold, so the scan stays short.
    """
    taken = [0] * n_corpora
    chosen = []
    for k in range(min(len(dataset), SCAN_FACTOR * per_corpus * n_corpora)):
        corpus = int(dataset[k]["corpus_id"])
        if taken[corpus] < per_corpus:
            taken[corpus] += 1
            chosen.append(k)
            if min(taken) >= per_corpus:
                break
    return chosen


@torch.no_grad()
def corpus_nll(model, dataset, indices: Sequence[int], n_corpora: int, batch_size: int = 16,
               progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Summed next-token negative log-likelihood and target-token count per corpus id.

    Each sample is `tokens` (S + 1,): inputs are tokens[:-1], targets tokens[1:].
    """
    device = next(model.parameters()).device
    nll = np.zeros(n_corpora, dtype=np.float64)
    count = np.zeros(n_corpora, dtype=np.int64)
    batches = range(0, len(indices), batch_size)
    for start in tqdm(batches, desc="val loss", leave=False, disable=not progress):
        samples = [dataset[k] for k in indices[start:start + batch_size]]
        tokens = torch.as_tensor(np.stack([s["tokens"] for s in samples]), device=device)
        logits = model(tokens[:, :-1]).float()  # (B, S, V)
        # per-token NLL of the target, summed per sample: (B,)
        per_sample = F.cross_entropy(logits.transpose(1, 2), tokens[:, 1:],
                                     reduction="none").sum(dim=1)
        for sample, value in zip(samples, per_sample.tolist(), strict=True):
            nll[int(sample["corpus_id"])] += value
            count[int(sample["corpus_id"])] += tokens.shape[1] - 1
    return nll, count


CORPUS_MEAN = "corpus_mean"  # the per-corpus table's aggregate row: every corpus counts once


def validation_table(nll: np.ndarray, count: np.ndarray,
                     corpus_names: Sequence[str]) -> dict[str, dict]:
    """{corpus: {"loss", "ppl", "tokens"}} for corpora with samples, plus CORPUS_MEAN: the
    mean of their losses (and its exp), not the blend's val loss."""
    table = {
        name: {"loss": float(nll[i] / count[i]), "ppl": float(perplexity(nll[i], count[i])),
               "tokens": int(count[i])}
        for i, name in enumerate(corpus_names) if count[i] > 0
    }
    if table:
        mean = sum(row["loss"] for row in table.values()) / len(table)
        table[CORPUS_MEAN] = {"loss": mean, "ppl": math.exp(mean), "tokens": int(count.sum())}
    return table


def blend_loss(model, data: ValidationData, batch_size: int = 16,
               progress: bool = False) -> dict[str, float]:
    """{"loss", "ppl"}: the val loss training logs, over the samples it scores."""
    nll, count = corpus_nll(model, data.blend, data.blend_indices, len(data.corpus_names),
                            batch_size, progress)
    return {"loss": float(nll.sum() / count.sum()),
            "ppl": float(perplexity(nll.sum(), count.sum()))}
