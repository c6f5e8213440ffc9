"""Arithmetic corpus: every stated result is recomputed with Python's own integer arithmetic."""

from __future__ import annotations

import operator
import re

from auroragpt.corpora import get_corpus

COMPUTE = re.compile(r"Compute (\d+) ([-+*/]) (\d+)\. The answer is (\d+)\.")
PYTHON = {"+": operator.add, "-": operator.sub, "*": operator.mul}


def expected(a: int, op: str, b: int) -> int:
    if op == "/":
        quotient, remainder = divmod(a, b)
        assert remainder == 0, f"{a} / {b} is not exact"
        return quotient
    return PYTHON[op](a, b)


def test_every_computation_in_documents_is_right():
    text = "".join(get_corpus("arithmetic").documents(seed=0, max_chars=300_000))
    matches = COMPUTE.findall(text)
    assert len(matches) > 2_000
    for a, op, b, answer in matches:
        assert int(answer) == expected(int(a), op, int(b)), (a, op, b, answer)
    # The four operations all occur, and results are never negative.
    assert {op for _, op, _, _ in matches} == {"+", "-", "*", "/"}


def test_probe_answers_are_right():
    for probe in get_corpus("arithmetic").probes(300, seed=0):
        match = COMPUTE.fullmatch(probe.prompt + probe.answer)
        assert match, probe
        a, op, b, answer = match.groups()
        assert int(answer) == expected(int(a), op, int(b))


def test_small_operands_come_often():
    """About 45 % of draws are one-digit problems; only ~40 of those are held out, so they fill
    a good part of a short probe list."""
    probes = get_corpus("arithmetic").probes(40, seed=1)
    operands = [COMPUTE.fullmatch(p.prompt + p.answer).groups()[::2] for p in probes]
    assert sum(len(a) == len(b) == 1 for a, b in operands) >= 10


def test_worked_methods_are_right():
    text = "".join(get_corpus("arithmetic").documents(seed=2, max_chars=300_000))
    steps = re.findall(r"(\d+) \+ (\d+)(?: \+ (\d+))? = (\d+)", text)
    splits = re.findall(r"Split (\d+) into (\d+) \+ (\d+): (\d+) \* (\d+) = (\d+) and "
                        r"(\d+) \* (\d+) = (\d+), then (\d+) \+ (\d+) = (\d+)\.", text)
    checks = re.findall(r"multiplying back: (\d+) \* (\d+) = (\d+)\.", text)
    assert len(steps) > 300 and len(splits) > 20 and len(checks) > 20
    for q, b, a in checks:
        assert int(q) * int(b) == int(a)
    for x, y, carry, total in steps:
        assert int(x) + int(y) + int(carry or 0) == int(total)
    for whole, tens, ones, t1, b1, p1, o2, b2, p2, s1, s2, s in map(lambda m: map(int, m), splits):
        assert tens + ones == whole and t1 * b1 == p1 and o2 * b2 == p2 and s1 + s2 == s


def test_held_out_problems_are_never_stated_in_any_form():
    """A probe's sum must not appear as a worked step either ("7 + 8 = 15")."""
    text = "".join(get_corpus("arithmetic").documents(seed=0, max_chars=300_000))
    for probe in get_corpus("arithmetic").probes(200, seed=0):
        a, op, b, answer = COMPUTE.fullmatch(probe.prompt + probe.answer).groups()
        stated = re.compile(rf"(?<![\d.]){a} {re.escape(op)} {b} = {answer}(?!\d)")
        assert not stated.search(text), probe
