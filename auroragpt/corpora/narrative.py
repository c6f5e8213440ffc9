"""Small pieces of prose shared by the generated corpora: names, days, lists, plurals, numbers.

All wording here is written for this project. The generators pick from these pools with
their own seeded `random.Random`, so the same seed always tells the same story.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

PEOPLE = (
    "Ada", "Amara", "Bao", "Bruno", "Chen", "Chiara", "Dara", "Diego", "Elif", "Emil", "Farah",
    "Finn", "Greta", "Hana", "Hugo", "Ines", "Ivan", "Jun", "Kai", "Kiri", "Lena", "Luis",
    "Maya", "Milo", "Nadia", "Noor", "Oskar", "Priya", "Quinn", "Rafa", "Ravi", "Sade", "Sami",
    "Tariq", "Tomas", "Uma", "Vera", "Wen", "Yara", "Zoe",
)

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)


def person(rng: random.Random) -> str:
    return rng.choice(PEOPLE)


def day_label(rng: random.Random) -> str:
    """A date-like label such as "Tuesday, 14 March"."""
    return f"{rng.choice(WEEKDAYS)}, {rng.randint(1, 28)} {rng.choice(MONTHS)}"


def join_words(words: Sequence[str]) -> str:
    """["a", "b", "c"] -> "a, b and c"."""
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def count_noun(n: int, singular: str, plural: str | None = None) -> str:
    """"1 beaker", "3 beakers"; irregular plurals are passed explicitly."""
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"


def format_decimal(value: Fraction | Decimal | int) -> str:
    """The exact decimal spelling of a terminating value, without exponent or trailing zeros.

    Raises ValueError for values with no finite decimal expansion (e.g. 1/3).
    """
    if not isinstance(value, Fraction):
        value = Fraction(value)
    places = decimal_places(value)
    if places is None:
        raise ValueError(f"{value} has no finite decimal expansion")
    scaled = abs(value.numerator) * 10**places // value.denominator
    digits = str(scaled).rjust(places + 1, "0")
    text = digits[:-places] + "." + digits[-places:] if places else digits
    return ("-" if value < 0 else "") + text


def decimal_places(value: Fraction | int) -> int | None:
    """Digits after the point of `value` written exactly, or None if they never end.

    A reduced fraction terminates iff its denominator is 2**i * 5**j; it then needs
    max(i, j) places, and the last of them is non-zero.
    """
    denominator, twos, fives = value.denominator, 0, 0
    while denominator % 2 == 0:
        denominator //= 2
        twos += 1
    while denominator % 5 == 0:
        denominator //= 5
        fives += 1
    return max(twos, fives) if denominator == 1 else None


def paragraphs(*blocks: str | Sequence[str]) -> str:
    """Join blocks (a string, or lines to put one per line) with blank lines; end with "\\n"."""
    parts = []
    for block in blocks:
        text = block if isinstance(block, str) else "\n".join(block)
        if text:
            parts.append(text)
    return "\n\n".join(parts) + "\n"
