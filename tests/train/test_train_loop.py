"""Training runs on the debug preset over the real built-in corpora: learning, the metrics
file, and resume equal to an uninterrupted run bit for bit."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from auroragpt.config import ConfigError
from auroragpt.train import RunDirError, train
from auroragpt.train.optim import lr_at

REQUIRED = {"step": int, "loss": float, "lr": float, "grad_norm": float, "tokens_per_s": float,
            "step_time_s": float, "tflops_per_device": float, "tokens_seen": int}


def read_metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def final_weights(run_dir, step):
    return load_file(run_dir / "checkpoints" / f"global_step{step}" / "model.safetensors")


def test_loss_decreases_and_metrics_schema(tmp_path, make_config, debug_data):
    cfg = make_config("train.max_steps=16", "train.eval_every=8",
                       "train.save_every=0")
    summary = train(cfg, tmp_path / "run", progress=False, data=debug_data)
    records = read_metrics(tmp_path / "run")

    # learning: from about ln(vocab) (a uniform guess) to clearly below it
    losses = [r["loss"] for r in records]
    assert abs(losses[0] - math.log(cfg.model.vocab_size)) < 0.5
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.5
    assert summary.last_step == 16 and summary.loss == losses[-1]

    assert [r["step"] for r in records] == list(range(1, 17))
    tokens_per_step = cfg.train.global_batch_size * cfg.model.max_seq_len
    for r in records:
        for key, kind in REQUIRED.items():
            assert isinstance(r[key], kind), (key, r)
        assert r["mfu"] is None  # CPU: no invented peak
        assert r["lr"] == pytest.approx(lr_at(r["step"] - 1, cfg.train))
        assert r["tokens_seen"] == r["step"] * tokens_per_step
        assert r["tflops_per_device"] == pytest.approx(
            r["tokens_per_s"] * summary_flops(cfg) / 1e12)
    assert [r["step"] for r in records if "val_loss" in r] == [8, 16]
    assert records[-1]["val_loss"] < math.log(cfg.model.vocab_size)
    # the final step always leaves a checkpoint, and plots
    assert (tmp_path / "run" / "checkpoints" / "latest").read_text().strip() == "global_step16"
    for plot in ("loss.png", "throughput.png"):
        assert (tmp_path / "run" / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def summary_flops(cfg):
    from auroragpt.config import flops_per_token

    return flops_per_token(cfg.model)


def test_resume_equals_uninterrupted_run(tmp_path, make_config, debug_data):
    """8 steps in one go vs 4 steps, stop, resume for 4 more: weights and losses identical."""
    common = ["train.max_steps=8", "train.save_every=4", "train.eval_every=4",
              "train.sample_every=2", "train.sample_tokens=6"]
    whole = train(make_config(*common), tmp_path / "whole", progress=False,
                  data=debug_data)

    parts = tmp_path / "parts"
    train(make_config(*common, "train.stop_step=4"), parts, progress=False,
          data=debug_data)
    assert (parts / "checkpoints" / "latest").read_text().strip() == "global_step4"
    with open(parts / "metrics.jsonl", "a") as f:  # logged after the checkpoint, then a crash
        f.write(json.dumps({"step": 5, "loss": 0.0}) + "\n")
    resumed = train(make_config(*common), parts, resume=True, progress=False,
                    data=debug_data)

    assert resumed.first_step == 4 and resumed.last_step == whole.last_step == 8
    a, b = final_weights(tmp_path / "whole", 8), final_weights(parts, 8)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    metrics_a, metrics_b = read_metrics(tmp_path / "whole"), read_metrics(parts)
    assert [r["step"] for r in metrics_b] == list(range(1, 9))
    for ra, rb in zip(metrics_a, metrics_b, strict=True):
        assert (ra["loss"], ra["grad_norm"], ra.get("val_loss")) == (
            rb["loss"], rb["grad_norm"], rb.get("val_loss"))
    samples_a = (tmp_path / "whole" / "samples.jsonl").read_text()
    assert samples_a == (parts / "samples.jsonl").read_text()


def test_resume_skips_a_corrupt_checkpoint(tmp_path, make_config, debug_data, capsys):
    """A flipped byte in the newest checkpoint: reported, the previous one is used, and the
    run still ends exactly where an uninterrupted one does."""
    common = ["train.max_steps=6", "train.save_every=2", "train.eval_every=0"]
    train(make_config(*common), tmp_path / "whole", progress=False,
          data=debug_data)
    parts = tmp_path / "parts"
    train(make_config(*common, "train.stop_step=4"), parts, progress=False,
          data=debug_data)
    weights = parts / "checkpoints" / "global_step4" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x10
    weights.write_bytes(bytes(data))

    resumed = train(make_config(*common), parts, resume=True, progress=False,
                    data=debug_data)
    err = capsys.readouterr().err
    assert "global_step4" in err and "corrupt" in err and "falling back to checkpoint global_step2" in err
    assert resumed.first_step == 2
    a, b = final_weights(tmp_path / "whole", 6), final_weights(parts, 6)
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_run_directory_rules(tmp_path, make_config, debug_data):
    cfg = make_config("train.max_steps=2")
    (tmp_path / "empty").mkdir()  # --resume without a checkpoint: the first run of a job script
    assert train(cfg, tmp_path / "empty", resume=True, progress=False,
                 data=debug_data).first_step == 0
    assert (tmp_path / "empty" / "checkpoints" / "global_step2").is_dir()
    train(cfg, tmp_path / "run", progress=False, data=debug_data)
    with pytest.raises(RunDirError, match="already holds a run: pass --resume"):
        train(cfg, tmp_path / "run", progress=False, data=debug_data)
    wider = make_config("train.max_steps=2", "model.dim=96")
    with pytest.raises(ConfigError, match=r"model.dim: 64 -> 96"):
        train(wider, tmp_path / "run", resume=True, progress=False, data=debug_data)


def test_samples_do_not_change_training(tmp_path, make_config, debug_data):
    """Sampling draws from its own generator: a run with samples trains the same weights."""
    common = ["train.max_steps=4", "train.save_every=0", "train.eval_every=0"]
    train(make_config(*common, "train.sample_every=1", "train.sample_tokens=5"),
          tmp_path / "with", progress=False, data=debug_data)
    train(make_config(*common), tmp_path / "without", progress=False, data=debug_data)
    records = [json.loads(line) for line in (tmp_path / "with" / "samples.jsonl").open()]
    assert [r["step"] for r in records] == [s for s in (1, 2, 3, 4)
                                            for _ in debug_data.corpus_names]
    assert {r["corpus"] for r in records} == set(debug_data.corpus_names)
    a, b = final_weights(tmp_path / "with", 4), final_weights(tmp_path / "without", 4)
    assert all(torch.equal(a[name], b[name]) for name in a)
