"""What a `checks.py` beside an exercise is written with: the `@check` decorator, the context a
check receives, the failure it raises, and comparisons that explain themselves.

A check is a function `def name(ctx: CheckContext) -> None` decorated with `@check(...)`. It
fetches the learner's functions with `ctx.function("name")`, runs them on random inputs and
compares against an independent reference (the library, a formula, float64). To fail, it raises
`CheckFailed(message)`: the message says *what* is wrong (shapes, the size and place of the
error, which property broke), and the decorator's `hint` nudges towards the fix without giving
the answer away. Anything the learner's code raises is reported by the runner, not here.

`forbid` names library functions the learner must not call (the reference itself, or a one-line
shortcut such as `torch.nn.functional.scaled_dot_product_attention`): only calls made from the
learner's file are refused, so the checks and the library keep using them.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

CHECK_ATTRIBUTE = "__exercise_check__"


class CheckFailed(AssertionError):
    """The learner's result is wrong; the message says how, never what the answer is."""


class ForbiddenCall(RuntimeError):
    """The learner's code called a function the exercise asks them to write themselves."""


@dataclass(frozen=True)
class CheckSpec:
    """A check as declared in checks.py: its one-line description and its hint on failure."""

    description: str
    hint: str | None


def check(description: str, hint: str | None = None) -> Callable:
    """Declare `fn(ctx)` a check; checks run in the order they are defined in checks.py."""

    def mark(fn: Callable) -> Callable:
        setattr(fn, CHECK_ATTRIBUTE, CheckSpec(description, hint))
        return fn

    return mark


def checks_in(module: ModuleType) -> list[tuple[str, Callable, CheckSpec]]:
    """The checks a loaded checks.py declares, in definition order: (name, fn, spec)."""
    return [(name, value, getattr(value, CHECK_ATTRIBUTE))
            for name, value in vars(module).items()
            if callable(value) and hasattr(value, CHECK_ATTRIBUTE)]


@dataclass
class CheckContext:
    """What a check gets: the learner's module, a seed for its random inputs, a scratch folder."""

    learner: ModuleType
    seed: int
    workdir: Path
    learner_file: Path = field(init=False)

    def __post_init__(self) -> None:
        self.learner_file = Path(self.learner.__file__)

    def function(self, name: str) -> Callable:
        """The learner's function `name`, or a failure that says it is missing."""
        fn = getattr(self.learner, name, None)
        if fn is None:
            raise CheckFailed(
                f"{self.learner_file.name} defines no `{name}`: keep the starter's function "
                "names and signatures"
            )
        if not callable(fn):
            raise CheckFailed(f"`{name}` in {self.learner_file.name} is not a function")
        return fn


# ----------------------------------------------------------------------------------------------
# Comparisons
# ----------------------------------------------------------------------------------------------


def expect_close(actual: Any, expected: Any, what: str, atol: float = 1e-8,
                 rtol: float = 1e-6, dtype: Any = None) -> None:
    """Fail unless `actual` matches `expected` (numbers, numpy arrays or torch tensors).

    The message gives the shape or dtype mismatch, or the largest error and where it sits,
    which tells a learner where to look without telling them the value. `dtype`, when given,
    is the dtype the result must keep (float64 in, float64 out).
    """
    import numpy as np

    if actual is None:
        raise CheckFailed(f"{what}: your function returned None (is a `return` missing?)")
    if dtype is not None and getattr(actual, "dtype", dtype) != dtype:
        raise CheckFailed(f"{what}: returned dtype {actual.dtype}, expected {dtype} "
                          "(compute in the dtype of the inputs)")
    got, want = _as_float64(actual, what), _as_float64(expected, "the reference")
    if got.shape != want.shape:
        raise CheckFailed(f"{what}: shape {tuple(got.shape)}, expected {tuple(want.shape)}")
    if not np.isfinite(got).all():
        raise CheckFailed(f"{what}: contains {_count_nonfinite(got)} NaN or inf values "
                          "(an overflow, a log of 0 or a division by 0?)")
    error = np.abs(got - want)
    allowed = atol + rtol * np.abs(want)
    if (error > allowed).any():
        where = np.unravel_index(np.argmax(error - allowed), error.shape) if error.ndim else ()
        at = f" at index {tuple(int(i) for i in where)}" if where else ""
        raise CheckFailed(f"{what}: off by up to {error.max():.3g}{at} "
                          f"(tolerance {atol:g} + {rtol:g} * |expected|)")


def is_close(actual: Any, expected: Any, atol: float = 1e-8, rtol: float = 1e-6) -> bool:
    """True when `actual` matches `expected`; used to recognise a typical mistake."""
    try:
        expect_close(actual, expected, "", atol=atol, rtol=rtol)
    except CheckFailed:
        return False
    return True


def _as_float64(value: Any, what: str):
    import numpy as np

    if hasattr(value, "detach"):  # a torch tensor, on any device
        value = value.detach().cpu().double().numpy()
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise CheckFailed(f"{what}: expected numbers, got {type(value).__name__}") from err


def _count_nonfinite(array) -> int:
    import numpy as np

    return int((~np.isfinite(array)).sum())


# ----------------------------------------------------------------------------------------------
# Forbidden shortcuts
# ----------------------------------------------------------------------------------------------


def forbid(target: str, reason: str, learner_file: Path) -> None:
    """Replace `module.attr` named by `target` with a guard that refuses calls from `learner_file`.

    Calls from anywhere else (the checks, the library) go through to the original, so a check
    can still use the very function it forbids as its reference.
    """
    module_name, _, attr = target.rpartition(".")
    module = importlib.import_module(module_name)
    original = getattr(module, attr)
    # NOTE: code objects carry the path the module was loaded from, verbatim; the worker loads
    # the learner's file from exactly this string, so a plain comparison suffices.
    learner_path = str(learner_file)

    @functools.wraps(original)
    def guard(*args, **kwargs):
        if sys._getframe(1).f_code.co_filename == learner_path:
            raise ForbiddenCall(f"`{target}` is off limits in this exercise: {reason}")
        return original(*args, **kwargs)

    setattr(module, attr, guard)
