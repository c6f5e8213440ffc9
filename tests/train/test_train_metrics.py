"""Throughput and MFU arithmetic, the device peak table, JSONL logs."""

from __future__ import annotations

import json
import math

import pytest
import torch

from auroragpt.config import ModelConfig, flops_per_token
from auroragpt.train import metrics


def test_throughput_arithmetic():
    # 1e6 tokens in 2 s on 4 devices at 6e9 FLOP/token: 3e15 FLOP/s in all, 0.75e15 per device
    rates = metrics.throughput(1_000_000, 2.0, 6e9, 4, peak=1000.0)
    assert rates["tokens_per_s"] == pytest.approx(5e5)
    assert rates["tflops_per_device"] == pytest.approx(750.0)
    assert rates["mfu"] == pytest.approx(0.75)
    assert metrics.throughput(10, 1.0, 1.0, 1, peak=None)["mfu"] is None


def test_flops_per_token_counts_six_per_matmul_weight():
    cfg = ModelConfig(dim=64, n_layers=2, n_heads=4, vocab_size=100, multiple_of=16,
                      max_seq_len=32)
    ffn = cfg.ffn_hidden_dim
    matmul_weights = 2 * (4 * 64 * 64 + 3 * 64 * ffn) + 64 * 100  # blocks + output
    assert flops_per_token(cfg) == 6 * matmul_weights + 12 * 2 * 64 * 32


@pytest.mark.parametrize("name,dtype,expected", [
    ("NVIDIA H100 80GB HBM3", torch.bfloat16, 989.4),
    ("NVIDIA H100 80GB HBM3", torch.float32, 66.9),
    ("NVIDIA H100 PCIe", torch.bfloat16, 756.0),
    ("NVIDIA A100-SXM4-80GB", torch.bfloat16, 312.0),
    ("NVIDIA A100-SXM4-40GB", torch.float32, 19.5),
    ("Intel(R) Data Center GPU Max 1550", torch.bfloat16, 419.4),  # one tile
    ("Intel(R) Data Center GPU Max 1550", torch.float32, 26.2),
    ("NVIDIA GeForce RTX 3090", torch.bfloat16, None),  # not in the table: no MFU
])
def test_peak_table(monkeypatch, name, dtype, expected):
    monkeypatch.setattr(metrics, "device_name", lambda device: name)
    device = torch.device("xpu" if "Intel" in name else "cuda")
    assert metrics.peak_tflops(device, dtype) == expected


def test_cpu_has_no_peak_unless_given():
    assert metrics.peak_tflops(torch.device("cpu"), torch.float32) is None
    assert metrics.peak_tflops(torch.device("cpu"), torch.float32, override=2.5) == 2.5


def test_jsonl_resume_truncates_later_steps(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = metrics.JsonlLog(path)
    for step in range(1, 6):
        log.write({"step": step, "loss": 1.0 / step})
    log.close()
    with open(path, "a") as f:
        f.write('{"step": 6, "lo')  # a line cut short by a crash
    log = metrics.JsonlLog(path, resume_step=3)
    log.write({"step": 4, "loss": math.nan})
    log.close()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert records[-1]["loss"] is None  # NaN is written as null: the file stays valid JSON
