"""Our Transformer against `transformers.LlamaForCausalLM` holding the same weights.

The weights go through `auroragpt.eval.hf` (names + the q/k RoPE permutation); the reference
is transformers' own Llama implementation, run in fp32 with eager attention.
"""

from __future__ import annotations

import pytest
import torch

from auroragpt.config import ModelConfig
from auroragpt.eval.hf import (
    from_hf_state_dict,
    half_to_interleaved,
    hf_config_dict,
    interleaved_to_half,
    model_config_from_hf,
    to_hf_state_dict,
)
from auroragpt.generation import generate_tokens
from auroragpt.model import KVCache, build_model

transformers = pytest.importorskip("transformers")

CONFIGS = {
    "gqa-untied-w32": ModelConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=97,
                                  multiple_of=8, max_seq_len=32, rope_theta=500.0,
                                  norm_eps=1e-6),
    "gqa-tied-w64": ModelConfig(dim=64, n_layers=2, n_heads=8, n_kv_heads=2, vocab_size=128,
                                multiple_of=16, max_seq_len=32, tie_embeddings=True),
    "mha-tied-w32": ModelConfig(dim=32, n_layers=2, n_heads=2, vocab_size=64, multiple_of=8,
                                max_seq_len=16, tie_embeddings=True, norm_eps=1e-5),
}


def _randomised_model(cfg: ModelConfig, seed: int = 0):
    """Our model with every parameter (norm gains too) drawn at random, so no map is trivial."""
    torch.manual_seed(seed)
    model = build_model(cfg)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.uniform_(0.5, 1.5)
            else:
                param.normal_(0.0, 0.2)
    return model.eval()


def _hf_model(model) -> torch.nn.Module:
    cfg = model.config
    hf_cfg = transformers.LlamaConfig(**hf_config_dict(cfg, bos_id=1, eos_id=2, pad_id=None))
    hf_cfg._attn_implementation = "eager"
    hf = transformers.LlamaForCausalLM(hf_cfg).float().eval()
    result = hf.load_state_dict(to_hf_state_dict(model.state_dict(), cfg), strict=False)
    # only the tied lm_head (shared with the embeddings) may be absent
    assert not result.unexpected_keys
    assert set(result.missing_keys) <= ({"lm_head.weight"} if cfg.tie_embeddings else set())
    if cfg.tie_embeddings:
        assert hf.lm_head.weight.data_ptr() == hf.model.embed_tokens.weight.data_ptr()
    return hf


