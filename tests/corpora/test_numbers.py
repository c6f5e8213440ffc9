"""Numbers corpus: every drilled answer is recomputed with Python's own integer arithmetic."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from auroragpt.corpora import get_corpus

SKILLS = {  # skill -> (question pattern, Python's own answer for n)
    "last digit": (re.compile(r"The last digit of (\d+) is (\d+)\."), lambda n: str(n % 10)),
    "next number": (re.compile(r"The number after (\d+) is (\d+)\."), lambda n: str(n + 1)),
    "even or odd": (re.compile(r"Is (\d+) even or odd\? It is (even|odd)\."),
                    lambda n: "odd" if n % 2 else "even"),
}


@pytest.fixture(scope="module")
def text():
    return "".join(get_corpus("numbers").documents(seed=0, max_chars=300_000))


def test_every_drilled_answer_is_right(text):
    corpus = get_corpus("numbers")
    assert set(corpus.skills) == set(SKILLS)
    for skill, (pattern, answer) in SKILLS.items():
        stated = pattern.findall(text)
        assert len(stated) > 1_000, skill  # every skill is drilled often
        assert all(got == answer(int(n)) for n, got in stated), skill


def test_last_digit_and_parity_get_twice_as_many_sheets_as_the_next_number(text):
    counts = Counter(re.findall(r"[Nn]umber drill \d+: ([a-z ]+)\.", text))
    assert set(counts) == set(SKILLS) and sum(counts.values()) > 600
    for skill in ("last digit", "even or odd"):  # 2:1 up to sampling noise (about +-0.2)
        assert 1.6 < counts[skill] / counts["next number"] < 2.5, counts


@pytest.mark.parametrize("skill", SKILLS)
def test_skill_probes_are_right_distinct_and_held_out(text, skill):
    corpus = get_corpus("numbers")
    pattern, answer = SKILLS[skill]
    probes = corpus.skill_probes(skill, 40, seed=0)
    assert probes == corpus.skill_probes(skill, 60, seed=0)[:40]
    assert len({p.prompt for p in probes}) == 40 and {p.skill for p in probes} == {skill}
    for probe in probes:
        n, got = pattern.fullmatch(probe.prompt + probe.answer).groups()
        assert got == answer(int(n))
        assert probe.prompt + probe.answer not in text, probe  # held out of every document


def test_mixed_probes_cover_every_skill():
    prompts = [p.prompt for p in get_corpus("numbers").probes(60, seed=0)]
    for skill, (pattern, _) in SKILLS.items():
        assert any(pattern.pattern.split(" (")[0] in prompt for prompt in prompts), skill


def test_unknown_skill_is_refused_by_name():
    with pytest.raises(ValueError, match="no skill 'carrying'.*last digit"):
        get_corpus("numbers").skill_probes("carrying", 3)
