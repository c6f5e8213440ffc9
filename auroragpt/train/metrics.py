"""Run metrics: the JSONL log, achieved FLOP/s, and MFU against a table of device peaks.

MFU (model FLOPs utilisation, PaLM appendix B) divides the FLOP/s the model's own arithmetic
needs, `flops_per_token * tokens_per_s`, by the device's peak. Recomputation (activation
checkpointing) is not counted, so MFU measures useful work. A CPU has no single honest peak
(it depends on the SIMD units, the clock under load, and the threads given to torch), so on
CPU MFU stays empty unless `train.peak_tflops` supplies one.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from auroragpt.atomic import atomic_write_text


@dataclass(frozen=True)
class DevicePeak:
    match: str  # substring of the device name as torch reports it
    bf16: float  # dense bf16 TFLOP/s (tensor cores / XMX engines), no sparsity
    fp32: float  # fp32 TFLOP/s without tensor cores (no TF32)
    note: str = ""


# Vendor datasheet peaks for one torch device. First match wins, so specific names come first.
DEVICE_PEAKS: tuple[DevicePeak, ...] = (
    DevicePeak("H100 PCIe", 756.0, 51.2, "PCIe card"),
    DevicePeak("H100", 989.4, 66.9, "SXM5"),
    DevicePeak("H200", 989.4, 66.9, "same compute as H100 SXM5"),
    DevicePeak("A100", 312.0, 19.5),
    # NOTE: per tile (stack). Aurora exposes each of a Max 1550's two tiles as its own device;
    # the card's 1024 XMX engines at 1.6 GHz give 838.9 bf16 TFLOP/s and its vector engines
    # 52.4 fp32 TFLOP/s, half of each per tile.
    DevicePeak("Max 1550", 419.4, 26.2, "per tile; two tiles per card"),
)


def device_name(device: torch.device) -> str:
    if device.type in ("cuda", "xpu"):
        return getattr(torch, device.type).get_device_name(device)
    return device.type


def peak_tflops(device: torch.device, dtype: torch.dtype,
                override: float | None = None) -> float | None:
    """Peak TFLOP/s of one device for `dtype`: the override, the table, or None if unknown."""
    if override is not None:
        return override
    if device.type == "cpu":
        return None
    name = device_name(device)
    for peak in DEVICE_PEAKS:
        if peak.match in name:
            return peak.bf16 if dtype == torch.bfloat16 else peak.fp32
    return None


def throughput(tokens: int, seconds: float, flops_per_token: float, n_devices: int,
               peak: float | None) -> dict[str, float | None]:
    """tokens/s over all devices, achieved model TFLOP/s per device, and MFU (None if no peak)."""
    tokens_per_s = tokens / seconds
    tflops_per_device = flops_per_token * tokens_per_s / n_devices / 1e12
    return {
        "tokens_per_s": tokens_per_s,
        "tflops_per_device": tflops_per_device,
        "mfu": tflops_per_device / peak if peak else None,
    }


# ----------------------------------------------------------------------------------------------
# JSONL files
# ----------------------------------------------------------------------------------------------


class JsonlLog:
    """Append-only JSON-lines file, one object per line, flushed after every line.

    With `resume_step`, lines of steps after it (written by the interrupted run after its last
    checkpoint) are dropped first, so the file reads as one uninterrupted run.
    """

    def __init__(self, path: Path, resume_step: int | None = None):
        self.path = Path(path)
        if resume_step is not None:
            truncate_jsonl(self.path, resume_step)
        self._file = open(self.path, "a")

    def write(self, record: dict) -> None:
        self._file.write(json.dumps(_finite(record)) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_jsonl(path: Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            if number == len(lines):  # the last line, cut short by a crash mid-write
                break
            raise ValueError(f"{path}:{number}: not a JSON object ({err})") from None
    return records


def truncate_jsonl(path: Path, max_step: int) -> None:
    """Keep only records with step <= max_step (rewritten atomically)."""
    path = Path(path)
    if not path.is_file():
        return
    kept = [r for r in read_jsonl(path) if r.get("step", 0) <= max_step]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept))


def _finite(record: dict) -> dict:
    """JSON has no NaN/inf: write them as null so every reader parses the file."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in record.items()}
