"""Plots of numbers (published and measured) shared by several decks."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from deckkit.measured import IndexBenchmark
from deckkit.style import BLUE, GREY, ORANGE, PALETTE, TEAL


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


def eval_across_steps(rows: list[dict], figsize: tuple[float, float] = (11, 4.2)):
    """Left: validation loss per corpus; right: held-out probe accuracy per corpus; both
    against the tokens each checkpoint had seen (rows of auroragpt.eval.evaluate)."""
    tokens = [row["tokens_seen"] for row in rows]
    corpora = ([name for name in rows[-1]["val"] if name != "corpus_mean"]
               if "val" in rows[-1] else [])
    fig, (left, right) = plt.subplots(1, 2, figsize=figsize, sharex=True)
    for i, name in enumerate(corpora):
        left.plot(tokens, [row["val"][name]["loss"] for row in rows], "o-", ms=3,
                  color=PALETTE[i % len(PALETTE)], label=name)
    if corpora:
        left.plot(tokens, [row["val_loss"] for row in rows], "k--", lw=2,
                  label="val loss (blend)")
    left.set(xlabel="tokens seen", ylabel="validation loss (nats / token)",
             title="loss on held-out documents")
    for i, name in enumerate(rows[-1]["probes"]):
        right.plot(tokens, [100 * row["probes"][name]["accuracy"] for row in rows], "o-", ms=3,
                   color=PALETTE[i % len(PALETTE)], label=name)
    right.set(xlabel="tokens seen", ylabel="exact match (%)", title="held-out probes",
              ylim=(-3, 103))
    right.legend(fontsize=9, ncol=2, loc="upper left")
    return fig


def roofline_plot(chips: dict[str, tuple[float, float]], ops: dict[str, float],
                  figsize: tuple[float, float] = (10, 4.4)):
    """Log-log rooflines: attainable FLOP/s = min(peak, intensity x bandwidth) per chip
    (`chips`: name -> (peak FLOP/s, bytes/s)), ridge points marked and named in the legend,
    and a dotted vertical line per operation at its intensity (`ops`: name -> FLOP/byte)."""
    lowest = min(min(ops.values(), default=1.0), 1.0) / 3
    highest = max(max(ops.values(), default=1.0), max(p / w for p, w in chips.values())) * 4
    grid = np.logspace(np.log10(lowest), np.log10(highest), 300)  # FLOP/byte
    fig, ax = plt.subplots(figsize=figsize)
    for (name, (peak, bandwidth)), color in zip(chips.items(), PALETTE, strict=False):
        ridge = peak / bandwidth
        ax.plot(grid, np.minimum(peak, grid * bandwidth) / 1e12, color=color,
                label=f"{name}: {peak / 1e12:,.0f} TFLOP/s, {bandwidth / 1e12:.2f} TB/s, "
                      f"ridge {ridge:.0f}")
        ax.plot([ridge], [peak / 1e12], "o", color=color)
    for name, intensity in ops.items():
        ax.axvline(intensity, color=GREY, ls=":", lw=1)
        ax.annotate(name, (intensity, 1.0), rotation=90, ha="right", va="bottom", fontsize=10,
                    color=GREY)
    ax.set(xscale="log", yscale="log", xlabel="arithmetic intensity (FLOP per byte moved)",
           ylabel="attainable TFLOP/s")
    ax.legend(loc="upper left", fontsize=10)
    return fig


def bytes_moved_plot(rows: dict[str, tuple[float, float]], unit: str = "S",
                     figsize: tuple[float, float] = (10, 3.6)):
    """Paired horizontal bars per operation: (eager, fused) bytes moved, in multiples of `unit`."""
    fig, ax = plt.subplots(figsize=figsize)
    names = list(rows)[::-1]
    y = np.arange(len(names))
    for offset, index, label, color in ((0.2, 0, "eager (one kernel per op)", ORANGE),
                                        (-0.2, 1, "fused (one kernel)", BLUE)):
        values = [rows[name][index] for name in names]
        bars = ax.barh(y + offset, values, height=0.38, color=color, label=label)
        ax.bar_label(bars, [f"{v:.1f} {unit}" for v in values], padding=3, fontsize=10)
    ax.set_xlim(0, max(max(v) for v in rows.values()) * 1.5)  # room for the legend
    ax.set_yticks(y, names)
    ax.set_xlabel(f"bytes moved, in {unit}")
    ax.grid(axis="y", visible=False)
    ax.legend(loc="center right", fontsize=10)
    return fig
