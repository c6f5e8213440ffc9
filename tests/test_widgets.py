"""`auroragpt.widgets`: the static fallback says why in one line and still draws the default
figure; in a real Jupyter kernel with ipywidgets the controls are real widgets."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

CALLS = textwrap.dedent("""
    from auroragpt.widgets import interactive, static_reason
    drawn = []
    def plot(width=3, mode="a", show=True):
        drawn.append((width, mode, show))
    interactive(plot, width=(1, 8, 1), mode=["a", "b"], show=True)
    interactive(plot, width=(1, 8, 1))
    print("drawn", drawn)
""")


def _run(code: str, **env: str) -> str:
    import os

    environ = {k: v for k, v in os.environ.items()
               if k not in ("AURORAGPT_SMOKE", "AURORAGPT_STATIC")}
    proc = subprocess.run([sys.executable, "-c", code], env={**environ, **env},
                          capture_output=True, text=True, timeout=120, check=True)
    return proc.stdout


@pytest.mark.parametrize("env,reason", [
    ({"AURORAGPT_STATIC": "1"}, "AURORAGPT_STATIC=1 (a headless run)"),
    ({}, "not running in a Jupyter kernel"),
])
def test_static_fallback_prints_one_line_and_draws_defaults(env, reason):
    out = _run(CALLS, **env).splitlines()
    notices = [line for line in out if line.startswith("[auroragpt.widgets]")]
    assert notices == [f"[auroragpt.widgets] static figures with default settings: {reason}"]
    assert out[-1] == "drawn [(3, 'a', True), (3, 'a', True)]"


def test_missing_ipywidgets_is_named():
    # None in sys.modules makes the package unfindable and unimportable, as when absent
    out = _run("import sys\nsys.modules['ipywidgets'] = None\n" + CALLS)
    assert "ipywidgets is not installed (`make course`" in out
    assert out.splitlines()[-1] == "drawn [(3, 'a', True), (3, 'a', True)]"


def test_real_widgets_in_a_jupyter_kernel():
    """Run in an actual kernel (nbclient): the controls are ipywidgets objects, no notice."""
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("ipywidgets")
    from nbclient import NotebookClient

    code = CALLS + textwrap.dedent("""
        from auroragpt.widgets import LogRange, interactive
        shown = interactive(plot, width=(1, 8, 1), mode=["a", "b"])
        print(type(shown.widget).__name__, [type(c).__name__ for c in shown.widget.children])
        def rope(theta=10000.0):
            drawn.append(theta)
        log_slider = interactive(rope, theta=LogRange(1e2, 1e6)).widget.children[0]
        print("log", type(log_slider).__name__, log_slider.min, log_slider.max,
              log_slider.value)
        print("reason", static_reason())
    """)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.output_type == "stream")
    assert "[auroragpt.widgets]" not in text
    assert "interactive ['IntSlider', 'Dropdown', 'Checkbox', 'Output']" in text
    assert "log FloatLogSlider 2.0 6.0 10000.0" in text  # exponents of 10, default value
    assert "reason None" in text


def test_log_range_refuses_an_empty_or_non_positive_range():
    from auroragpt.widgets import LogRange

    for low, high in [(0, 10), (-1, 10), (100, 10)]:
        with pytest.raises(ValueError, match="0 < low < high"):
            LogRange(low, high)
