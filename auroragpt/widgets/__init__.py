"""Small ipywidgets helpers for the notebooks, each with a static fallback.

In a live Jupyter session the controls are sliders and drop-downs; when ipywidgets is missing,
or the notebook runs headless (`AURORAGPT_SMOKE=1` or `AURORAGPT_STATIC=1`, as in CI and when
rendering slides), the function is simply called once with its default arguments so the
notebook still shows a figure.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any


def is_static() -> bool:
    """True when widgets should not be used (headless runs, or ipywidgets not installed)."""
    if os.environ.get("AURORAGPT_SMOKE") == "1" or os.environ.get("AURORAGPT_STATIC") == "1":
        return True
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return True
    return False


def interactive(fn: Callable[..., Any], **controls: Any) -> Any:
    """Show `fn` with a control per keyword; call it once with its defaults when static.

    A control is `(min, max, step)` for a slider (int or float by the types given), a list for
    a drop-down, or a bool for a checkbox; the slider starts at the function's default value.
    """
    defaults = {name: p.default for name, p in inspect.signature(fn).parameters.items()
                if p.default is not inspect.Parameter.empty}
    missing = set(controls) - set(defaults)
    if missing:
        raise TypeError(f"{fn.__name__}: controls {sorted(missing)} need default values")
    if is_static():
        return fn(**defaults)
    import ipywidgets as w

    widgets = {}
    for name, spec in controls.items():
        value = defaults[name]
        if isinstance(spec, bool):
            widgets[name] = w.Checkbox(value=value, description=name)
        elif isinstance(spec, (list, tuple)) and len(spec) == 3 and all(
                isinstance(v, (int, float)) for v in spec):
            lo, hi, step = spec
            cls = w.IntSlider if all(isinstance(v, int) for v in spec) else w.FloatSlider
            widgets[name] = cls(value=value, min=lo, max=hi, step=step, description=name,
                                continuous_update=False)
        else:
            widgets[name] = w.Dropdown(options=list(spec), value=value, description=name)
    return w.interact(fn, **widgets)
