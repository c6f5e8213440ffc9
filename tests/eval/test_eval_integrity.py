"""`eval`, `export-hf` and `generate` read a checkpoint only after the same verification as
`--resume`: a flipped byte or non-finite weights are refused, exit status 2, nothing written."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from auroragpt.checkpoint.layout import write_checksums
from auroragpt.cli import main

FAST = ["--no-val", "--probes", "2", "--max-new-tokens", "4", "--no-progress", "--device", "cpu"]


def _flip_byte(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _commands(run, out):
    ckpt = run / "checkpoints" / "global_step3"
    return {
        "eval": ["eval", str(run), *FAST],
        "export-hf": ["export-hf", str(ckpt), str(out)],
        "generate": ["generate", "--ckpt", str(ckpt), "--prompt", "a", "--max-new-tokens", "2"],
    }


@pytest.mark.parametrize("command", ["eval", "export-hf", "generate"])
def test_bit_flip_is_refused(make_run, tmp_path, capsys, command):
    run = make_run(steps=(3,))
    _flip_byte(run / "checkpoints" / "global_step3" / "model.safetensors")
    assert main(_commands(run, tmp_path / "hf")[command]) == 2
    err = capsys.readouterr().err
    assert "model.safetensors: sha256" in err and "corrupt" in err
    assert "Traceback" not in err
    assert not (tmp_path / "hf").exists() and not (run / "eval" / "results.jsonl").exists()


@pytest.mark.parametrize("command", ["eval", "export-hf", "generate"])
def test_nan_weights_are_refused_even_with_valid_checksums(make_run, tmp_path, capsys, command):
    run = make_run(steps=(3,))
    ckpt = run / "checkpoints" / "global_step3"
    state = load_file(ckpt / "model.safetensors")
    state["layers.0.attention.wq.weight"][0, 0] = float("nan")
    save_file(state, ckpt / "model.safetensors")
    write_checksums(ckpt)
    assert main(_commands(run, tmp_path / "hf")[command]) == 2
    err = capsys.readouterr().err
    assert "layers.0.attention.wq.weight holds NaN" in err
    assert not (tmp_path / "hf").exists()
    assert torch.isnan(load_file(ckpt / "model.safetensors")["layers.0.attention.wq.weight"]).any()
