"""`auroragpt train` and `auroragpt generate` as a user runs them."""

from __future__ import annotations

import pytest
import torch

from auroragpt.checkpoint import load_checkpoint
from auroragpt.cli import main
from auroragpt.config import load_config
from auroragpt.generation import generate_tokens
from auroragpt.model import build_model
from auroragpt.tokenizer import Tokenizer


@pytest.mark.parametrize("override,message", [
    ("train.max_stepz=3", "unknown key 'train.max_stepz'; valid keys in train:"),
    ("train.max_steps=abc", "train.max_steps='abc': expected int"),
    ("train.max_steps", "expected KEY.PATH=VALUE"),
    ("train.stop_step=99", "train.stop_step=99 must lie in [1, train.max_steps=20]"),
    ("model.dim=65", "model.dim=65 must be divisible by model.n_heads=4"),
])
def test_bad_overrides_fail_clearly(tmp_path, capsys, override, message):
    code = main(["train", "--preset", "debug", "--run-dir", str(tmp_path / "run"), override])
    assert code == 2
    err = capsys.readouterr().err
    assert "auroragpt train: error:" in err and message in err
    assert not (tmp_path / "run").exists()  # nothing was started


def test_unknown_preset_and_missing_file(tmp_path, capsys):
    assert main(["train", "--preset", "huge", "--run-dir", str(tmp_path / "r")]) == 2
    assert "unknown preset 'huge'" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: config file not found" in capsys.readouterr().err


def test_train_from_file_with_overrides_then_generate(tmp_path, data_cache, capsys):
    """A TOML file on a preset, command-line overrides on top, the effective config saved;
    then `generate` streams what the model's own uncached greedy decoding gives."""
    config = tmp_path / "run.toml"
    config.write_text(f'preset = "debug"\n[train]\nmax_steps = 6\nlr = 0.002\n'
                      f'[data]\ncache_dir = "{data_cache}"\n')
    run_dir = tmp_path / "run"
    code = main(["train", "--config", str(config), "--run-dir", str(run_dir), "--no-progress",
                 "train.save_every=3", "train.sample_every=3", "train.sample_tokens=4",
                 "model.n_layers=1"])
    assert code == 0
    out = capsys.readouterr().out
    assert "--- samples at step 6 ---" in out and "finished step 6" in out

    saved = load_config(run_dir / "config.yaml")
    assert (saved.train.max_steps, saved.train.lr, saved.model.n_layers) == (6, 0.002, 1)
    assert saved.train.save_every == 3 and saved.data.cache_dir == str(data_cache)
    for name in ("metrics.jsonl", "samples.jsonl", "loss.png", "throughput.png",
                 "tokenizer.model", "checkpoints/global_step3/model.safetensors",
                 "checkpoints/global_step6/trainer_state.pt"):
        assert (run_dir / name).is_file(), name

    code = main(["generate", "--ckpt", str(run_dir), "--prompt", "def ", "--temperature", "0",
                 "--max-new-tokens", "12"])
    assert code == 0
    streamed = capsys.readouterr().out

    # reference: the same weights, decoded greedily without the KV cache
    tokenizer = Tokenizer.load(run_dir / "tokenizer.model")
    model = build_model(saved.model)
    model.load_state_dict(load_checkpoint(run_dir / "checkpoints" / "global_step6").model_state)
    ids = tokenizer.encode("def ")
    prompt = torch.tensor([[tokenizer.eos_id, *ids]])
    new = generate_tokens(model, prompt, 12, temperature=0, use_cache=False)
    new = new[0, prompt.shape[1]:].tolist()
    if tokenizer.eos_id in new:
        new = new[:new.index(tokenizer.eos_id)]
    assert streamed == "def " + tokenizer.decode(ids + new)[len(tokenizer.decode(ids)):] + "\n"


def test_generate_reports_a_missing_checkpoint(tmp_path, capsys):
    assert main(["generate", "--ckpt", str(tmp_path), "--prompt", "x"]) == 2
    assert "no checkpoint found" in capsys.readouterr().err


def test_data_cache_is_resolved_against_the_launch_directory(tmp_path, monkeypatch):
    """A relative data.cache_dir is saved absolute, so eval or resume from elsewhere finds it."""
    from auroragpt.train import resolve_config

    monkeypatch.chdir(tmp_path)
    cfg = resolve_config(overrides=["data.cache_dir=rel/cache"])
    assert cfg.data.cache_dir == str(tmp_path / "rel" / "cache")
    home = resolve_config(overrides=["data.cache_dir=~/c"])
    assert home.data.cache_dir == str(tmp_path.home() / "c")
