"""Numbers: drill sheets of three number skills, each probed on its own (`skills`).

- `last digit`: `The last digit of 347 is 7.`
- `even or odd`: `Is 347 even or odd? It is odd.`
- `next number`: `The number after 347 is 348.`

Numbers have one to three digits, short ones often. The first two skills need only the
number's last digit, read a fixed few tokens before the answer; they are the skills the tiny
demo learns (chapter 10 watches them rise from 0 to near 100 %). The next number needs every
digit and a carry, and stays near zero in that budget. Sheets drill the last digit and parity
twice as often as the next number.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from auroragpt.corpora.base import Fact, GeneratedCorpus
from auroragpt.corpora.narrative import paragraphs, person

NAME = "numbers"
LAST_DIGIT, PARITY, NEXT_NUMBER = "last digit", "even or odd", "next number"
DRILL_WEIGHTS = {LAST_DIGIT: 2, PARITY: 2, NEXT_NUMBER: 1}


@dataclass(frozen=True)
class NumberQuestion:
    """One question about a whole number n: its last digit, its parity or its successor."""

    skill: str
    n: int

    @property
    def key(self) -> str:
        return f"{self.skill}: {self.n}"

    @property
    def fact(self) -> Fact:
        if self.skill == LAST_DIGIT:
            return Fact(f"The last digit of {self.n} is", f" {self.n % 10}.")
        if self.skill == NEXT_NUMBER:
            return Fact(f"The number after {self.n} is", f" {self.n + 1}.")
        return Fact(f"Is {self.n} even or odd? It is", " even." if self.n % 2 == 0 else " odd.")

    @property
    def facts(self) -> tuple[Fact, ...]:
        return (self.fact,)


def _sampler(skill: str) -> Callable[[random.Random], NumberQuestion]:
    def sample(rng: random.Random) -> NumberQuestion:  # one to three digits, short ones often
        return NumberQuestion(skill, rng.randint(1, rng.choice((9, 99, 999))))
    return sample


SKILLS = {skill: _sampler(skill) for skill in DRILL_WEIGHTS}


class NumbersCorpus(GeneratedCorpus[NumberQuestion]):
    name = NAME
    description = "drill sheets: the last digit of a number, even or odd, the number after it"
    skills = SKILLS

    def sample_item(self, rng: random.Random) -> NumberQuestion:
        return SKILLS[_pick_skill(rng)](rng)

    def write_document(self, rng: random.Random, draw: Callable[..., NumberQuestion]) -> str:
        skill = _pick_skill(rng)
        lines = [draw(SKILLS[skill]).fact.text for _ in range(rng.randint(8, 20))]
        title = f"Number drill {rng.randint(1, 60)}: {skill}."
        # NOTE: a third of the sheets start right at a question, the way probes are asked (just
        # after an end-of-document token)
        if rng.random() < 1 / 3:
            return paragraphs(lines, f"That was {title[0].lower()}{title[1:]}")
        return paragraphs(title, lines, f"Checked by {person(rng)}.")


def _pick_skill(rng: random.Random) -> str:
    return rng.choices(list(DRILL_WEIGHTS), weights=list(DRILL_WEIGHTS.values()))[0]
