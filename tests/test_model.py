"""The model against independent references: complex RoPE, float64 RMSNorm, MHA, recomputation."""

import pytest
import torch

from auroragpt.config import ModelConfig, get_preset
from auroragpt.model import KVCache, RMSNorm, Transformer, apply_rope, build_model, rope_cos_sin


def tiny_config(**overrides) -> ModelConfig:
    base = dict(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=97, multiple_of=16,
                max_seq_len=48)
    return ModelConfig(**{**base, **overrides})


def test_rope_equals_complex_number_formula():
    B, T, nh, hd, theta = 2, 11, 3, 8, 500.0
    x = torch.randn(B, T, nh, hd, dtype=torch.float64)
    # reference: pairs as complex numbers multiplied by e^{i * pos * theta^(-2k/hd)}
    freqs = theta ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    angles = torch.outer(torch.arange(T, dtype=torch.float64), freqs)
    rot = torch.polar(torch.ones_like(angles), angles)  # (T, hd/2)
    xc = torch.view_as_complex(x.reshape(B, T, nh, hd // 2, 2).contiguous())
    expected = torch.view_as_real(xc * rot[None, :, None, :]).reshape(B, T, nh, hd)
    got = apply_rope(x, rope_cos_sin(hd, T, theta).double())
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)


def test_rmsnorm_against_float64_formula():
    norm = RMSNorm(16, eps=1e-5)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(16))
    x = torch.randn(3, 5, 16)
    x64 = x.double()
    expected = x64 / torch.sqrt((x64**2).mean(-1, keepdim=True) + 1e-5) * norm.weight.double()
    torch.testing.assert_close(norm(x).double(), expected, rtol=1e-5, atol=1e-6)


def test_grouped_query_attention_equals_mha_with_repeated_kv_heads():
    torch.manual_seed(0)
    gqa = build_model(tiny_config(n_kv_heads=2))
    mha = build_model(tiny_config(n_kv_heads=None))
    state = gqa.state_dict()
    n_rep, hd = 2, 8
    for key, value in list(state.items()):
        if key.endswith(("attention.wk.weight", "attention.wv.weight")):
            # (n_kv * hd, dim) -> each kv head's rows repeated for its n_rep query heads
            state[key] = value.view(2, hd, -1).repeat_interleave(n_rep, 0).reshape(4 * hd, -1)
    mha.load_state_dict(state)
    tokens = torch.randint(0, 97, (2, 13))
    torch.testing.assert_close(gqa(tokens), mha(tokens), rtol=1e-5, atol=1e-5)


def test_causal_future_tokens_do_not_change_past_logits():
    torch.manual_seed(0)
    model = build_model(tiny_config())
    a = torch.randint(0, 97, (1, 20))
    b = a.clone()
    b[:, 12:] = torch.randint(0, 97, (1, 8))
    torch.testing.assert_close(model(a)[:, :12], model(b)[:, :12])


@pytest.mark.parametrize("cache_len", [17, 48])
def test_kv_cache_logits_equal_full_recomputation(cache_len):
    """Prefill, a chunk, then one token at a time through a cache of the sequence's length and
    one spanning max_seq_len (unwritten slots masked) == the whole sequence at once."""
    torch.manual_seed(0)
    model = build_model(tiny_config()).double()
    tokens = torch.randint(0, 97, (2, 17))
    full = model(tokens)
    cache = KVCache.allocate(model, 2, cache_len)
    chunks = [model(tokens[:, :6], cache=cache),  # positions 0..5 by default
              model(tokens[:, 6:9], cache=cache, positions=torch.arange(6, 9))]
    chunks += [model(tokens[:, t:t + 1], cache=cache, positions=torch.tensor([t]))
               for t in range(9, 17)]
    torch.testing.assert_close(torch.cat(chunks, dim=1), full, rtol=1e-10, atol=1e-10)


def test_too_long_sequence_is_refused():
    model = build_model(tiny_config(max_seq_len=8))
    with pytest.raises(ValueError, match="exceeds max_seq_len=8"):
        model(torch.zeros(1, 9, dtype=torch.long))


def test_meta_build_initialises_every_parameter_and_keeps_tying():
    torch.manual_seed(0)
    model = build_model(tiny_config(tie_embeddings=True))
    assert model.output.weight is model.tok_embeddings.weight
    for name, p in model.named_parameters():
        assert torch.isfinite(p).all() and p.device.type == "cpu", name
        if name.endswith("norm.weight"):
            assert torch.all(p == 1)
        else:
            assert 0.005 < p.std() < 0.03, name  # init_std 0.02, residual projections scaled


def test_parameter_names_follow_meta_reference():
    names = set(Transformer(get_preset("debug").model).state_dict())
    expected = {"tok_embeddings.weight", "norm.weight", "output.weight"}
    for i in range(2):
        expected |= {f"layers.{i}.{n}.weight" for n in (
            "attention.wq", "attention.wk", "attention.wv", "attention.wo",
            "feed_forward.w1", "feed_forward.w2", "feed_forward.w3",
            "attention_norm", "ffn_norm")}
    assert names == expected


def test_pipeline_stage_without_embeddings_or_head_passes_hidden_states():
    torch.manual_seed(0)
    model = build_model(tiny_config())
    tokens = torch.randint(0, 97, (2, 7))
    full = model(tokens)
    first, last = build_model(tiny_config()), build_model(tiny_config())
    first.load_state_dict(model.state_dict())
    last.load_state_dict(model.state_dict())
    del first.layers["1"]
    del last.layers["0"]
    first.norm = first.output = None
    last.tok_embeddings = None
    torch.testing.assert_close(last(first(tokens)), full)
