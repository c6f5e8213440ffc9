"""Arithmetic: word problems and practice sheets around one fixed computation line.

Every problem is written as `Compute A op B. The answer is R.` with op one of + - * / and
non-negative integer results (divisions are exact). Difficulty comes in three levels (one,
two and three digits) and documents list problems from small to large, so a small model meets
single-digit sums most often. Word problems wrap the same line in a story; two-digit sums and
products are sometimes worked through step by step, but only when none of the steps is itself
a held-out problem.

The number skills a small model learns first (the last digit, even or odd, the next number)
are drilled in their own corpus, `numbers`.
"""

from __future__ import annotations

import operator
import random
from collections.abc import Callable
from dataclasses import dataclass

from auroragpt.corpora.base import Fact, GeneratedCorpus, is_held_out
from auroragpt.corpora.narrative import PEOPLE, count_noun, day_label, paragraphs, person

NAME = "arithmetic"
OPS: dict[str, Callable[[int, int], int]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.floordiv,  # only exact divisions are generated
}
LEVEL_WEIGHTS = {1: 0.45, 2: 0.40, 3: 0.15}


@dataclass(frozen=True)
class Problem:
    op: str
    a: int
    b: int
    level: int

    @property
    def result(self) -> int:
        return OPS[self.op](self.a, self.b)

    @property
    def key(self) -> str:
        return f"{self.a} {self.op} {self.b}"

    @property
    def fact(self) -> Fact:
        return Fact(f"Compute {self.a} {self.op} {self.b}. The answer is", f" {self.result}.")

    @property
    def facts(self) -> tuple[Fact, ...]:
        return (self.fact,)


def sample_problem(rng: random.Random, op: str | None = None) -> Problem:
    level = rng.choices(list(LEVEL_WEIGHTS), weights=list(LEVEL_WEIGHTS.values()))[0]
    op = op or rng.choice(list(OPS))
    low, high = {1: (0, 9), 2: (10, 99), 3: (100, 999)}[level]
    if op == "+":
        return Problem(op, rng.randint(low, high), rng.randint(low, high), level)
    if op == "-":
        a, b = sorted((rng.randint(low, high), rng.randint(low, high)), reverse=True)
        return Problem(op, a, b, level)
    if op == "*":
        # (first factor range, second factor range) per level: 1x1, 2x1 and 2x2 digits
        ranges = {1: ((0, 9), (0, 9)), 2: ((10, 99), (2, 9)), 3: ((10, 99), (10, 99))}[level]
        return Problem(op, rng.randint(*ranges[0]), rng.randint(*ranges[1]), level)
    # division: divisor and quotient ranges per level, dividend = divisor * quotient
    divisors, quotients = {1: ((1, 9), (0, 9)), 2: ((2, 9), (10, 99)),
                           3: ((10, 99), (2, 99))}[level]
    b, q = rng.randint(*divisors), rng.randint(*quotients)
    return Problem(op, b * q, b, level)


# ----------------------------------------------------------------------------------------------
# Stories: (setup, conclusion) templates per operation. Fields: p, q (people), a, b, r (numbers)
# and their counted-noun forms a_n, b_n, r_n.
# ----------------------------------------------------------------------------------------------

THINGS = (
    ("beaker", "beakers"), ("seed", "seeds"), ("marble", "marbles"), ("stamp", "stamps"),
    ("pebble", "pebbles"), ("coin", "coins"), ("bolt", "bolts"), ("apple", "apples"),
    ("sample", "samples"), ("shell", "shells"), ("brick", "bricks"), ("book", "books"),
)

STORIES = {
    "+": (
        ("{p} counted {a_n} on the first shelf and {b_n} on the second.",
         "Altogether there are {r_n}."),
        ("A crate arrived with {a_n}, and a second crate brought {b_n}.",
         "The store room now holds {r_n}."),
        ("On the morning walk {p} collected {a_n}; in the afternoon {b_n} more.",
         "So {p} brought home {r_n}."),
        ("The left tray has {a_n} and the right tray has {b_n}.",
         "Both trays together: {r_n}."),
    ),
    "-": (
        ("{p} had {a_n} and gave {b} of them to {q}.", "{p} keeps {r_n}."),
        ("The shop opened with {a_n}; by noon {b} had been sold.", "Left on the shelf: {r_n}."),
        ("Of {a_n} in the box, {b} turned out to be cracked.", "That leaves {r} good ones."),
    ),
    "*": (
        ("{p} filled {a_trays} with {b_n} on each.", "That makes {r_n} on the trays."),
        ("The garden bed has {a_rows} with {b_n} in every row.", "The bed holds {r_n}."),
        ("Each of {a_bags} holds {b_n}.", "In all there are {r_n}."),
    ),
    "/": (
        ("{p} shared {a_n} equally among {b_friends}.", "Each friend gets {r_n}."),
        ("{a_n} are packed into boxes of {b} each.", "That fills {r_boxes}."),
        ("A row of {a_n} is split into {b_groups} of equal size.",
         "Each group has {r_n}."),
    ),
}

INTROS = (
    "From the arithmetic notebook of {p}, {day}.",
    "{p}'s maths journal, {day}.",
    "Problems worked at the kitchen table on {day}.",
    "Notes from the Thursday number club, written up by {p}.",
)

