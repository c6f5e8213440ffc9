"""The decks' helpers: diagrams show the model's real shapes, benchmark rows are read right.

References: the published Llama-2-7B shapes (hidden 4096, 32 heads of 128, 8 KV heads, SwiGLU
hidden 11008, vocabulary 32000) and hand-written benchmark rows.
"""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

from deckkit import diagrams  # noqa: E402
from deckkit.measured import index_build_benchmark  # noqa: E402

from auroragpt.config import get_preset  # noqa: E402


def _texts(fig) -> str:
    return "\n".join(t.get_text() for ax in fig.axes for t in ax.texts)


def test_transformer_diagram_shows_the_7b_shapes():
    text = _texts(diagrams.transformer_diagram(get_preset("7b").model))
    assert "32,000×4,096" in text  # tok_embeddings and output
    assert "wq, wo 4,096×4,096" in text
    assert "wk, wv 1,024×4,096" in text  # 8 KV heads x 128
    assert "w1, w3 11,008×4,096" in text and "w2 4,096×11,008" in text
    assert "TransformerBlock × 32" in text
    # per block: 2 * 4096^2 + 2 * 1024 * 4096 (attention) + 3 * 4096 * 11008 (SwiGLU) + 2 * 4096
    per_block = 2 * 4096**2 + 2 * 1024 * 4096 + 3 * 4096 * 11008 + 2 * 4096
    assert f"({per_block / 1e6:,.2f} M parameters)" in text


def test_gqa_diagram_groups_query_heads_as_the_model_repeats_kv():
    fig = diagrams.gqa_diagram(8, [8, 2, 1])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["MHA: 8 query heads, 8 KV heads", "GQA: 8 query heads, 2 KV heads",
                      "MQA: 8 query heads, 1 KV head"]
    # GQA panel: query head i is joined to KV head i // 4 (repeat_interleave order), so the
    # lines of heads 0-3 end at the first KV box and heads 4-7 at the second
    gqa = fig.axes[1]
    ends = sorted({round(line.get_xdata()[1], 3) for line in gqa.lines})
    starts_by_end = {end: sorted(round(line.get_xdata()[0]) for line in gqa.lines
                                 if round(line.get_xdata()[1], 3) == end) for end in ends}
    assert list(starts_by_end.values()) == [[1, 2, 3, 4], [5, 6, 7, 8]]


def _row(fraction: float, ours_cold: float) -> dict:
    return {"fraction": fraction, "files": 2419, "workers": 2,
            "ours_cold": {"build_s": ours_cold}, "ours_warm": {"build_s": 0.5},
            "megatron_cold": {"build_s": 9.0}}


def test_index_benchmark_reads_the_largest_latest_row(tmp_path):
    path = tmp_path / "data_index.jsonl"
    assert index_build_benchmark(path) is None
    rows = [_row(0.01, 4.0), _row(0.001, 1.0), _row(0.01, 3.0)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    bench = index_build_benchmark(path)
    assert bench.fraction == 0.01 and bench.files == 2419 and bench.workers == 2
    assert bench.seconds == {"megatron-core, cold (measured here)": 9.0,
                             "auroragpt, cold (measured here)": 3.0,
                             "auroragpt, cached (measured here)": 0.5}


def test_roofline_plot_draws_min_of_peak_and_bandwidth_and_marks_the_ridge():
    from deckkit.plots import roofline_plot

    fig = roofline_plot({"chip": (400e12, 2e12)}, {"norm": 1.0, "matmul": 1000.0})
    ax = fig.axes[0]
    x, y = ax.lines[0].get_xdata(), ax.lines[0].get_ydata()
    for i in (0, len(x) // 2, len(x) - 1):  # against the formula, in TFLOP/s
        assert abs(y[i] - min(400.0, x[i] * 2.0)) < 1e-9 * max(1.0, y[i])
    assert x[0] < 1.0 and x[-1] > 1000.0  # the ops' intensities are inside the plotted range
    assert "ridge 200" in ax.get_legend().get_texts()[0].get_text()  # 400 TFLOP/s / 2 TB/s
    assert (ax.lines[1].get_xdata()[0], ax.lines[1].get_ydata()[0]) == (200.0, 400.0)
    assert {"norm", "matmul"} <= set(_texts(fig).splitlines())


def test_bytes_moved_plot_labels_each_bar_with_its_value():
    from deckkit.plots import bytes_moved_plot

    fig = bytes_moved_plot({"RMSNorm": (7.0, 2.0), "SwiGLU": (5.0, 3.0)})
    assert sorted(p.get_width() for p in fig.axes[0].patches) == [2.0, 3.0, 5.0, 7.0]
    assert {"7.0 S", "2.0 S", "5.0 S", "3.0 S"} <= set(_texts(fig).splitlines())
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["SwiGLU", "RMSNorm"]


def test_tp_mlp_diagram_splits_the_7b_feed_forward_over_4_ranks():
    text = _texts(diagrams.tp_mlp_diagram(get_preset("7b").model, 4))
    # SwiGLU hidden 11008 = 4 x 2752 (Llama-2-7B)
    assert "shard 2,752×4,096" in text and "shard 4,096×2,752" in text
    assert "rank 3: w1, w3 rows 8,256-11,007" in text


def test_pipeline_figure_draws_every_operation_and_the_formula_bubble():
    fig = diagrams.pipeline_schedule_figure(4, 8)
    for ax in fig.axes:
        assert len(ax.patches) == 2 * 4 * 8  # a forward and a backward per stage and micro-batch
        assert max(p.get_x() + p.get_width() for p in ax.patches) == (8 + 4 - 1) * 3
        assert f"bubble {3 / 11:.0%}" in ax.get_title()  # (p - 1) / (m + p - 1)
    assert "up to 8 micro-batches" in fig.axes[0].get_title()  # GPipe holds all m
    assert "up to 4 micro-batches" in fig.axes[1].get_title()  # 1F1B at most p
