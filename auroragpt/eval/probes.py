"""Held-out task probes: does the greedy continuation of each prompt start with its answer?

Probes come from the built-in corpora (`get_corpus(name).probes(n, seed)`), are never part of
the training documents, and are scored with `metrics.answer_matches` (exact match, leading
spaces ignored, no run-on). A probe set is generated per corpus and batched by prompt length.
A corpus with named `skills` (a narrow task its documents drill) also gets a probe set per
skill, scored under the name `corpus/skill`, so a skill can be watched apart from the mix.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from auroragpt.eval.metrics import answer_matches
from auroragpt.generation import complete

EXTRA_TOKENS = 4  # generated beyond the answer's own length, so a run-on is visible
EXAMPLES_KEPT = 3  # probes per corpus stored with the model's output, for the report


def load_probes(corpus_names: Sequence[str], per_corpus: int, seed: int) -> list:
    """`per_corpus` probes of each named built-in corpus, then as many of each of its skills."""
    from auroragpt.corpora import get_corpus

    probes = []
    for name in corpus_names:
        corpus = get_corpus(name)
        probes += corpus.probes(per_corpus, seed)
        for skill in corpus.skills:
            probes += corpus.skill_probes(skill, per_corpus, seed)
    return probes


def probe_group(probe) -> str:
    """The name a probe is scored under: its corpus, or `corpus/skill` for a skill's probe."""
    skill = getattr(probe, "skill", "")
    return f"{probe.corpus}/{skill}" if skill else probe.corpus


def constant_answer_floor(answers: Sequence[str]) -> float:
    """The exact match of a model that always gives the commonest answer (no skill at all).

    A score near it says nothing: with 17 of 32 parity probes even, always " even." scores 53 %.
    """
    return max(Counter(a.strip() for a in answers).values()) / len(answers)


def score_probes(model, tokenizer, probes: Sequence, batch_size: int = 32) -> dict[str, dict]:
    """Per corpus (and skill): {"accuracy", "floor", "n", "examples": [{prompt, answer, output,
    correct}, ...]}; "floor" is `constant_answer_floor` of the group's answers.

    `model` is anything with the `Transformer` forward interface (and `config.max_seq_len`).
    """
    by_corpus: dict[str, list] = defaultdict(list)
    for probe in probes:
        by_corpus[probe_group(probe)].append(probe)
    scores = {}
    for corpus, items in by_corpus.items():
        answer_tokens = max(len(tokenizer.encode(p.answer)) for p in items)
        completions = complete(model, tokenizer, [p.prompt for p in items],
                               answer_tokens + EXTRA_TOKENS, temperature=0.0,
                               batch_size=batch_size)
        outputs = [c.text(tokenizer) for c in completions]
        correct = [answer_matches(out, p.answer) for out, p in zip(outputs, items, strict=True)]
        scores[corpus] = {
            "accuracy": sum(correct) / len(items),
            "floor": constant_answer_floor([p.answer for p in items]),
            "n": len(items),
            "examples": [
                {"prompt": p.prompt, "answer": p.answer, "output": out, "correct": ok}
                for p, out, ok in list(zip(items, outputs, correct, strict=True))[:EXAMPLES_KEPT]
            ],
        }
    return scores
