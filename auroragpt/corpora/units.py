"""Unit conversions: length, mass, volume, time, energy and temperature, with exact answers.

Every conversion is written as `Convert V U to W. The answer is R W.` Conversion factors are
exact by definition (1 in = 0.0254 m, 1 lb = 0.45359237 kg, 1 cal = 4.184 J, ...), all
arithmetic is done on fractions, and a value is only used when the result is a terminating
decimal with at most `MAX_PLACES` digits after the point, so every answer is exact as written.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

from auroragpt.corpora.base import Fact, GeneratedCorpus
from auroragpt.corpora.narrative import (
    PEOPLE,
    day_label,
    decimal_places,
    format_decimal,
    paragraphs,
)

NAME = "units"
MAX_PLACES = 4  # longest decimal part of a value or an answer
MAX_DIGITS = 9  # longest answer, in significant digits

# Linear units: quantity -> {unit: size in the quantity's SI unit (exact)}.
LINEAR_UNITS: dict[str, dict[str, Fraction]] = {
    "length": {
        "mm": Fraction(1, 1000), "cm": Fraction(1, 100), "m": Fraction(1), "km": Fraction(1000),
        "in": Fraction("0.0254"), "ft": Fraction("0.3048"), "mi": Fraction("1609.344"),
    },
    "mass": {
        "mg": Fraction(1, 10**6), "g": Fraction(1, 1000), "kg": Fraction(1), "t": Fraction(1000),
        "lb": Fraction("0.45359237"), "oz": Fraction("0.028349523125"),
    },
    "volume": {"mL": Fraction(1, 10**6), "L": Fraction(1, 1000), "m3": Fraction(1)},
    "time": {"s": Fraction(1), "min": Fraction(60), "h": Fraction(3600), "d": Fraction(86400)},
    "energy": {
        "J": Fraction(1), "kJ": Fraction(1000), "cal": Fraction("4.184"),
        "kcal": Fraction(4184), "Wh": Fraction(3600), "kWh": Fraction(3_600_000),
    },
}
TEMPERATURE_UNITS = ("°C", "°F", "K")
# (source, target) -> size of one `source` in `target`, for every pair of linear units.
_RATIOS = {(s, t): sizes[s] / sizes[t]
           for sizes in LINEAR_UNITS.values() for s in sizes for t in sizes}
QUANTITIES = (*LINEAR_UNITS, "temperature")


def to_kelvin(value: Fraction, unit: str) -> Fraction:
    if unit == "K":
        return value
    celsius = value if unit == "°C" else (value - 32) * Fraction(5, 9)
    return celsius + Fraction("273.15")


def from_kelvin(kelvin: Fraction, unit: str) -> Fraction:
    if unit == "K":
        return kelvin
    celsius = kelvin - Fraction("273.15")
    return celsius if unit == "°C" else celsius * Fraction(9, 5) + 32


def convert(value: Fraction, source: str, target: str) -> Fraction:
    """`value` in unit `source` expressed in unit `target` (both of the same quantity)."""
    if source in TEMPERATURE_UNITS:
        return from_kelvin(to_kelvin(value, source), target)
    return value * _RATIOS[source, target]


@dataclass(frozen=True)
class Conversion:
    quantity: str
    value: Fraction
    source: str
    target: str

    @property
    def result(self) -> Fraction:
        return convert(self.value, self.source, self.target)

    @cached_property
    def value_text(self) -> str:
        return format_decimal(self.value)

    @property
    def key(self) -> str:
        return f"{self.value_text} {self.source} -> {self.target}"

    @property
    def fact(self) -> Fact:
        return Fact(
            f"Convert {self.value_text} {self.source} to {self.target}. The answer is",
            f" {format_decimal(self.result)} {self.target}.",
        )

    @property
    def facts(self) -> tuple[Fact, ...]:
        return (self.fact,)


def sample_conversion(rng: random.Random, quantity: str | None = None) -> Conversion:
    """A conversion whose value and result are both short exact decimals."""
    quantity = quantity or rng.choice(QUANTITIES)
    units = TEMPERATURE_UNITS if quantity == "temperature" else tuple(LINEAR_UNITS[quantity])
    while True:
        source, target = rng.sample(units, 2)
        value = _nice_value(rng, source)
        result = convert(value, source, target)
        places = decimal_places(result)
        if places is not None and places <= MAX_PLACES and result != 0 and (
            abs(result.numerator) * 10**places // result.denominator < 10**MAX_DIGITS
        ):
            return Conversion(quantity, value, source, target)


# Whole-number ranges of temperatures worth converting (never below absolute zero).
TEMPERATURE_RANGES = {"°C": (-40, 120), "°F": (-40, 250), "K": (233, 393)}


def _nice_value(rng: random.Random, unit: str) -> Fraction:
    """Mostly small whole numbers, sometimes halves, quarters or tenths."""
    if unit in TEMPERATURE_RANGES:
        return Fraction(rng.randint(*TEMPERATURE_RANGES[unit]))
    kind = rng.random()
    if kind < 0.6:
        return Fraction(rng.choice((rng.randint(1, 12), rng.randint(1, 100), rng.randint(1, 1000))))
    if kind < 0.85:
        return Fraction(rng.randint(1, 40), rng.choice((2, 4)))
    return Fraction(rng.randint(1, 99), 10)


# ----------------------------------------------------------------------------------------------
# Prose
# ----------------------------------------------------------------------------------------------

UNIT_NAMES = {
    "mm": "millimetre", "cm": "centimetre", "m": "metre", "km": "kilometre", "in": "inch",
    "ft": "foot", "mi": "mile", "mg": "milligram", "g": "gram", "kg": "kilogram",
    "t": "tonne", "lb": "pound", "oz": "ounce", "mL": "millilitre", "L": "litre",
    "m3": "cubic metre", "s": "second", "min": "minute", "h": "hour", "d": "day",
    "J": "joule", "kJ": "kilojoule", "cal": "calorie", "kcal": "kilocalorie",
    "Wh": "watt-hour", "kWh": "kilowatt-hour", "°C": "degree Celsius",
    "°F": "degree Fahrenheit", "K": "kelvin",
}

SCENES = {
    "length": (
        "The trail from the hut to the ridge measures {v}.",
        "{p} cut a copper wire of {v} for the circuit.",
        "The crack in the wall had grown to {v}.",
        "The survey line across the field is {v} long.",
    ),
    "mass": (
        "The basalt sample on the scale weighs {v}.",
        "{p} measured out {v} of salt for the solution.",
        "The parcel for the field station weighed {v}.",
        "The recipe asks for {v} of flour.",
    ),
    "volume": (
        "The flask was filled with {v} of water.",
        "{p} drew {v} of the buffer into the bottle.",
        "The rain barrel held {v} after the storm.",
    ),
    "time": (
        "The reaction was left to run for {v}.",
        "{p} timed the pendulum experiment at {v} in total.",
        "The bread dough rested for {v}.",
        "The probe took {v} to reach the bottom of the lake.",
    ),
    "energy": (
        "The snack bar on the label provides {v}.",
        "The heater used {v} during the test.",
        "Lifting the crate took about {v} of work.",
        "{p} recorded {v} from the calorimeter.",
    ),
    "temperature": (
        "The water bath was set to {v}.",
        "The thermometer outside the lab read {v} at dawn.",
        "{p} cooled the sample to {v}.",
        "The oven was preheated to {v}.",
    ),
}

INTROS = (
    "Conversion log kept by {p}, {day}.",
    "Lab bench notes, {day}: every measurement also written in a second unit.",
    "{p}'s field book, {day}. Numbers first, then the same numbers in other units.",
    "Worked examples for the units workshop, prepared by {p}.",
)

CLOSERS = (
    "All conversions used exact factors, so the answers are exact too.",
    "{p} double-checked the factors against the reference card.",
    "Next time: converting areas and speeds.",
)


class UnitsCorpus(GeneratedCorpus[Conversion]):
    name = NAME
    description = "exact unit conversions (length, mass, volume, time, energy, temperature)"

    def sample_item(self, rng: random.Random) -> Conversion:
        return sample_conversion(rng)

    def write_document(self, rng: random.Random, draw: Callable[..., Conversion]) -> str:
        p = rng.choice(PEOPLE)
        fill = {"p": p, "day": day_label(rng)}
        conversions = [draw() for _ in range(rng.randint(3, 8))]
        if rng.random() < 0.3:  # a quick table: computation lines only
            return paragraphs(
                f"Conversion drill, {fill['day']}.", [c.fact.text for c in conversions],
                rng.choice(CLOSERS).format(**fill),
            )
        blocks = [rng.choice(INTROS).format(**fill)]
        for c in conversions:
            scene = rng.choice(SCENES[c.quantity]).format(
                p=p, v=f"{c.value_text} {c.source}"
            )
            blocks.append("\n".join([scene, explain_factor(c), c.fact.text]))
        blocks.append(rng.choice(CLOSERS).format(**fill))
        return paragraphs(*blocks)


def explain_factor(c: Conversion) -> str:
    """Why the conversion works: the factor or formula relating the two units."""
    source, target = c.source, c.target
    if c.quantity == "temperature":
        formulas = {
            ("°C", "°F"): "To go from °C to °F, multiply by 9/5 and add 32.",
            ("°F", "°C"): "To go from °F to °C, subtract 32 and multiply by 5/9.",
            ("°C", "K"): "Kelvin is Celsius plus 273.15.",
            ("K", "°C"): "Celsius is kelvin minus 273.15.",
            ("°F", "K"): "From °F: subtract 32, multiply by 5/9, then add 273.15 to get kelvin.",
            ("K", "°F"): "From kelvin: subtract 273.15, multiply by 9/5, then add 32 to get °F.",
        }
        return formulas[(source, target)]
    ratio = convert(Fraction(1), source, target)
    name_s, name_t = UNIT_NAMES[source], UNIT_NAMES[target]
    if ratio >= 1 and decimal_places(ratio) is not None:
        return (f"One {name_s} is {format_decimal(ratio)} {target}, "
                f"so multiply by {format_decimal(ratio)}.")
    if ratio < 1 and decimal_places(1 / ratio) is not None:
        return (f"One {name_t} is {format_decimal(1 / ratio)} {source}, "
                f"so divide by {format_decimal(1 / ratio)}.")
    base = {units_: q for q, units in LINEAR_UNITS.items() for units_ in units}[source]
    si = next(u for u, size in LINEAR_UNITS[base].items() if size == 1)
    return (f"Go through {UNIT_NAMES[si]}s: one {name_s} is "
            f"{format_decimal(convert(Fraction(1), source, si))} {si} and one {name_t} is "
            f"{format_decimal(convert(Fraction(1), target, si))} {si}.")
