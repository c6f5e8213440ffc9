"""Sequences: number patterns, the rule behind each, and the term that comes next.

Families: arithmetic (add or subtract a constant), geometric (multiply, or halve), square
numbers, triangular-style growth (the gaps grow by one), Fibonacci-style (add the two previous
terms) and alternating steps (add p, then q, in turn). Puzzle-book pages show the terms in a
little story, then the compact forms

    Sequence: 3, 7, 11, 15, 19.
    The next term is 23.
    The rule is add 4 each time.

and explain the rule from the differences. The rule is stated only for the families whose rule
is a short fixed phrase. A held-out sequence (hash of its terms) never appears in a document.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass

from auroragpt.corpora.base import Fact, GeneratedCorpus
from auroragpt.corpora.narrative import PEOPLE, join_words, paragraphs

NAME = "sequences"


@dataclass(frozen=True)
class Sequence:
    family: str
    terms: tuple[int, ...]  # the terms shown
    following: int  # the next term
    rule: str | None  # fixed phrase completing "The rule is", when the family has one

    @property
    def key(self) -> str:
        return self.line

    @property
    def line(self) -> str:
        return f"Sequence: {', '.join(map(str, self.terms))}."

    @property
    def questions(self) -> list[tuple[str, str]]:
        pairs = [("The next term is", f" {self.following}.")]
        if self.rule:
            pairs.append(("The rule is", f" {self.rule}."))
        return pairs

    @property
    def facts(self) -> tuple[Fact, ...]:
        return tuple(Fact(f"{self.line}\n{q}", a) for q, a in self.questions)


def _arithmetic(rng: random.Random, shown: int) -> Sequence:
    step = rng.choice([d for d in range(-9, 13) if d])
    start = rng.randint(0, 30) + max(0, -step * shown)  # stays non-negative
    terms = [start + step * i for i in range(shown + 1)]
    rule = f"add {step} each time" if step > 0 else f"subtract {-step} each time"
    return Sequence("arithmetic", tuple(terms[:-1]), terms[-1], rule)


def _geometric(rng: random.Random, shown: int) -> Sequence:
    if rng.random() < 0.25:  # halving, from a start that stays whole
        start = rng.randint(1, 9) * 2**shown
        terms = [start // 2**i for i in range(shown + 1)]
        return Sequence("halving", tuple(terms[:-1]), terms[-1], "divide by 2 each time")
    ratio, start = rng.randint(2, 4), rng.randint(1, 6)
    terms = [start * ratio**i for i in range(shown + 1)]
    return Sequence("geometric", tuple(terms[:-1]), terms[-1], f"multiply by {ratio} each time")


def _squares(rng: random.Random, shown: int) -> Sequence:
    first = rng.randint(1, 10)
    terms = [(first + i) ** 2 for i in range(shown + 1)]
    return Sequence("squares", tuple(terms[:-1]), terms[-1], None)


def _growing_gaps(rng: random.Random, shown: int) -> Sequence:
    start, gap = rng.randint(0, 20), rng.randint(1, 5)
    terms = [start]
    for i in range(shown):
        terms.append(terms[-1] + gap + i)
    return Sequence("growing gaps", tuple(terms[:-1]), terms[-1], None)


def _fibonacci(rng: random.Random, shown: int) -> Sequence:
    terms = [rng.randint(1, 9), rng.randint(1, 9)]
    while len(terms) < shown + 1:
        terms.append(terms[-1] + terms[-2])
    return Sequence("fibonacci", tuple(terms[:-1]), terms[-1], "add the two previous terms")


def _alternating(rng: random.Random, shown: int) -> Sequence:
    first, second = rng.sample(range(1, 10), 2)
    terms = [rng.randint(0, 20)]
    for i in range(shown):
        terms.append(terms[-1] + (first if i % 2 == 0 else second))
    return Sequence("alternating", tuple(terms[:-1]), terms[-1],
                    f"add {first} and {second} in turn")


FAMILIES = (_arithmetic, _geometric, _squares, _growing_gaps, _fibonacci, _alternating)


def sample_sequence(rng: random.Random) -> Sequence:
    return rng.choice(FAMILIES)(rng, rng.randint(5, 6))


# ----------------------------------------------------------------------------------------------
# Prose
# ----------------------------------------------------------------------------------------------

SETTINGS = {
    "arithmetic": ("{p} stacks cans in rows of {terms}.",
                   "The lift stops at floors {terms}.",
                   "A savings jar held {terms} coins at the end of each week."),
    "halving": ("A tank of water is drained by half each hour: {terms} litres.",
                "{p} cuts a ribbon in half again and again: {terms} cm."),
    "geometric": ("A culture of cells grows from {terms} cells over the hours.",
                  "The rumour spread to {terms} people, day after day."),
    "squares": ("{p} lays out square tiles of {terms} pieces.",
                "The square gardens have {terms} plants."),
    "growing gaps": ("The towers of blocks are {terms} blocks tall.",
                     "{p} counted {terms} steps on each stretch of the climb."),
    "fibonacci": ("The rabbit count in the old puzzle runs {terms}.",
                  "{p} found the pattern {terms} in a seed head."),
    "alternating": ("The fence posts stand at {terms} metres.",
                    "A hopping game lands on squares {terms}."),
}

INTROS = (
    "Puzzle notebook of {p}.",
    "Patterns spotted by {p} this week.",
    "Number puzzles for the maths club, with answers.",
)
CLOSERS = (
    "Each rule was checked against every term shown.",
    "{p} wants to try longer sequences next.",
    "Looking at the differences almost always shows the rule.",
)


class SequencesCorpus(GeneratedCorpus[Sequence]):
    name = NAME
    description = "number sequences: the rule and the next term"

    def sample_item(self, rng: random.Random) -> Sequence:
        return sample_sequence(rng)

    def write_document(self, rng: random.Random, draw: Callable[..., Sequence]) -> str:
        p = rng.choice(PEOPLE)
        blocks = [rng.choice(INTROS).format(p=p)]
        for seq in (draw() for _ in range(rng.randint(2, 5))):
            setting = rng.choice(SETTINGS[seq.family]).format(
                p=p, terms=join_words([str(t) for t in seq.terms]))
            questions = seq.questions
            rng.shuffle(questions)
            blocks.append("\n".join([setting, seq.line, *(q + a for q, a in questions),
                                     explain(seq)]))
        blocks.append(rng.choice(CLOSERS).format(p=p))
        return paragraphs(*blocks)


def explain(seq: Sequence) -> str:
    """The rule derived from the differences, in words."""
    terms = seq.terms
    diffs = [b - a for a, b in itertools.pairwise(terms)]
    shown = ", ".join(f"{d:+d}" for d in diffs)
    nxt = seq.following
    if seq.family == "arithmetic":
        sign = "+" if diffs[0] > 0 else "-"
        return (f"The differences are {shown}: always the same, so "
                f"{terms[-1]} {sign} {abs(diffs[0])} = {nxt}.")
    if seq.family in ("geometric", "halving"):
        how = "half" if seq.family == "halving" else f"{terms[1] // terms[0]} times"
        return f"Each term is {how} the one before, so after {terms[-1]} comes {nxt}."
    if seq.family == "squares":
        root = int(round(terms[0] ** 0.5))
        squares = ", ".join(f"{n} * {n}" for n in range(root, root + len(terms)))
        return f"These are the squares {squares}; next is {root + len(terms)} squared, {nxt}."
    if seq.family == "growing gaps":
        return (f"The differences {shown} grow by one each time, so the next one is "
                f"{diffs[-1] + 1:+d} and the next term is {nxt}.")
    if seq.family == "fibonacci":
        return (f"Each term is the sum of the two before it: {terms[-2]} + {terms[-1]} = {nxt}.")
    return f"The differences {shown} take turns, so the next step is {nxt - terms[-1]:+d}: {nxt}."
