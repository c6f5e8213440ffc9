"""Sequences corpus: every next term is predicted again by the test's own family detectors,
which must all agree, and every stated rule is applied to the terms shown."""

from __future__ import annotations

import itertools
import re

from auroragpt.corpora import get_corpus

SEQUENCE = re.compile(r"Sequence: ([\d, ]+)\.")
NEXT = re.compile(r"The next term is (\d+)\.")
RULE = re.compile(r"The rule is (.+)\.")


def diffs(terms: list[int]) -> list[int]:
    return [b - a for a, b in itertools.pairwise(terms)]


def is_fibonacci(terms: list[int]) -> bool:
    return all(terms[i] == terms[i - 1] + terms[i - 2] for i in range(2, len(terms)))


def predictions(terms: list[int]) -> set[int]:
    """The next term under every family of rules that fits all the terms shown."""
    found = set()
    d1 = diffs(terms)
    if len(set(d1)) == 1:
        found.add(terms[-1] + d1[0])
    d2 = diffs(d1)
    if len(set(d2)) == 1:
        found.add(terms[-1] + d1[-1] + d2[0])
    if 0 not in terms and len({b / a for a, b in itertools.pairwise(terms)}) == 1:
        found.add(terms[-1] * terms[-1] // terms[-2])
    if is_fibonacci(terms):
        found.add(terms[-1] + terms[-2])
    if len(set(d1[::2])) == 1 and len(set(d1[1::2])) == 1:
        found.add(terms[-1] + d1[-2])
    return found


def apply_rule(rule: str, terms: list[int]) -> int:
    """The next term from a stated rule, after checking the rule fits every term shown."""
    if m := re.fullmatch(r"(add|subtract) (\d+) each time", rule):
        step = int(m.group(2)) * (1 if m.group(1) == "add" else -1)
        assert all(d == step for d in diffs(terms))
        return terms[-1] + step
    if m := re.fullmatch(r"multiply by (\d+) each time", rule):
        assert all(b == a * int(m.group(1)) for a, b in itertools.pairwise(terms))
        return terms[-1] * int(m.group(1))
    if rule == "divide by 2 each time":
        assert all(a == 2 * b for a, b in itertools.pairwise(terms)) and terms[-1] % 2 == 0
        return terms[-1] // 2
    if rule == "add the two previous terms":
        assert is_fibonacci(terms)
        return terms[-1] + terms[-2]
    if m := re.fullmatch(r"add (\d+) and (\d+) in turn", rule):
        p, q = int(m.group(1)), int(m.group(2))
        steps = [p, q] * len(terms)  # p, q, p, q, ...
        assert diffs(terms) == steps[: len(terms) - 1]
        return terms[-1] + steps[len(terms) - 1]
    raise AssertionError(f"unknown rule {rule!r}")


def check_block(lines: list[str]) -> int:
    terms = [int(t) for t in SEQUENCE.fullmatch(lines[0]).group(1).split(", ")]
    checked = 0
    for line in lines[1:]:
        if m := NEXT.fullmatch(line):
            assert predictions(terms) == {int(m.group(1))}, (terms, line)
            checked += 1
        elif m := RULE.fullmatch(line):
            assert apply_rule(m.group(1), terms) in predictions(terms), (terms, line)
            checked += 1
    return checked


def test_every_answer_in_documents_is_right():
    text = "".join(get_corpus("sequences").documents(seed=0, max_chars=300_000))
    checked = 0
    for paragraph in text.split("\n\n"):
        lines = paragraph.split("\n")
        for i, line in enumerate(lines):
            if SEQUENCE.fullmatch(line):
                checked += check_block(lines[i:])
    assert checked > 1_000


def test_probe_answers_are_right():
    probes = get_corpus("sequences").probes(200, seed=0)
    for probe in probes:
        line, question = probe.prompt.split("\n")
        assert check_block([line, question + probe.answer]) == 1
    assert {p.prompt.split("\n")[1] for p in probes} == {"The next term is", "The rule is"}