@pytest.mark.parametrize("name", CONFIGS)
def test_logits_equal_transformers(name):
    cfg = CONFIGS[name]
    model = _randomised_model(cfg)
    hf = _hf_model(model)
    tokens = torch.randint(0, cfg.vocab_size, (3, cfg.max_seq_len), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model(tokens)
        theirs = hf(input_ids=tokens).logits
    assert ours.shape == theirs.shape == (3, cfg.max_seq_len, cfg.vocab_size)
    assert ours.abs().max() > 1.0  # the comparison is not between near-zero tensors
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["gqa-untied-w32", "gqa-tied-w64"])
def test_cached_decoding_matches_transformers_full_forward(name):
    """Prefill then one token at a time through our KV cache == transformers on the whole prefix."""
    cfg = CONFIGS[name]
    model = _randomised_model(cfg, seed=3)
    hf = _hf_model(model)
    tokens = torch.randint(0, cfg.vocab_size, (2, 12), generator=torch.Generator().manual_seed(4))
    cache = KVCache.allocate(model, batch_size=2, max_len=12)
    with torch.no_grad():
        steps = [model(tokens[:, :5], cache=cache, positions=torch.arange(5))]
        steps += [model(tokens[:, p:p + 1], cache=cache, positions=torch.tensor([p]))
                  for p in range(5, 12)]
        theirs = hf(input_ids=tokens).logits
    torch.testing.assert_close(torch.cat(steps, dim=1), theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", CONFIGS)
def test_state_dict_round_trip_is_exact(name):
    cfg = CONFIGS[name]
    state = _randomised_model(cfg).state_dict()
    back = from_hf_state_dict(to_hf_state_dict(state, cfg), cfg)
    expected = {k: v for k, v in state.items() if not (cfg.tie_embeddings and k == "output.weight")}
    assert back.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(back[key], value), key


def test_rope_permutation_moves_pairs_to_halves():
    """Row 2i+j of every head goes to row i + j*hd/2 (hd = 4, two heads, written out by hand)."""
    rows = torch.arange(8.0)[:, None]  # (nh * hd, 1): each row labelled by its index
    half = interleaved_to_half(rows, n_heads=2)
    assert half.flatten().tolist() == [0, 2, 1, 3, 4, 6, 5, 7]
    assert torch.equal(half_to_interleaved(half, n_heads=2), rows)


def test_config_round_trips_through_llama_config():
    cfg = CONFIGS["gqa-untied-w32"]
    hf_cfg = transformers.LlamaConfig(**hf_config_dict(cfg, 1, 2, 0))
    back = model_config_from_hf(hf_cfg.to_dict())
    assert back.ffn_hidden_dim == cfg.ffn_hidden_dim == hf_cfg.intermediate_size
    for field in ("dim", "n_layers", "n_heads", "kv_heads", "vocab_size", "norm_eps",
                  "rope_theta", "max_seq_len", "tie_embeddings", "head_dim"):
        assert getattr(back, field) == getattr(cfg, field), field
    assert (hf_cfg.bos_token_id, hf_cfg.eos_token_id, hf_cfg.pad_token_id) == (1, 2, 0)


@pytest.mark.parametrize("hidden, intermediate, heads, kv", [
    (4096, 11008, 32, 32),  # Llama-2-7B (published config.json numbers)
    (4096, 14336, 32, 8),  # Llama-3-8B
    (8192, 28672, 64, 8),  # Llama-2-70B
    (48, 100, 4, 4),  # an odd size only the fallback rounding reaches
    (48, 300, 4, 4),  # larger than any usual rounding of 8 * 48 / 3
])
def test_intermediate_size_recovered(hidden, intermediate, heads, kv):
    cfg = model_config_from_hf({
        "hidden_size": hidden, "intermediate_size": intermediate, "num_attention_heads": heads,
        "num_key_value_heads": kv, "num_hidden_layers": 1, "vocab_size": 32000,
        "max_position_embeddings": 4096,
    })
    assert cfg.ffn_hidden_dim == intermediate


@pytest.mark.parametrize("field, value", [
    ("hidden_act", "gelu"), ("attention_bias", True),
    ("rope_scaling", {"rope_type": "llama3", "factor": 8.0}), ("head_dim", 8),
])
def test_unsupported_llama_variants_are_refused(field, value):
    hf = {"hidden_size": 64, "intermediate_size": 176, "num_attention_heads": 4,
          "num_hidden_layers": 1, "vocab_size": 10, "max_position_embeddings": 8, field: value}
    with pytest.raises(ValueError, match=field.split("_")[0] if field != "rope_scaling" else "rope"):
        model_config_from_hf(hf, source="x/config.json")


@pytest.mark.parametrize("compile", [False, True])
def test_greedy_generation_equals_transformers_generate(compile):
    """Our KV-cached generation (eager, and compiled with a static cache) picks the tokens of
    transformers' own `generate`, end-of-sequence stopping switched off."""
    cfg = CONFIGS["gqa-untied-w32"]
    model = _randomised_model(cfg, seed=5)
    hf = _hf_model(model)
    hf.generation_config.eos_token_id = None
    prompt = torch.randint(0, cfg.vocab_size, (2, 6), generator=torch.Generator().manual_seed(6))
    ours = generate_tokens(model, prompt, 20, temperature=0, compile=compile)
    with torch.no_grad():
        theirs = hf.generate(prompt, max_new_tokens=20, do_sample=False, pad_token_id=0)
    assert torch.equal(ours, theirs)
