"""Time-series corpus: every question about a readings line is answered again here with
Python's max/min/index, and the day-by-day prose agrees with the numbers."""

from __future__ import annotations

import itertools
import re

from auroragpt.corpora import get_corpus

READINGS = re.compile(r"Readings \(([^)]+)\): ([\d, ]+)\.")


def answer(question: str, values: list[int], unit: str) -> str:
    change = values[-1] - values[0]
    answers = {
        "The highest reading is": f"{max(values)} {unit}.",
        "The lowest reading is": f"{min(values)} {unit}.",
        "The range of the readings is": f"{max(values) - min(values)} {unit}.",
        "From the first to the last reading the change is":
            f"{'+' if change > 0 else ''}{change} {unit}.",
        "The highest reading came on day": f"{values.index(max(values)) + 1}.",
    }
    if question.endswith("came on day"):
        assert values.count(max(values)) == 1, "peak day asked although the maximum repeats"
    return answers[question]


def check_block(lines: list[str]) -> int:
    """A readings line followed by question lines; returns how many questions were checked."""
    unit, numbers = READINGS.fullmatch(lines[0]).groups()
    values = [int(v) for v in numbers.split(", ")]
    for line in lines[1:]:
        for prompt in ("The highest reading is", "The lowest reading is",
                       "The range of the readings is",
                       "From the first to the last reading the change is",
                       "The highest reading came on day"):
            if line.startswith(prompt + " "):
                assert line[len(prompt) + 1:] == answer(prompt, values, unit), line
                break
        else:
            raise AssertionError(f"unexpected line after readings: {line!r}")
    return len(lines) - 1


def test_every_answer_in_documents_is_right():
    text = "".join(get_corpus("timeseries").documents(seed=0, max_chars=300_000))
    checked = 0
    for paragraph in text.split("\n\n"):
        lines = paragraph.strip("\n").split("\n")
        if READINGS.fullmatch(lines[0]):
            checked += check_block(lines)
    assert checked > 1_000


def test_day_by_day_prose_matches_the_readings():
    text = "".join(get_corpus("timeseries").documents(seed=1, max_chars=200_000))
    paragraphs = text.split("\n\n")
    stories = 0
    for story, summary in itertools.pairwise(paragraphs):
        days = re.findall(r"Day (\d+): (\d+) \S+(?: \((up|down) (\d+)\)| \(no change\))?\.", story)
        if not days:
            continue
        stories += 1
        values = [int(v) for v in READINGS.match(summary).group(2).split(", ")]
        assert [int(v) for _, v, _, _ in days] == values
        for (_, v, move, step), before in zip(days[1:], values[:-1], strict=True):
            delta = int(v) - before
            assert delta == (int(step) if move == "up" else -int(step) if move else 0)
    assert stories > 50


def test_probe_answers_are_right():
    for probe in get_corpus("timeseries").probes(200, seed=0):
        readings, question = probe.prompt.split("\n")
        assert check_block([readings, question + probe.answer]) == 1
