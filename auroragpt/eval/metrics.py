"""Scores computed from generated tokens and log-probabilities: repetition, perplexity, matching.

Repetition is measured on token ids (the model's own units, so a loop of one token counts as
one repeated unigram whatever text it decodes to):

- distinct-n (Li et al., 2016): distinct n-grams / all n-grams, pooled over the generations.
  1.0 = no n-gram ever repeats; near 0 = the same few n-grams over and over.
- repeated n-gram rate, "seq-rep-n" (Welleck et al., 2019): per generation, the share of its
  n-grams that already occurred earlier in that same generation, averaged over generations.
  0.0 = no repetition; near 1 = the generation is one loop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def ngrams(tokens: Sequence[int], n: int) -> list[tuple[int, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(generations: Sequence[Sequence[int]], n: int) -> float | None:
    """Distinct n-grams / total n-grams over all generations (None when there are none)."""
    pooled = [gram for tokens in generations for gram in ngrams(tokens, n)]
    return len(set(pooled)) / len(pooled) if pooled else None


def repeated_ngram_rate(generations: Sequence[Sequence[int]], n: int) -> float | None:
    """Mean over generations of 1 - distinct/total n-grams within each (None when too short)."""
    rates = []
    for tokens in generations:
        grams = ngrams(tokens, n)
        if grams:
            rates.append(1.0 - len(set(grams)) / len(grams))
    return sum(rates) / len(rates) if rates else None


def repetition_scores(generations: Sequence[Sequence[int]]) -> dict[str, float | None]:
    """The repetition columns of the evaluation table."""
    return {
        "distinct_1": distinct_n(generations, 1),
        "distinct_2": distinct_n(generations, 2),
        "rep_4": repeated_ngram_rate(generations, 4),
    }


def perplexity(nll_sum: float, tokens: int) -> float:
    """exp(mean negative log-likelihood per token)."""
    return math.exp(nll_sum / tokens)


def answer_matches(continuation: str, answer: str) -> bool:
    """Exact match of a probe answer with the first line of the model's continuation.

    Policy: the continuation is cut at its first newline (the built-in corpora always end a
    fact's line right after the answer) or where generation stopped; spaces at its start and
    whitespace at its end are ignored, as are the answer's (whether the space sits at the end
    of the prompt or the start of the answer is a tokenization detail). So for the answer
    " 42": "42", " 42\nnext" and " 42 " match; "423", "4" and "42 apples" do not.
    """
    expected = answer.strip()
    produced = continuation.split("\n", 1)[0].strip()
    return bool(expected) and produced == expected
