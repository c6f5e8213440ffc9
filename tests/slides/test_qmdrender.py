"""The offline Quarto renderer: parsing, settings, and what a rendered page contains.

References are independent of the renderer: hand-written expectations for the parse, Python's
own arithmetic for cell output, the PNG header for figure size (figure inches times the dpi
set in `_quarto.yml`, plus matplotlib's tight-bbox padding), and the HTML itself for
self-containment.
"""

from __future__ import annotations

import base64
import re
import struct
import textwrap
from pathlib import Path

import pytest
from qmdrender import RenderError, render_project
from qmdrender.project import deck_settings, load_project
from qmdrender.qmd import parse_qmd

PROJECT_YML = """\
project:
  output-dir: _site
execute:
  echo: false
  warning: false
format:
  revealjs:
    theme: default
    slide-number: true
    width: 1280
    embed-resources: true
    auto-stretch: false
    fig-width: 4
    fig-height: 2
    fig-dpi: 50
"""


def write_project(root: Path, decks: dict[str, str], revealjs: Path,
                  project_yml: str = PROJECT_YML) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "_quarto.yml").write_text(project_yml)
    (root / "node_modules").mkdir(exist_ok=True)
    (root / "node_modules" / "reveal.js").symlink_to(revealjs)
    for name, text in decks.items():
        (root / f"{name}.qmd").write_text(textwrap.dedent(text))
    return root


DECK = """\
---
title: "A test deck"
author: "Tester"
---

## Text

- a bullet

## Echoed code and its output

```{python}
#| echo: true
print(6 * 7)
```

## Hidden code, asis table

```{python}
#| output: asis
print("| a | b |")
print("|---|---|")
print(f"| {2 ** 10} | x |")
```

## A figure

```{python}
#| fig-cap: "The caption"
import matplotlib.pyplot as plt
import numpy as np
fig = plt.figure()
ax = fig.add_axes([0, 0, 1, 1])
ax.imshow(np.arange(8).reshape(2, 4), aspect="auto")
ax.axis("off")
plt.show()
```

## Not a cell

````markdown
```{python}
print("never run")
```
````
"""


def test_parse_front_matter_cells_and_options(tmp_path):
    path = tmp_path / "d.qmd"
    path.write_text(DECK)
    deck = parse_qmd(path)
    assert deck.front_matter == {"title": "A test deck", "author": "Tester"}
    cells = deck.cells
    assert [c.source for c in cells] == [
        "print(6 * 7)",
        'print("| a | b |")\nprint("|---|---|")\nprint(f"| {2 ** 10} | x |")',
        cells[2].source,
    ]
    assert cells[2].source.startswith("import matplotlib.pyplot as plt")
    assert [c.options for c in cells] == [{"echo": True}, {"output": "asis"},
                                          {"fig-cap": "The caption"}]
    assert [c.line for c in cells] == [12, 19, 28]
    # the cell shown inside a ````markdown block stays text
    assert 'print("never run")' in deck.blocks[-1]


@pytest.mark.parametrize("text, message", [
    ("no front matter\n", "must start with a YAML front matter"),
    ("---\ntitle: x\n", "never closed"),
    ("---\nauthor: x\n---\n", "needs a 'title'"),
    ("---\ntitle: x\nlogo: a.png\n---\n", "logo"),
    ("---\ntitle: x\n---\n\n```{python}\n#| code-fold: true\n1\n```\n", "d.qmd:5: cell option"),
    ("---\ntitle: x\n---\n\n```{python}\n#| output: maybe\n1\n```\n", "expected true, false or asis"),
    ("---\ntitle: x\n---\n\n```{python}\n1\n", "d.qmd:5: code block opened here"),
])
def test_parse_errors_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "d.qmd"
    path.write_text(text)
    with pytest.raises(RenderError, match=re.escape(message)):
        parse_qmd(path)


def test_settings_translate_quarto_options_for_pandoc(tmp_path, revealjs):
    root = write_project(tmp_path / "p", {"d": "---\ntitle: t\nformat:\n  revealjs:\n"
                                              "    slide-number: c/t\n---\n"}, revealjs)
    project = load_project(root)
    settings = deck_settings(project, parse_qmd(root / "d.qmd"))
    assert settings.theme == "white"  # Quarto's default theme is built on reveal.js "white"
    assert settings.variables == {"slideNumber": '"c/t"', "width": "1280"}  # the deck wins
    assert (settings.fig_width, settings.fig_height, settings.fig_dpi) == (4.0, 2.0, 50)
    assert settings.execute["echo"] is False and settings.execute["eval"] is True


