"""Time series: field reports on a week or so of daily sensor readings, and what they show.

Each series is a short run of whole-number readings (a trend, a gentle cycle and noise) from
one kind of sensor. Reports describe it in prose, day by day, then give a compact readings line
followed by questions in fixed forms, e.g.

    Readings (cm): 41, 43, 47, 44, 50, 52, 49.
    The highest reading is 52 cm.
    The highest reading came on day 6.

A probe is the readings line of a held-out series plus one question. In documents the
questions follow the readings line in random order, so each kind of question sometimes comes
right after it, exactly as in a probe.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from auroragpt.corpora.base import Fact, GeneratedCorpus
from auroragpt.corpora.narrative import MONTHS, PEOPLE, paragraphs

NAME = "timeseries"


@dataclass(frozen=True)
class Sensor:
    what: str  # what is measured, as a noun phrase
    unit: str
    base: tuple[int, int]  # range of the starting level
    trend: int  # largest daily drift (either sign)
    cycle: int  # largest amplitude of the repeating pattern
    noise: int  # largest day-to-day jitter


SENSORS = (
    Sensor("the river level at the gauge", "cm", (30, 90), 3, 4, 2),
    Sensor("the greenhouse temperature at noon", "°C", (12, 30), 1, 2, 1),
    Sensor("the carbon dioxide level in the air", "ppm", (400, 440), 2, 3, 2),
    Sensor("the output of the wind turbine", "kW", (20, 80), 4, 6, 5),
    Sensor("the number of birds at the feeder", "birds", (10, 60), 2, 5, 4),
    Sensor("the depth of the snow on the slope", "cm", (20, 70), 3, 2, 2),
)
_CYCLE = (0, 1, 2, 1, 0, -1, -2, -1)  # one period of the repeating pattern, in half-amplitudes

STATIONS = (
    "Kestrel Point", "Willow Ford", "North Ridge", "Lake Orrin", "Stony Creek", "Harbour Light",
    "Mill Pond", "Cedar Hollow", "Granite Pass", "Reed Marsh",
)
WEATHER = (
    "after a night of steady rain", "on a still, sunny day", "when the wind turned north",
    "under low cloud", "after a warm front passed", "on a cold, clear morning",
)


@dataclass(frozen=True)
class Series:
    sensor: Sensor
    values: tuple[int, ...]

    @property
    def unit(self) -> str:
        return self.sensor.unit

    @property
    def key(self) -> str:
        return self.readings_line

    @property
    def readings_line(self) -> str:
        return f"Readings ({self.unit}): {', '.join(map(str, self.values))}."

    @property
    def peak_day(self) -> int | None:
        """1-based day of the highest reading, or None if that maximum occurs twice."""
        top = max(self.values)
        return self.values.index(top) + 1 if self.values.count(top) == 1 else None

    @property
    def questions(self) -> list[tuple[str, str]]:
        """(question, answer) pairs in their fixed wording."""
        values, unit = self.values, self.unit
        change = values[-1] - values[0]
        pairs = [
            ("The highest reading is", f" {max(values)} {unit}."),
            ("The lowest reading is", f" {min(values)} {unit}."),
            ("The range of the readings is", f" {max(values) - min(values)} {unit}."),
            ("From the first to the last reading the change is", f" {change:+d} {unit}."
             if change else f" 0 {unit}."),
        ]
        if self.peak_day is not None:
            pairs.append(("The highest reading came on day", f" {self.peak_day}."))
        return pairs

    @property
    def facts(self) -> tuple[Fact, ...]:
        return tuple(Fact(f"{self.readings_line}\n{q}", a) for q, a in self.questions)


def sample_series(rng: random.Random) -> Series:
    sensor = rng.choice(SENSORS)
    days = rng.randint(5, 9)
    level = rng.randint(*sensor.base)
    trend = rng.randint(-sensor.trend, sensor.trend)
    amplitude = rng.randint(0, sensor.cycle)
    phase = rng.randrange(len(_CYCLE))
    values = []
    for day in range(days):
        cycle = amplitude * _CYCLE[(day + phase) % len(_CYCLE)] // 2
        values.append(max(0, level + trend * day + cycle + rng.randint(-sensor.noise, sensor.noise)))
    return Series(sensor, tuple(values))


INTROS = (
    "Field report from {station} station, {month}.",
    "{station}: monitoring notes for {month}, written by {p}.",
    "Weekly summary, {station}. Observer: {p}.",
)
CLOSERS = (
    "The logger was checked and reset at the end of the run.",
    "{p} will repeat the readings next month.",
    "Raw values are kept in the station archive.",
)


class TimeSeriesCorpus(GeneratedCorpus[Series]):
    name = NAME
    description = "field reports on short runs of daily sensor readings: extremes, range, change"

    def sample_item(self, rng: random.Random) -> Series:
        return sample_series(rng)

    def write_document(self, rng: random.Random, draw: Callable[..., Series]) -> str:
        p = rng.choice(PEOPLE)
        fill = {"p": p, "station": rng.choice(STATIONS), "month": rng.choice(MONTHS)}
        blocks = [rng.choice(INTROS).format(**fill)]
        for series in (draw() for _ in range(rng.randint(1, 3))):
            blocks += [_story(rng, series), _summary(rng, series)]
        blocks.append(rng.choice(CLOSERS).format(**fill))
        return paragraphs(*blocks)


def _story(rng: random.Random, series: Series) -> str:
    """The series in prose: what was measured, day by day, and the overall shape."""
    values, unit = series.values, series.unit
    lines = [f"We followed {series.sensor.what} for {len(values)} days."]
    if rng.random() < 0.5:
        lines.append(f"Day 1: {values[0]} {unit}.")
        for day in range(1, len(values)):
            step = values[day] - values[day - 1]
            move = f"up {step}" if step > 0 else f"down {-step}" if step < 0 else "no change"
            lines.append(f"Day {day + 1}: {values[day]} {unit} ({move}).")
    half = len(values) // 2
    early, late = sum(values[:half]) / half, sum(values[-half:]) / half
    if late > early * 1.03:
        shape = "Over the run the values climbed."
    elif late < early * 0.97:
        shape = "Over the run the values fell."
    else:
        shape = "Over the run the values stayed about level."
    lines.append(shape)
    if series.peak_day is not None:
        lines.append(f"The peak came on day {series.peak_day}, {rng.choice(WEATHER)}.")
    return "\n".join(lines)


def _summary(rng: random.Random, series: Series) -> list[str]:
    """The readings line and every question about it, in random order."""
    questions = series.questions
    rng.shuffle(questions)
    return [series.readings_line, *(q + a for q, a in questions)]
