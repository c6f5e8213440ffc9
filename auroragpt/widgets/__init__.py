"""Small ipywidgets helpers for the notebooks, each with a static fallback.

In a live Jupyter session the controls are sliders and drop-downs. When widgets cannot
display (`static_reason()`: a headless run with `AURORAGPT_SMOKE=1` or `AURORAGPT_STATIC=1`
as in CI and when rendering slides, ipywidgets not installed, or no Jupyter kernel), the
notebook prints one line saying why (`static_notice()`, once per session) and the function is
called once with its default arguments, so it still shows the default figure.

A new widget helper follows the same pattern: `if is_static(): static_notice(); return
fn(**defaults)`.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_noticed = False  # the static notice is printed once per session


def static_reason() -> str | None:
    """Why widgets cannot display here, or None when they can."""
    for name in ("AURORAGPT_SMOKE", "AURORAGPT_STATIC"):
        if os.environ.get(name) == "1":
            return f"{name}=1 (a headless run)"
    if importlib.util.find_spec("ipywidgets") is None:
        return ("ipywidgets is not installed (`make course`, or "
                "pip install -e '.[notebooks]', then restart the kernel)")
    if not _in_kernel():
        return "not running in a Jupyter kernel"
    return None


def _in_kernel() -> bool:
    if importlib.util.find_spec("IPython") is None:
        return False
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None


def is_static() -> bool:
    """True when widgets should not be used (see `static_reason`)."""
    return static_reason() is not None


def static_notice() -> None:
    """Print, once per session, the one line that says why there are no controls."""
    global _noticed
    reason = static_reason()
    if reason and not _noticed:
        _noticed = True
        print(f"[auroragpt.widgets] static figures with default settings: {reason}")


@dataclass(frozen=True)
class LogRange:
    """A slider control over `[low, high]` on a log scale, `steps_per_decade` stops per x10,
    for values that span decades (RoPE's theta, a learning rate)."""

    low: float
    high: float
    steps_per_decade: int = 10

    def __post_init__(self) -> None:
        if not 0 < self.low < self.high:
            raise ValueError(f"LogRange needs 0 < low < high, got low={self.low}, "
                             f"high={self.high}")


def interactive(fn: Callable[..., Any], **controls: Any) -> Any:
    """Show `fn` with a control per keyword; call it once with its defaults when static.

    A control is `(min, max, step)` for a slider (int or float by the types given), a
    `LogRange` for a log-scale slider, a list for a drop-down, or a bool for a checkbox; a
    slider starts at the function's default value.
    """
    defaults = {name: p.default for name, p in inspect.signature(fn).parameters.items()
                if p.default is not inspect.Parameter.empty}
    missing = set(controls) - set(defaults)
    if missing:
        raise TypeError(f"{fn.__name__}: controls {sorted(missing)} need default values")
    if is_static():
        static_notice()
        return fn(**defaults)
    import ipywidgets as w

    widgets = {}
    for name, spec in controls.items():
        value = defaults[name]
        if isinstance(spec, bool):
            widgets[name] = w.Checkbox(value=value, description=name)
        elif isinstance(spec, LogRange):
            # FloatLogSlider's min, max and step are exponents of `base`
            widgets[name] = w.FloatLogSlider(
                value=value, base=10, min=math.log10(spec.low), max=math.log10(spec.high),
                step=1 / spec.steps_per_decade, description=name, continuous_update=False)
        elif isinstance(spec, (list, tuple)) and len(spec) == 3 and all(
                isinstance(v, (int, float)) for v in spec):
            lo, hi, step = spec
            cls = w.IntSlider if all(isinstance(v, int) for v in spec) else w.FloatSlider
            widgets[name] = cls(value=value, min=lo, max=hi, step=step, description=name,
                                continuous_update=False)
        else:
            widgets[name] = w.Dropdown(options=list(spec), value=value, description=name)
    return w.interact(fn, **widgets)