@pytest.mark.parametrize("replace, message", [
    (("theme: default", "theme: sky"), "web fonts"),
    (("embed-resources: true", "embed-resources: false"), "embed-resources: true"),
    (("auto-stretch: false", "auto-stretch: true"), "auto-stretch: false"),
    (("slide-number: true", "footer: hi"), "footer"),
])
def test_unsupported_project_options_are_refused(tmp_path, revealjs, replace, message):
    yml = PROJECT_YML.replace(*replace)
    root = write_project(tmp_path / "p", {"d": "---\ntitle: t\n---\n"}, revealjs, yml)
    with pytest.raises(RenderError, match=re.escape(message)):
        deck_settings(load_project(root), parse_qmd(root / "d.qmd"))


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_rendered_page_weaves_outputs_and_is_self_contained(tmp_path, revealjs):
    root = write_project(tmp_path / "p", {"deck": DECK}, revealjs)
    [result] = render_project(root, progress=False)
    html = Path(result.html).read_text()
    assert Path(result.html) == root / "_site" / "deck.html"
    assert (root / "_site" / "render.jsonl").is_file()

    text = re.sub(r"<[^>]+>", "", html)  # highlighting splits code into spans
    assert "print(6 * 7)" in text  # echo: true shows the code ...
    assert re.search(r'<pre class="cell-output cell-output-stdout"><code>42</code>', html)
    assert "2 ** 10" not in text  # echo: false (the project default) hides the code ...
    assert re.search(r"<td[^>]*>1024</td>", html)  # ... and output: asis made a real table
    assert 'print(&quot;never run&quot;)' in text  # shown as text inside a fence, not executed
    assert html.count("<pre class=\"cell-output") == 1  # only print(6 * 7); the fence never ran

    # NOTE: pandoc's revealjs writer uses data-src so reveal.js can load images lazily
    figure = re.search(r'<figure>\s*<img [^>]*data-src="data:image/png;base64,([^"]+)"', html)
    assert figure, "the figure should be embedded as a PNG data URI"
    width, height = _png_size(base64.b64decode(figure.group(1)))
    # 4 x 2 inches at 50 dpi, plus 0.1 inch of tight-bbox padding on each side
    assert abs(width - (4 + 0.2) * 50) <= 2 and abs(height - (2 + 0.2) * 50) <= 2
    assert re.search(r"<figcaption[^>]*>The caption</figcaption>", html)

    # nothing loaded from outside the file: every src/href is inline or a fragment
    markup = re.sub(r"(<script[^>]*>).*?(</script>)", r"\1\2", html, flags=re.S)
    external = re.findall(r"""(?:src|href)=["']((?!data:|#)[^"']+)["']""", markup)
    assert external == []
    assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", html)  # no remote fonts or images
    assert "Reveal.initialize" in html and "slideNumber: true" in html


@pytest.mark.parametrize("code, message", [
    ("x = 1\n1 / (x - 1)", "ZeroDivisionError"),
    ("import os\nos._exit(3)", "died"),
])
def test_failing_cell_names_deck_line_and_error(tmp_path, revealjs, code, message):
    deck = f"---\ntitle: t\n---\n\n## s\n\n```{{python}}\n{code}\n```\n"
    root = write_project(tmp_path / "p", {"broken": deck}, revealjs)
    with pytest.raises(RenderError) as err:
        render_project(root, progress=False)
    assert f"{root / 'broken.qmd'}:7" in str(err.value)
    assert message in str(err.value)
    assert not (root / "_site" / "broken.html").exists()  # nothing half-written


def test_unknown_deck_name_is_refused(tmp_path, revealjs):
    root = write_project(tmp_path / "p", {"a": "---\ntitle: t\n---\n"}, revealjs)
    with pytest.raises(RenderError, match="no deck named b"):
        render_project(root, decks=["b"], progress=False)


def test_quartos_freeze_option_is_accepted(tmp_path, revealjs):
    yml = PROJECT_YML.replace("  warning: false\n", "  warning: false\n  freeze: auto\n")
    root = write_project(tmp_path / "p", {"d": "---\ntitle: t\n---\n"}, revealjs, yml)
    settings = deck_settings(load_project(root), parse_qmd(root / "d.qmd"))
    assert "freeze" not in settings.execute and settings.execute["eval"] is True


def test_shipped_project_freezes_results():
    """A real `quarto render` must reuse results (slides/_freeze/) instead of retraining."""
    import yaml

    options = yaml.safe_load((Path(__file__).parents[2] / "slides" / "_quarto.yml").read_text())
    assert options["execute"]["freeze"] == "auto"
