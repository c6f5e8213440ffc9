"""Plots of numbers (published and measured) shared by several decks."""

from __future__ import annotations

import matplotlib.pyplot as plt

from deckkit.style import BLUE, GREY, ORANGE, TEAL


def index_build_plot(published: dict[str, float], ours: dict[str, float], files: int):
    """Horizontal bars, log scale: published index-building times, then ours if measured."""
    labels = list(published) + list(ours)
    seconds = list(published.values()) + list(ours.values())
    colors = [GREY, BLUE][: len(published)] + [TEAL] * len(ours)
    fig, ax = plt.subplots(figsize=(10, 3.2 + 0.5 * len(ours)))
    bars = ax.barh(labels[::-1], seconds[::-1], color=colors[::-1])
    ax.bar_label(bars, [f"{s:,.1f} s" if s < 100 else f"{s:,.0f} s" for s in seconds[::-1]],
                 padding=4)
    ax.set_xscale("log")
    ax.set_xlim(min(seconds) / 3, max(seconds) * 4)
    ax.set_xlabel("seconds to build the blended index (log scale)")
    ax.set_title(f"Index building for a {files:,}-file data list")
    ax.grid(axis="y", visible=False)
    if not ours:
        ax.text(0.99, 0.02, "our measurement: run benchmarks/data_index.py", color=ORANGE,
                transform=ax.transAxes, ha="right", va="bottom", fontsize=11)
    return fig
