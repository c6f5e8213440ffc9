"""Repetition scores and the probe match policy, against hand counts and brute-force loops."""

from __future__ import annotations

import math
import random

import pytest

from auroragpt.eval.metrics import (
    answer_matches,
    distinct_n,
    perplexity,
    repeated_ngram_rate,
    repetition_scores,
)


def test_distinct_n_hand_counts():
    assert distinct_n([[1, 1, 1, 1]], 1) == 1 / 4
    assert distinct_n([[1, 1, 1, 1]], 2) == 1 / 3
    # bigrams (1,2) (2,3) | (1,2) (2,4): pooled over generations, 3 distinct of 4
    assert distinct_n([[1, 2, 3], [1, 2, 4]], 2) == 3 / 4
    assert distinct_n([[7]], 2) is None


def test_repeated_ngram_rate_hand_counts():
    assert repeated_ngram_rate([[5] * 6], 4) == pytest.approx(2 / 3)  # 3 four-grams, 2 repeats
    assert repeated_ngram_rate([[1, 2, 3, 4, 5]], 4) == 0.0
    # a period-3 loop: 4-grams of 1 2 3 1 2 3 1 2 3 are 6, of which 3 distinct
    assert repeated_ngram_rate([[1, 2, 3] * 3], 4) == pytest.approx(0.5)
    # averaged per generation, not pooled; too-short generations are left out
    assert repeated_ngram_rate([[5] * 6, [1, 2, 3, 4, 5], [1]], 4) == pytest.approx(1 / 3)


def _brute_force_rep(tokens, n):
    """Share of n-gram positions whose n-gram occurred at an earlier position."""
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    repeats = sum(any(grams[j] == grams[i] for j in range(i)) for i in range(len(grams)))
    return repeats / len(grams)


def _brute_force_distinct(generations, n):
    seen, total = [], 0
    for tokens in generations:
        for i in range(len(tokens) - n + 1):
            total += 1
            if tokens[i:i + n] not in seen:
                seen.append(tokens[i:i + n])
    return len(seen) / total


def test_scores_match_brute_force_on_random_sequences():
    rng = random.Random(0)
    for _ in range(50):
        gens = [[rng.randrange(4) for _ in range(rng.randrange(5, 30))] for _ in range(3)]
        for n in (1, 2, 4):
            assert distinct_n(gens, n) == pytest.approx(_brute_force_distinct(gens, n))
            expected = sum(_brute_force_rep(g, n) for g in gens) / len(gens)
            assert repeated_ngram_rate(gens, n) == pytest.approx(expected)
    assert set(repetition_scores(gens)) == {"distinct_1", "distinct_2", "rep_4"}


def test_perplexity_is_exp_mean_nll():
    assert perplexity(math.log(50) * 10, 10) == pytest.approx(50)


@pytest.mark.parametrize("output, answer, expected", [
    ("42", " 42", True),
    (" 42\nnext line", " 42", True),
    (" 42 \n", "42", True),
    ("\n42", " 42", False),  # the first line is empty
    ("423", " 42", False),  # runs on into more digits
    ("4", " 42", False),
    (" 42 apples", " 42", False),  # the corpora end a fact's line right after the answer
    (" 42.", " 42", False),
    (" H2O\n", " H2O", True),
    ("", " 42", False),
    ("anything", "", False),  # an empty answer never counts
])
def test_answer_match_policy(output, answer, expected):
    assert answer_matches(output, answer) is expected
