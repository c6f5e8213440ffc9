"""One look for every figure: colours, font sizes and a tidy axes style."""

from __future__ import annotations

import matplotlib as mpl

BLUE = "#1f4e79"
TEAL = "#1b998b"
ORANGE = "#e07a1f"
RED = "#c0392b"
GREY = "#5a6570"
LIGHT = "#eef2f6"
# One colour per built-in corpus (and per series in general), colour-blind friendly (Okabe-Ito).
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000"]


def apply() -> None:
    """Set matplotlib defaults for slides (call once at the top of a deck)."""
    mpl.rcParams.update({
        "font.size": 13,
        "axes.titlesize": 14,
        "axes.labelsize": 13,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": mpl.cycler(color=PALETTE),
        "axes.grid": True,
        "grid.alpha": 0.3,
        "legend.frameon": False,
        "figure.constrained_layout.use": True,
    })
