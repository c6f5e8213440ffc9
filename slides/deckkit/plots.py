"""Plots of numbers (published and measured) shared by several decks."""

from __future__ import annotations

import matplotlib.pyplot as plt

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