OPENERS = (
    "Today I practised with small numbers first and then bigger ones.",
    "Each problem starts with a little story; the computation line comes after it.",
    "I wrote every answer on its own line so that I can check them later.",
    "{q} gave me these puzzles and I solved them one by one.",
)

CLOSERS = (
    "I checked every answer twice.",
    "All answers were checked with the reverse operation.",
    "Tomorrow: more of the same, with larger numbers.",
    "{q} marked the page as correct.",
)

SHEET_TOPICS = {
    "+": "addition", "-": "subtraction", "*": "multiplication", "/": "division", None: "mixed",
}


class ArithmeticCorpus(GeneratedCorpus[Problem]):
    name = NAME
    description = "addition, subtraction, multiplication and exact division in stories and drills"

    def sample_item(self, rng: random.Random) -> Problem:
        return sample_problem(rng)

    def write_document(self, rng: random.Random, draw: Callable[..., Problem]) -> str:
        if rng.random() < 0.55:
            return _notebook(rng, draw)
        return _practice_sheet(rng, draw)


def _notebook(rng: random.Random, draw: Callable[..., Problem]) -> str:
    p, q = rng.sample(PEOPLE, 2)
    problems = sorted((draw() for _ in range(rng.randint(3, 7))), key=lambda x: x.level)
    fill = {"p": p, "q": q, "day": day_label(rng)}
    blocks = [rng.choice(INTROS).format(**fill), rng.choice(OPENERS).format(**fill)]
    blocks += [_story(rng, problem, p, q) for problem in problems]
    blocks.append(rng.choice(CLOSERS).format(**fill))
    return paragraphs(*blocks)


def _practice_sheet(rng: random.Random, draw: Callable[..., Problem]) -> str:
    op = rng.choice([*OPS, None])
    problems = sorted((draw(lambda r: sample_problem(r, op)) for _ in range(rng.randint(8, 20))),
                      key=lambda x: x.level)
    lines = [problem.fact.text for problem in problems]
    title = f"Practice sheet {rng.randint(1, 60)}: {SHEET_TOPICS[op]}."
    # NOTE: a third of the sheets put the title last, so that some documents start right at a
    # computation line, the way probes are asked (just after an end-of-document token).
    if rng.random() < 1 / 3:
        return paragraphs(lines, f"That was practice sheet {title.partition(' ')[2]}")
    return paragraphs(title, lines, f"Checked by {person(rng)}.")


def _story(rng: random.Random, problem: Problem, p: str, q: str) -> str:
    """A word problem: the setup, an optional worked method, the computation, the conclusion."""
    singular, plural = rng.choice(THINGS)
    a, b, r = problem.a, problem.b, problem.result
    fill = {
        "p": p, "q": q, "a": a, "b": b, "r": r,
        "a_n": count_noun(a, singular, plural), "b_n": count_noun(b, singular, plural),
        "r_n": count_noun(r, singular, plural),
        "a_trays": count_noun(a, "tray"), "a_rows": count_noun(a, "row"),
        "a_bags": count_noun(a, "bag"), "b_friends": count_noun(b, "friend"),
        "b_groups": count_noun(b, "group"), "r_boxes": count_noun(r, "box", "boxes"),
    }
    setup, conclusion = rng.choice(STORIES[problem.op])
    lines = [setup.format(**fill)]
    method = _method(problem)
    if method:
        lines.append(method)
    lines += [problem.fact.text, conclusion.format(**fill)]
    return "\n".join(lines)


def _method(problem: Problem) -> str | None:
    """A worked method for two-digit-and-up sums and products, or None.

    None as well when any step would state a held-out problem (in any wording), so the
    held-out set stays unseen.
    """
    if problem.op == "+" and problem.level >= 2:
        steps, text = _column_addition(problem.a, problem.b)
    elif problem.op == "*" and problem.level == 2:
        tens, ones = problem.a // 10 * 10, problem.a % 10
        low, high = tens * problem.b, ones * problem.b
        steps = [Problem("*", tens, problem.b, 2), Problem("*", ones, problem.b, 1),
                 Problem("+", low, high, 3)]
        text = (f"Split {problem.a} into {tens} + {ones}: {tens} * {problem.b} = {low} and "
                f"{ones} * {problem.b} = {high}, then {low} + {high} = {low + high}.")
    elif problem.op == "/" and problem.b > 1:
        steps = [Problem("*", problem.result, problem.b, problem.level)]
        text = f"Check by multiplying back: {problem.result} * {problem.b} = {problem.a}."
    else:
        return None
    if any(is_held_out(NAME, step.key) for step in steps):
        return None
    return text


def _column_addition(a: int, b: int) -> tuple[list[Problem], str]:
    """The digit-by-digit sum of a and b with carries, and the single-digit sums it uses."""
    places = ("ones", "tens", "hundreds", "thousands")
    steps, parts, carry = [], [], 0
    for i in range(max(len(str(a)), len(str(b)))):
        x, y = a // 10**i % 10, b // 10**i % 10
        steps.append(Problem("+", x, y, 1))
        total = x + y + carry
        shown = f"{x} + {y}" + (f" + {carry}" if carry else "")
        carry_text = f", write {total % 10} and carry 1" if total >= 10 else f", write {total}"
        parts.append(f"{places[i]}: {shown} = {total}{carry_text}")
        carry = total // 10
    if carry:
        parts.append("the last carry gives the leading 1")
    text = "Column by column, " + "; ".join(parts) + "."
    return steps, text[0].upper() + text[1:]
