"""Plots of numbers (published and measured) shared by several decks."""

from __future__ import annotations

import matplotlib.pyplot as plt

from deckkit.measured import IndexBenchmark
from deckkit.style import BLUE, GREY, ORANGE, TEAL


def index_build_plot(published: dict[str, float], files: int, ours: IndexBenchmark | None):
    """Horizontal bars on a log scale: the published index-building times, then ours."""
    measured = ours.seconds if ours else {}
    labels = list(published) + list(measured)
    seconds = list(published.values()) + list(measured.values())
    colors = [GREY, BLUE][: len(published)] + [ORANGE, TEAL, TEAL][: len(measured)]
    fig, ax = plt.subplots(figsize=(10, 2.6 + 0.55 * len(labels)))
    bars = ax.barh(labels[::-1], seconds[::-1], color=colors[::-1])
    ax.bar_label(bars, [f"{s:,.1f} s" if s < 100 else f"{s:,.0f} s" for s in seconds[::-1]],
                 padding=4)
    ax.set_xscale("log")
    ax.set_xlim(min(seconds) / 3, max(seconds) * 5)
    ax.set_xlabel("seconds to build the blended index (log scale)")
    fig.suptitle(f"Blended index for a {files:,}-file Dolma data list")
    ax.grid(axis="y", visible=False)
    if ours:
        note = (f"measured here: a generated list of {ours.files:,} files with "
                f"1/{1 / ours.fraction:,.0f} of Dolma's tokens, {ours.workers} CPU workers")
    else:
        note = "our measurement appears once benchmarks/data_index.jsonl is recorded"
    ax.set_title(note, fontsize=10, color=GREY if ours else ORANGE)
    return fig
