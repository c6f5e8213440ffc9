"""Validation NLL per corpus against an independent float64 log-softmax recomputation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from auroragpt.config import get_preset
from auroragpt.eval.validation import corpus_nll, select_samples, validation_table
from auroragpt.model import build_model


def _dataset(n, seq_len, vocab, n_corpora, seed=0):
    """A dataset in the data pipeline's protocol: ds[k] -> {tokens (S+1,), corpus_id}."""
    rng = np.random.default_rng(seed)
    return [{"tokens": rng.integers(0, vocab, seq_len + 1, dtype=np.int64),
             "corpus_id": int(rng.integers(0, n_corpora))} for _ in range(n)]


def test_select_samples_takes_first_of_each_corpus():
    ds = [{"tokens": None, "corpus_id": c} for c in [0, 0, 1, 0, 2, 1, 1, 2, 2]]
    assert select_samples(ds, 3, 2) == [0, 1, 2, 4, 5, 7]


def test_corpus_nll_matches_float64_reference(randomise):
    cfg = get_preset("debug").model
    model = randomise(build_model(cfg), seed=0)
    names = ["a", "b", "c"]
    ds = _dataset(11, 24, cfg.vocab_size, len(names))
    indices = list(range(len(ds)))
    nll, count = corpus_nll(model, ds, indices, len(names), batch_size=4)

    expected = np.zeros(len(names))
    tokens_per = np.zeros(len(names))
    with torch.no_grad():
        for sample in ds:
            tokens = torch.from_numpy(sample["tokens"])[None]
            logp = torch.log_softmax(model(tokens[:, :-1]).double(), dim=-1)[0]  # (S, V)
            target_logp = logp[torch.arange(24), tokens[0, 1:]]
            expected[sample["corpus_id"]] -= float(target_logp.sum())
            tokens_per[sample["corpus_id"]] += 24
    np.testing.assert_allclose(nll, expected, rtol=1e-5)
    np.testing.assert_array_equal(count, tokens_per)

    table = validation_table(nll, count, names)
    for i, name in enumerate(names):
        if tokens_per[i]:
            assert table[name]["ppl"] == pytest.approx(math.exp(expected[i] / tokens_per[i]), rel=1e-5)
    per_corpus = [expected[i] / tokens_per[i] for i in range(len(names)) if tokens_per[i]]
    mean = table["corpus_mean"]
    assert mean["loss"] == pytest.approx(sum(per_corpus) / len(per_corpus), rel=1e-5)
    assert mean["ppl"] == pytest.approx(math.exp(mean["loss"]))
    # a random model is far from a trained one: loss near log(vocab) and above it
    assert mean["loss"] > 0.5 * math.log(cfg.vocab_size)
