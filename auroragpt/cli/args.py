"""Argument types that refuse impossible values where argparse reads them (one-line errors)."""

from __future__ import annotations

import argparse


def _number(text: str, kind, minimum, inclusive: bool, what: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < minimum or (value == minimum and not inclusive):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _number(text, int, 1, True, "an integer >= 1")


def non_negative_int(text: str) -> int:
    return _number(text, int, 0, True, "an integer >= 0")


def non_negative_float(text: str) -> float:
    return _number(text, float, 0.0, True, "a number >= 0")


def probability(text: str) -> float:
    """A nucleus-sampling mass in (0, 1]."""
    value = _number(text, float, 0.0, False, "a number in (0, 1]")
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return value


def split_shares(text: str) -> str:
    """Megatron's `train,valid,test` document shares: three numbers >= 0, train > 0."""
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 3 or any(v < 0 for v in values) or values[0] <= 0:
        raise argparse.ArgumentTypeError(
            f"expected three numbers >= 0 like 98,2,0 with a positive train share, got {text!r}")
    return text
