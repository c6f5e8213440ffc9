"""`train.log_to`: TensorBoard and W&B receive what metrics.jsonl records, read back with
TensorBoard's own EventAccumulator and from W&B's offline run file."""

from __future__ import annotations

import json
import struct

import pytest

from auroragpt.config import ConfigError
from auroragpt.train import train
from auroragpt.train.tracking import wandb_mode


def _metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _wandb_records(path):
    """Protobuf records of a W&B `.wandb` file: a ':W&B' header, then LevelDB's log format
    (32 KiB blocks; per fragment a crc32 (4), length (2), type (1: full, 2-4: first/middle/
    last), then the bytes). Written here, so the test does not read W&B's file with W&B."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert struct.unpack("<4sHB", data[:7]) == (b":W&B", 0xBEE1, 0)
    block, pos, pending, records = 32768, 7, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def _wandb_history(run_dir) -> dict[int, dict]:
    (path,) = (run_dir / "wandb").glob("offline-run-*/run-*.wandb")
    history = {}
    for record in _wandb_records(path):
        if record.WhichOneof("record_type") == "history":
            row = {item.key or "/".join(item.nested_key): json.loads(item.value_json)
                   for item in record.history.item}
            history[row["_step"]] = row
    return history


def test_tensorboard_and_wandb_get_the_metrics_lines(tmp_path, make_config, debug_data,
                                                     monkeypatch):
    pytest.importorskip("tensorboard")
    pytest.importorskip("wandb")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for name in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    cfg = make_config("train.max_steps=4", "train.eval_every=2", "train.save_every=0",
                      "train.log_to=tensorboard, wandb")
    run = tmp_path / "run"
    train(cfg, run, progress=False, data=debug_data)
    records = _metrics(run)
    assert [r["step"] for r in records] == [1, 2, 3, 4]

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    for key in ("loss", "lr", "grad_norm", "tokens_per_s", "val_loss"):
        logged = [(r["step"], r[key]) for r in records if key in r]
        read = [(e.step, e.value) for e in events.Scalars(key)]
        assert [s for s, _ in read] == [s for s, _ in logged], key
        assert [v for _, v in read] == pytest.approx([v for _, v in logged], rel=1e-6), key

    history = _wandb_history(run)  # offline: no network, no prompt, no key needed
    assert sorted(history) == [1, 2, 3, 4]
    for r in records:
        for key in ("loss", "lr", "tokens_seen"):
            assert history[r["step"]][key] == pytest.approx(r[key], rel=1e-12)
        assert history[r["step"]].get("val_loss") == r.get("val_loss")


def test_wandb_online_without_a_key_falls_back_to_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    mode, why = wandb_mode()
    assert mode == "offline" and "no W&B API key" in why
    (tmp_path / "netrc").write_text("machine api.wandb.ai login user password k\n")
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    assert wandb_mode() == ("online", None)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wandb_mode() == ("disabled", None)


@pytest.mark.parametrize("value,targets", [("jsonl", ["jsonl"]), (" tensorboard ", ["jsonl", "tensorboard"]),
                                           ("wandb,tensorboard,wandb",
                                            ["jsonl", "wandb", "tensorboard"])])
def test_log_to_values(make_config, value, targets):
    assert make_config(f"train.log_to={value}").train.log_targets() == targets


def test_unknown_log_target_is_named(make_config):
    with pytest.raises(ConfigError, match=r"train.log_to='tensorboard,mlflow': unknown mlflow"):
        make_config("train.log_to=tensorboard,mlflow")
