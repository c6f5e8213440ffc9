"""Architecture diagrams drawn with matplotlib from the library's own objects.

Shapes and names on the pictures are read from a real `auroragpt.model.Transformer` built on
the meta device (no memory, any size), and the rotary-embedding pictures are computed with the
model's own `rope_cos_sin`/`apply_rope`, so a diagram cannot drift from the code it explains.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Circle, FancyBboxPatch

from auroragpt.config import ModelConfig
from auroragpt.model import Transformer, apply_rope, rope_cos_sin
from deckkit.style import BLUE, GREY, LIGHT, ORANGE, PALETTE, TEAL


def _box(ax, x: float, y: float, w: float, h: float, text: str, color: str,
         fontsize: float = 11, text_color: str = "white") -> None:
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, fc=color, ec="none",
                                boxstyle="round,pad=0.02,rounding_size=0.2"))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, color=text_color)


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], color: str = GREY) -> None:
    ax.annotate("", xy=end, xytext=start,
                arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.6,
                            "shrinkA": 0, "shrinkB": 0})


def _path(ax, points: list[tuple[float, float]]) -> None:
    """A polyline through `points` with an arrowhead on its last segment."""
    xs, ys = zip(*points[:-1], strict=True)
    ax.plot(xs, ys, color=GREY, lw=1.6)
    _arrow(ax, points[-2], points[-1])


def _blank_axes(ax, width: float, height: float) -> None:
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")


def _shape(param: torch.Tensor) -> str:
    return "×".join(f"{n:,}" for n in param.shape)


def transformer_diagram(cfg: ModelConfig, title: str = ""):
    """The whole model on top, one TransformerBlock unrolled below, shapes from a meta build."""
    with torch.device("meta"):
        model = Transformer(cfg)
    block = model.layers["0"]
    att, ffn = block.attention, block.feed_forward
    per_layer = sum(p.numel() for p in block.parameters())

    fig, ax = plt.subplots(figsize=(12, 5.6))
    _blank_axes(ax, 20, 9.6)
    top = 8.2
    row = [(1.2, "tokens\n(B, T)", GREY), (4.3, f"tok_embeddings\n{_shape(model.tok_embeddings.weight)}", BLUE),
           (8.6, f"layers.0 … layers.{cfg.n_layers - 1}\nTransformerBlock × {cfg.n_layers}", ORANGE),
           (12.8, "norm\nRMSNorm", TEAL), (15.7, f"output\n{_shape(model.output.weight)}", BLUE),
           (18.7, "logits\n(B, T, V)", GREY)]
    widths = [2.0, 3.0, 4.6, 2.0, 2.6, 2.0]
    for (x, text, color), w in zip(row, widths, strict=True):
        _box(ax, x, top, w, 1.5, text, color)
    for (x0, _, _), (x1, _, _), w0, w1 in zip(row, row[1:], widths, widths[1:], strict=False):
        _arrow(ax, (x0 + w0 / 2, top), (x1 - w1 / 2, top))

    # the unrolled block, on a light panel joined to its box above
    ax.add_patch(FancyBboxPatch((0.4, 0.2), 19.2, 6.1, fc=LIGHT, ec="none",
                                boxstyle="round,pad=0,rounding_size=0.3"))
    for x in (6.3, 10.9):
        ax.plot([x, 3.5 if x < 8 else 16.4], [top - 0.75, 6.3], ls=":", color=ORANGE, lw=1.2)
    ax.text(1.0, 5.8, f"one TransformerBlock ({per_layer / 1e6:,.2f} M parameters)",
            fontsize=11, color=GREY, va="center")
    stream_y = 1.4
    _arrow(ax, (0.8, stream_y), (19.3, stream_y), color=BLUE)
    ax.text(0.9, stream_y - 0.55, f"residual stream (B, T, {cfg.dim:,})", fontsize=10, color=BLUE)
    for x in (10.0, 18.4):
        ax.add_patch(Circle((x, stream_y), 0.32, fc="white", ec=BLUE, lw=1.6))
        ax.text(x, stream_y, "+", ha="center", va="center", fontsize=14, color=BLUE)

    branch_y = 3.9
    kv = f"{cfg.kv_heads} KV heads" if cfg.kv_heads != cfg.n_heads else "MHA"
    _box(ax, 2.9, branch_y, 2.4, 1.2, "attention_norm\nRMSNorm", TEAL, fontsize=10)
    _box(ax, 6.6, branch_y, 4.2, 2.4,
         f"attention\nwq, wo {_shape(att.wq.weight)}\nwk, wv {_shape(att.wk.weight)}\n"
         f"RoPE on q, k · causal\n{cfg.n_heads} heads, {kv}",
         BLUE, fontsize=9.5)
    _box(ax, 12.3, branch_y, 2.2, 1.2, "ffn_norm\nRMSNorm", TEAL, fontsize=10)
    _box(ax, 15.9, branch_y, 4.0, 2.4,
         f"feed_forward (SwiGLU)\nw2(silu(w1 x) · w3 x)\nw1, w3 {_shape(ffn.w1.weight)}\n"
         f"w2 {_shape(ffn.w2.weight)}", BLUE, fontsize=9.5)
    top_of_sum = stream_y + 0.32
    _path(ax, [(1.2, stream_y), (1.2, branch_y), (1.7, branch_y)])
    _path(ax, [(4.1, branch_y), (4.5, branch_y)])
    _path(ax, [(8.7, branch_y), (10.0, branch_y), (10.0, top_of_sum)])
    _path(ax, [(10.6, stream_y), (10.6, branch_y), (11.2, branch_y)])
    _path(ax, [(13.4, branch_y), (13.9, branch_y)])
    _path(ax, [(17.9, branch_y), (18.4, branch_y), (18.4, top_of_sum)])
    if title:
        ax.set_title(title)
    return fig


def gqa_diagram(n_heads: int, kv_options: list[int]):
    """Which key/value head each query head reads, for several `n_kv_heads` (as the model maps
    them: query head i uses key/value head i // (n_heads // n_kv_heads))."""
    fig, axes = plt.subplots(1, len(kv_options), figsize=(12, 3.6))
    for ax, n_kv in zip(axes, kv_options, strict=True):
        _blank_axes(ax, n_heads + 1, 4.2)
        n_rep = n_heads // n_kv
        kv_x = [1 + (j + 0.5) * n_heads / n_kv - 0.5 for j in range(n_kv)]
        for i in range(n_heads):
            color = PALETTE[(i // n_rep) % len(PALETTE)]
            ax.plot([1 + i, kv_x[i // n_rep]], [2.9, 1.1], color=color, lw=1.2, alpha=0.7)
            _box(ax, 1 + i, 3.2, 0.7, 0.6, "q", color, fontsize=9)
        for j, x in enumerate(kv_x):
            _box(ax, x, 0.8, 0.8, 0.6, "kv", PALETTE[j % len(PALETTE)], fontsize=9)
        name = "MHA" if n_kv == n_heads else "MQA" if n_kv == 1 else "GQA"
        ax.set_title(f"{name}: {n_heads} query heads, {n_kv} KV head{'s' if n_kv > 1 else ''}",
                     fontsize=12)
    return fig


def rope_figure(head_dim: int = 64, theta: float = 10000.0, positions: int = 48):
    """Left: two channel pairs of one vector rotated at positions 0..7 (fast and slow pair).
    Right: the score q_m · k_n for all m, n; constant along diagonals, so it depends on m - n."""
    table = rope_cos_sin(head_dim, positions, theta)  # (T, hd/2, 2)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6),
                                      gridspec_kw={"width_ratios": [1, 1.25]})
    ones = torch.ones(1, 8, 1, head_dim)  # (B, T, nh, hd): the same vector at positions 0..7
    rotated = apply_rope(ones, table[:8])[0, :, 0].reshape(8, head_dim // 2, 2)  # (T, hd/2, 2)
    for pair, color, label in [(0, BLUE, "pair 0 (fastest)"),
                               (head_dim // 8, ORANGE, f"pair {head_dim // 8} (slower)")]:
        for m in range(8):
            x, y = rotated[m, pair].tolist()
            left.annotate("", xy=(x, y), xytext=(0, 0),
                          arrowprops={"arrowstyle": "-|>", "color": color, "alpha": 0.35 + m / 12})
            left.text(x * 1.12, y * 1.12, str(m), color=color, fontsize=9, ha="center",
                      va="center")
        left.plot([], [], color=color, label=label)
    left.add_patch(Circle((0, 0), 2 ** 0.5, fill=False, ls=":", ec=GREY))
    left.set(xlim=(-1.8, 1.8), ylim=(-1.8, 1.8), aspect="equal",
             title="one channel pair, rotated by position")
    left.legend(loc="lower left", fontsize=10)
    left.grid(False)

    g = torch.Generator().manual_seed(0)
    q = torch.randn(1, 1, 1, head_dim, generator=g).expand(1, positions, 1, head_dim)
    k = torch.randn(1, 1, 1, head_dim, generator=g).expand(1, positions, 1, head_dim)
    scores = torch.einsum("md,nd->mn", apply_rope(q, table)[0, :, 0], apply_rope(k, table)[0, :, 0])
    image = right.imshow(scores, cmap="RdBu_r", origin="upper")
    right.set(title="score q_m · k_n: constant along diagonals", xlabel="key position n",
              ylabel="query position m")
    right.grid(False)
    fig.colorbar(image, ax=right, shrink=0.8)
    return fig


def token_boundaries(rows: list[tuple[str, list[str]]], max_chars: int = 64):
    """Each row's text split into its tokens, one coloured box per token (spaces shown as ·,
    newlines as ↵), so a reader sees where a tokenizer cuts."""
    fig, ax = plt.subplots(figsize=(12, 0.75 * len(rows) + 0.4))
    char_w, row_h = 1.0, 1.6
    _blank_axes(ax, max_chars * char_w + 12, len(rows) * row_h)
    ax.set_aspect("auto")
    for r, (label, pieces) in enumerate(rows):
        y = (len(rows) - r - 0.5) * row_h
        ax.text(11.5, y, label, ha="right", va="center", fontsize=11, color=GREY)
        x = 12.0
        for i, piece in enumerate(pieces):
            shown = piece.replace(" ", "·").replace("\n", "↵").replace("\t", "→")
            width = max(len(shown), 1) * char_w
            if x + width > 12 + max_chars * char_w:
                ax.text(x + 0.3, y, "…", va="center", fontsize=12, color=GREY)
                break
            ax.add_patch(FancyBboxPatch((x + 0.08, y - 0.55), width - 0.16, 1.1,
                                        fc=(BLUE, ORANGE)[i % 2], alpha=0.22, ec="none",
                                        boxstyle="round,pad=0,rounding_size=0.2"))
            ax.text(x + width / 2, y, shown, ha="center", va="center", fontsize=14,
                    family="monospace")
            x += width
    return fig


def flow_diagram(steps: list[tuple[str, str]], figsize: tuple[float, float] = (12, 2.6)):
    """Boxes left to right joined by arrows: (title, detail) per step."""
    fig, ax = plt.subplots(figsize=figsize)
    width = 20 / len(steps)
    _blank_axes(ax, 20, 5)
    ax.set_aspect("auto")
    colors = [BLUE, TEAL, ORANGE, BLUE, TEAL, ORANGE]
    for i, (title, detail) in enumerate(steps):
        x = width * (i + 0.5)
        _box(ax, x, 2.5, width * 0.8, 4.2, f"{title}\n\n{detail}", colors[i % len(colors)],
             fontsize=10.5)
        if i:
            _arrow(ax, (x - width * 0.6, 2.5), (x - width * 0.4, 2.5))
    return fig


def sample_windows(lengths: list[int], document_order: list[int], sample_starts: list[int],
                   seq_length: int):
    """Documents (in their shuffled order) laid end to end as one token stream, and the GPT
    samples cut from it: sample s covers tokens [start_s, start_s + seq_length] inclusive,
    so consecutive samples share one token (the last target is the next input)."""
    fig, ax = plt.subplots(figsize=(12, 3.2))
    x = 0
    for doc in document_order:
        ax.broken_barh([(x, lengths[doc])], (2.2, 1.2), facecolors=PALETTE[doc % len(PALETTE)],
                       edgecolor="white", linewidth=1.5)
        ax.text(x + lengths[doc] / 2, 2.8, f"doc {doc}", ha="center", va="center",
                fontsize=9, color="white")
        x += lengths[doc]
    for s, start in enumerate(sample_starts):
        y = 1.4 - 0.5 * (s % 2)
        ax.annotate("", xy=(start + seq_length + 1, y), xytext=(start, y),
                    arrowprops={"arrowstyle": "|-|", "color": GREY, "lw": 1.3,
                                "mutation_scale": 4})
        ax.text(start + (seq_length + 1) / 2, y - 0.35, f"sample {s}", ha="center",
                fontsize=9, color=GREY)
    ax.set(xlim=(-1, x + 1), ylim=(0, 3.6), yticks=[], xlabel="token position in the epoch")
    ax.spines["left"].set_visible(False)
    ax.grid(False)
    return fig


def tp_mlp_diagram(cfg: ModelConfig, tp: int):
    """The SwiGLU feed-forward of one block split over `tp` ranks, Megatron style: w1 and w3 by
    output rows (column parallel), w2 by input columns (row parallel), shapes from a meta build."""
    with torch.device("meta"):
        ffn = Transformer(cfg).layers["0"].feed_forward
    hidden, dim = ffn.w1.weight.shape
    if hidden % tp:
        raise ValueError(f"tp={tp} must divide the feed-forward width {hidden}")
    fig, ax = plt.subplots(figsize=(12, 3.6))
    _blank_axes(ax, 24, 7.2)
    ax.set_aspect("auto")
    _box(ax, 2, 3.6, 3, 1.6, f"x\n(tokens, {dim:,})\nwhole on\nevery rank", GREY, fontsize=10)
    _box(ax, 21.8, 3.6, 4, 1.6, f"all-reduce\nsum of the {tp}\npartial (tokens, {dim:,})", ORANGE,
         fontsize=10)
    row_h = 6.4 / tp
    for r in range(tp):
        y = 0.4 + row_h * (tp - r - 0.5)
        color = PALETTE[r % len(PALETTE)]
        _box(ax, 7.5, y, 5.5, row_h * 0.8,
             f"rank {r}: w1, w3 rows {r * hidden // tp:,}-{(r + 1) * hidden // tp - 1:,}\n"
             f"shard {hidden // tp:,}×{dim:,}", color, fontsize=9)
        _box(ax, 14.5, y, 5.5, row_h * 0.8,
             f"rank {r}: w2 columns, same units\nshard {dim:,}×{hidden // tp:,}", color, fontsize=9)
        _arrow(ax, (3.5, 3.6), (4.75, y))
        _arrow(ax, (10.25, y), (11.75, y))
        _arrow(ax, (17.25, y), (19.8, 3.6))
    ax.text(13.2 - 2.2, 7.0, "SiLU(w1 x) · w3 x: local, no communication", ha="center",
            fontsize=10, color=GREY)
    return fig


def pipeline_schedule_figure(stages: int, micro_batches: int,
                             schedules: tuple[str, ...] = ("gpipe", "1f1b")):
    """One timeline per schedule from `auroragpt.parallel.schedule_model` (forward 1 unit,
    backward 2): a bar per operation, labelled with its micro-batch."""
    from auroragpt.parallel import schedule_model

    fig, axes = plt.subplots(len(schedules), 1, figsize=(12, 1.0 + 0.6 * stages * len(schedules)),
                             sharex=True, squeeze=False)
    for ax, schedule in zip(axes[:, 0], schedules, strict=True):
        slots = schedule_model.simulate(stages, micro_batches, schedule)
        for slot in slots:
            ax.barh(slot.stage, slot.end - slot.start, left=slot.start, edgecolor="white",
                    color=BLUE if slot.kind == "F" else TEAL)
            ax.text((slot.start + slot.end) / 2, slot.stage, str(slot.micro_batch), ha="center",
                    va="center", color="white", fontsize=9)
        held = max(schedule_model.held(slots, s) for s in range(stages))
        ax.set(yticks=range(stages), yticklabels=[f"stage {s}" for s in range(stages)],
               title=f"{schedule}: bubble {schedule_model.bubble(slots):.0%}, up to {held} "
                     "micro-batches of activations held")
        ax.invert_yaxis()
        ax.grid(False)
    axes[-1, 0].set_xlabel("time (forward = 1, backward = 2; blue forward, teal backward)")
    return fig
