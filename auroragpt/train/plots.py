"""Loss and throughput plots of a run, drawn from its metrics.jsonl."""

from __future__ import annotations

from pathlib import Path

from auroragpt.atomic import atomic_path
from auroragpt.train.metrics import read_jsonl

LOSS_PLOT = "loss.png"
THROUGHPUT_PLOT = "throughput.png"


def plot_run(run_dir: Path) -> list[Path]:
    """Write RUN_DIR/loss.png and RUN_DIR/throughput.png (atomically); return their paths."""
    # NOTE: a bare Figure draws to files without touching pyplot's global backend, so
    # notebooks keep their inline figures after training or evaluation.
    from matplotlib.figure import Figure

    run_dir = Path(run_dir)
    records = read_jsonl(run_dir / "metrics.jsonl")
    if not records:
        return []
    written = []

    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    train = [r for r in records if r.get("loss") is not None]
    ax.plot([r["step"] for r in train], [r["loss"] for r in train], label="train")
    val = [r for r in records if r.get("val_loss") is not None]
    if val:
        ax.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    last = records[-1]
    if last.get("tokens_seen") and last["step"]:
        tokens_per_step = last["tokens_seen"] / last["step"]
        top = ax.secondary_xaxis("top", functions=(lambda s: s * tokens_per_step,
                                                   lambda t: t / tokens_per_step))
        top.set_xlabel("tokens")
    ax.grid(alpha=0.3)
    ax.legend()
    written.append(_save(fig, run_dir / LOSS_PLOT))

    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    timed = [r for r in records if r.get("tokens_per_s")]
    tokens_per_s = [r["tokens_per_s"] for r in timed]
    ax.plot([r["step"] for r in timed], tokens_per_s)
    ax.set_xlabel("step")
    ax.set_ylabel("tokens/s (all devices)")
    if timed and timed[-1].get("tflops_per_device"):
        # TFLOP/s per device is tokens/s times a constant: a second scale, not a second line
        per_token = timed[-1]["tflops_per_device"] / timed[-1]["tokens_per_s"]
        right = ax.secondary_yaxis("right", functions=(lambda t: t * per_token,
                                                       lambda f: f / per_token))
        right.set_ylabel("model TFLOP/s per device")
    mfus = [r["mfu"] for r in timed if r.get("mfu") is not None]
    mean = sum(tokens_per_s) / len(tokens_per_s) if tokens_per_s else 0.0
    mfu = f"mean MFU {100 * sum(mfus) / len(mfus):.1f}%" if mfus else "MFU: no device peak known"
    ax.set_title(f"mean {mean:,.0f} tokens/s; {mfu}")
    ax.grid(alpha=0.3)
    written.append(_save(fig, run_dir / THROUGHPUT_PLOT))
    return written


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    return path
