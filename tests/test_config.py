"""Configs: presets parse, the parameter formula matches built models, bad values are refused."""

import math

import pytest
import torch

from auroragpt.config import (
    PRESETS,
    Config,
    ConfigError,
    ModelConfig,
    apply_overrides,
    count_parameters,
    flops_per_token,
    get_preset,
    load_config,
    save_config,
)
from auroragpt.model import Transformer


@pytest.mark.parametrize("name", list(PRESETS))
def test_parameter_formula_matches_model_built_on_meta(name):
    cfg = get_preset(name)
    with torch.device("meta"):
        model = Transformer(cfg.model)
    counted = sum(p.numel() for p in model.parameters())  # tied weights are counted once
    assert count_parameters(cfg.model) == counted


def test_7b_preset_is_the_auroragpt_7b_shape():
    m = get_preset("7b").model
    assert (m.n_layers, m.dim, m.n_heads, m.n_kv_heads, m.ffn_hidden_dim, m.max_seq_len) == (
        32, 4096, 32, 8, 11008, 4096)


def test_ffn_hidden_dim_follows_meta_rounding():
    # Llama-2-7B: 4 * 4096 * 2/3 = 10922.67 -> 10922 -> next multiple of 256 = 11008
    assert ModelConfig(dim=4096, n_heads=32, multiple_of=256).ffn_hidden_dim == 11008
    # Llama-3-70B: int(1.3 * 21845) = 28398 -> next multiple of 4096 = 28672
    assert ModelConfig(dim=8192, n_heads=64, multiple_of=4096,
                       ffn_dim_multiplier=1.3).ffn_hidden_dim == 28672


def test_flops_per_token_against_hand_count():
    m = ModelConfig(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=100,
                    multiple_of=16, max_seq_len=32)
    hd, kv = 16, 2
    per_layer = 64 * 64 * 2 + 64 * kv * hd * 2 + 3 * 64 * m.ffn_hidden_dim
    matmul = 2 * per_layer + 100 * 64  # output projection; embedding lookup is no matmul
    assert flops_per_token(m) == 6 * matmul + 12 * 2 * 64 * 32
    # tying removes a parameter but not the output matmul
    tied = ModelConfig(**{**m.__dict__, "tie_embeddings": True})
    assert flops_per_token(tied) == flops_per_token(m)


def test_overrides_set_typed_values():
    cfg = apply_overrides(get_preset("debug"), [
        "train.max_steps=7", "train.lr=1e-3", "model.n_kv_heads=none", "train.compile=true",
        "data.builtin.stdlib=0.5", "name=x", "train.peak_tflops=100"])
    assert cfg.train.max_steps == 7 and cfg.train.lr == 1e-3 and cfg.name == "x"
    assert cfg.model.n_kv_heads is None and cfg.train.compile is True
    assert cfg.data.builtin["stdlib"] == 0.5
    assert isinstance(cfg.train.peak_tflops, float)


@pytest.mark.parametrize("override, message", [
    ("train.max_stepz=3", "unknown key 'train.max_stepz'"),
    ("modle.dim=3", "unknown key 'modle.dim'"),
    ("train.max_steps=abc", "expected int"),
    ("train.max_steps=0", "train.max_steps=0 must be > 0"),
    ("model.n_heads=3", "divisible by model.n_heads=3"),
    ("model.n_kv_heads=3", "positive divisor"),
    ("train.dtype=fp8", "expected one of auto, fp32, bf16"),
    ("parallel.strategy=zero4", "expected one of"),
    ("train.micro_batch_size=3", "multiple of train.micro_batch_size=3"),
    ("train.max_steps", "expected KEY.PATH=VALUE"),
    ("data.split=1,2", "three non-negative numbers"),
    ("train.lr=nan", "nan"),
])
def test_bad_overrides_fail_with_clear_message(override, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        apply_overrides(get_preset("debug"), [override])


def test_unknown_preset_lists_choices():
    with pytest.raises(ConfigError, match="debug, tiny, 125m, 1b, 7b, 70b"):
        get_preset("3b")


@pytest.mark.parametrize("suffix", [".yaml", ".toml", ".json"])
def test_config_files_roundtrip_and_preset_key(tmp_path, suffix):
    path = tmp_path / f"run{suffix}"
    if suffix == ".toml":
        path.write_text('preset = "debug"\n[train]\nmax_steps = 3\n[model]\ndim = 32\n')
    elif suffix == ".json":
        path.write_text('{"preset": "debug", "train": {"max_steps": 3}, "model": {"dim": 32}}')
    else:
        path.write_text("preset: debug\ntrain:\n  max_steps: 3\nmodel:\n  dim: 32\n")
    cfg = load_config(path)
    assert cfg.train.max_steps == 3 and cfg.model.dim == 32
    assert cfg.model.n_layers == get_preset("debug").model.n_layers  # rest from the preset
    saved = tmp_path / "effective.yaml"
    save_config(cfg, saved)
    assert load_config(saved).to_dict() == cfg.to_dict()


def test_bad_config_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  max_steps: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: cannot parse"):
        load_config(path)
    path.write_text("train:\n  warmup: 3\n")
    with pytest.raises(ConfigError, match="bad.yaml: unknown key 'train.warmup'"):
        load_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_default_config_is_valid_and_head_dim_even():
    cfg = Config().validate()
    assert cfg.model.head_dim % 2 == 0 and math.isclose(sum(cfg.data.builtin.values()), 1.0)
