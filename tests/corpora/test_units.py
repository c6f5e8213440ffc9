"""Units corpus: every conversion is redone with the test's own table of exact definitions."""

from __future__ import annotations

import re
from fractions import Fraction

from auroragpt.corpora import get_corpus

CONVERT = re.compile(r"Convert (-?[\d.]+) (\S+) to (\S+)\. The answer is (-?[\d.]+) (\S+)\.")

# Size of each unit in metres, kilograms, cubic metres, seconds or joules (exact definitions).
SI = {
    "mm": "0.001", "cm": "0.01", "m": "1", "km": "1000", "in": "0.0254", "ft": "0.3048",
    "mi": "1609.344",
    "mg": "0.000001", "g": "0.001", "kg": "1", "t": "1000", "lb": "0.45359237",
    "oz": "0.028349523125",
    "mL": "0.000001", "L": "0.001", "m3": "1",
    "s": "1", "min": "60", "h": "3600", "d": "86400",
    "J": "1", "kJ": "1000", "cal": "4.184", "kcal": "4184", "Wh": "3600", "kWh": "3600000",
}
DIMENSION = {
    **dict.fromkeys(["mm", "cm", "m", "km", "in", "ft", "mi"], "length"),
    **dict.fromkeys(["mg", "g", "kg", "t", "lb", "oz"], "mass"),
    **dict.fromkeys(["mL", "L", "m3"], "volume"),
    **dict.fromkeys(["s", "min", "h", "d"], "time"),
    **dict.fromkeys(["J", "kJ", "cal", "kcal", "Wh", "kWh"], "energy"),
}


def to_celsius(value: Fraction, unit: str) -> Fraction:
    return {"°C": value, "K": value - Fraction("273.15"), "°F": (value - 32) / Fraction("1.8")}[unit]


def from_celsius(value: Fraction, unit: str) -> Fraction:
    return {"°C": value, "K": value + Fraction("273.15"), "°F": value * Fraction("1.8") + 32}[unit]


def reference(value: str, source: str, target: str) -> Fraction:
    if source in ("°C", "°F", "K"):
        assert target in ("°C", "°F", "K") and target != source
        return from_celsius(to_celsius(Fraction(value), source), target)
    assert DIMENSION[source] == DIMENSION[target] and source != target
    return Fraction(value) * Fraction(SI[source]) / Fraction(SI[target])


def check(match: re.Match) -> None:
    value, source, target, answer, answer_unit = match.groups()
    assert answer_unit == target
    assert Fraction(answer) == reference(value, source, target), match.group(0)
    # Exactly as printed: no trailing zeros, at most 4 decimals.
    assert len(answer.partition(".")[2]) <= 4 and not (("." in answer) and answer.endswith("0"))


def test_every_conversion_in_documents_is_exact_and_right():
    text = "".join(get_corpus("units").documents(seed=0, max_chars=300_000))
    matches = list(CONVERT.finditer(text))
    assert len(matches) > 1_500
    for match in matches:
        check(match)
    units = {m.group(2) for m in matches}
    assert units == set(SI) | {"°C", "°F", "K"}  # every unit is used


def test_probe_answers_are_right():
    probes = get_corpus("units").probes(300, seed=0)
    for probe in probes:
        match = CONVERT.fullmatch(probe.prompt + probe.answer)
        assert match, probe
        check(match)


def test_temperatures_stay_above_absolute_zero():
    text = "".join(get_corpus("units").documents(seed=1, max_chars=200_000))
    for value, source, *_ in CONVERT.findall(text):
        if source in ("°C", "°F", "K"):
            assert to_celsius(Fraction(value), source) > Fraction("-273.15")


def test_stated_factors_are_right():
    text = "".join(get_corpus("units").documents(seed=2, max_chars=200_000))
    factors = re.findall(r"One [a-z -]+ is ([\d.]+) (\S+), so (multiply|divide) by ([\d.]+)\.\n"
                         r"Convert [-\d.]+ (\S+) to (\S+)\.", text)
    assert len(factors) > 200
    for size, unit, how, by, source, target in factors:
        assert size == by
        big, small = (source, target) if how == "multiply" else (target, source)
        assert unit == small
        assert Fraction(SI[big]) / Fraction(SI[small]) == Fraction(size)
