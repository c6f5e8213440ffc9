"""Conversion between our state dict / `ModelConfig` and Hugging Face `LlamaForCausalLM`.

Pure functions on tensors and dicts: no files, and no import of `transformers`, so a checkpoint
exports on a machine that does not have it.

The one non-trivial step is rotary embedding layout. Our model (like Meta's reference) rotates
interleaved pairs (x[2i], x[2i+1]) of each head; `transformers` rotates the halves
(x[i], x[i + hd/2]). The attention scores are unchanged if the output rows of wq and wk are
re-ordered per head so that pair i lands at positions (i, i + hd/2): that is the permutation of
transformers' `convert_llama_weights_to_hf.py`, applied to wq with n_heads and to wk with
n_kv_heads.
"""

from __future__ import annotations

import torch

from auroragpt.config import ConfigError, ModelConfig

# Per-layer parameter names: ours -> transformers' (under `model.layers.{i}.`).
_LAYER_NAMES = {
    "attention.wq.weight": "self_attn.q_proj.weight",
    "attention.wk.weight": "self_attn.k_proj.weight",
    "attention.wv.weight": "self_attn.v_proj.weight",
    "attention.wo.weight": "self_attn.o_proj.weight",
    "feed_forward.w1.weight": "mlp.gate_proj.weight",
    "feed_forward.w2.weight": "mlp.down_proj.weight",
    "feed_forward.w3.weight": "mlp.up_proj.weight",
    "attention_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
}
_TOP_NAMES = {
    "tok_embeddings.weight": "model.embed_tokens.weight",
    "norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}


class ConversionError(ValueError):
    """A checkpoint or config cannot be converted; the message names the key and the problem."""


def parameter_name_map(cfg: ModelConfig) -> dict[str, str]:
    """Every parameter name of our model -> its `LlamaForCausalLM` name (tied output omitted)."""
    names = {ours: theirs for ours, theirs in _TOP_NAMES.items()
             if not (cfg.tie_embeddings and ours == "output.weight")}
    for i in range(cfg.n_layers):
        for ours, theirs in _LAYER_NAMES.items():
            names[f"layers.{i}.{ours}"] = f"model.layers.{i}.{theirs}"
    return names


def interleaved_to_half(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Re-order the output rows of a q/k projection from interleaved-pair to half-split RoPE.

    weight: (n_heads * hd, dim). Within each head, row 2i+j moves to row i + j*hd/2.
    """
    out_dim, in_dim = weight.shape
    hd = out_dim // n_heads
    # (nh, hd/2, 2, dim) -> (nh, 2, hd/2, dim): pair index outer, position-in-pair inner swapped
    return weight.view(n_heads, hd // 2, 2, in_dim).transpose(1, 2).reshape(out_dim, in_dim)


def half_to_interleaved(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Inverse of `interleaved_to_half`."""
    out_dim, in_dim = weight.shape
    hd = out_dim // n_heads
    return weight.view(n_heads, 2, hd // 2, in_dim).transpose(1, 2).reshape(out_dim, in_dim)


def _rope_heads(name: str, cfg: ModelConfig) -> int | None:
    """Heads to permute over for a q/k weight name (either naming), None for other weights."""
    if name.endswith(("attention.wq.weight", "self_attn.q_proj.weight")):
        return cfg.n_heads
    if name.endswith(("attention.wk.weight", "self_attn.k_proj.weight")):
        return cfg.kv_heads
    return None


def to_hf_state_dict(state_dict: dict[str, torch.Tensor],
                     cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """Our `Transformer.state_dict()` -> a `LlamaForCausalLM` state dict (contiguous tensors).

    With tied embeddings `output.weight` may be absent (safetensors stores a shared tensor
    once); `lm_head.weight` is then left out too, which is what `transformers` expects.
    """
    names = parameter_name_map(cfg)
    _check_keys(state_dict, names, optional={"output.weight"} if cfg.tie_embeddings else set())
    hf: dict[str, torch.Tensor] = {}
    for ours, theirs in names.items():
        tensor = state_dict[ours]
        heads = _rope_heads(ours, cfg)
        if heads is not None:
            tensor = interleaved_to_half(tensor, heads)
        hf[theirs] = tensor.contiguous()
    return hf


def from_hf_state_dict(hf_state_dict: dict[str, torch.Tensor],
                       cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """A `LlamaForCausalLM` state dict -> ours. Tied `output.weight` is not emitted.

    Buffers that some exports carry (`rotary_emb.inv_freq`) are ignored; they are derived.
    """
    names = {theirs: ours for ours, theirs in parameter_name_map(cfg).items()}
    state = {k: v for k, v in hf_state_dict.items() if not k.endswith("rotary_emb.inv_freq")}
    optional = {"lm_head.weight"} if cfg.tie_embeddings else set()
    _check_keys(state, names, optional=optional)
    ours: dict[str, torch.Tensor] = {}
    for theirs, name in names.items():
        tensor = state[theirs]
        heads = _rope_heads(theirs, cfg)
        if heads is not None:
            tensor = half_to_interleaved(tensor, heads)
        ours[name] = tensor.contiguous()
    return ours


def _check_keys(state: dict[str, torch.Tensor], expected: dict[str, str],
                optional: set[str]) -> None:
    missing = sorted(set(expected) - set(state) - optional)
    unexpected = sorted(set(state) - set(expected) - optional)
    if missing or unexpected:
        raise ConversionError(
            f"state dict does not match the config: missing {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
            f"{' ...' if len(unexpected) > 5 else ''}"
        )


# ----------------------------------------------------------------------------------------------
# Configs
# ----------------------------------------------------------------------------------------------


def hf_config_dict(cfg: ModelConfig, bos_id: int | None, eos_id: int | None,
                   pad_id: int | None) -> dict:
    """The `config.json` of a `LlamaForCausalLM` with our shape (readable by transformers 4.x/5.x).

    NOTE: RoPE base is written both as `rope_theta` (transformers < 5) and inside
    `rope_parameters` (transformers >= 5); each version reads its own key.
    """
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": cfg.dim,
        "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.kv_heads,
        "head_dim": cfg.head_dim,
        "intermediate_size": cfg.ffn_hidden_dim,
        "vocab_size": cfg.vocab_size,
        "max_position_embeddings": cfg.max_seq_len,
        "rms_norm_eps": cfg.norm_eps,
        "rope_theta": cfg.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "tie_word_embeddings": cfg.tie_embeddings,
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": cfg.init_std,
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
        "pad_token_id": pad_id,
        "torch_dtype": "float32",
        "use_cache": True,
    }


def model_config_from_hf(hf: dict, source: str = "config.json") -> ModelConfig:
    """A `ModelConfig` that builds exactly the architecture of a Llama `config.json` dict.

    Refuses what our model cannot represent (biases, non-SiLU activations, RoPE scaling, a
    head_dim other than hidden_size / heads), naming the field. `intermediate_size` is matched
    with the `multiple_of` rounding of the reference where one of the usual values reproduces
    it, so Llama-2/3 shapes import with their familiar settings.
    """
    def need(key: str):
        if key not in hf:
            raise ConversionError(f"{source}: missing field {key!r}")
        return hf[key]

    model_type = hf.get("model_type", "llama")
    if model_type != "llama":
        raise ConversionError(f"{source}: model_type={model_type!r}, expected 'llama'")
    for key, allowed in (("hidden_act", "silu"), ("attention_bias", False), ("mlp_bias", False)):
        if hf.get(key, allowed) != allowed:
            raise ConversionError(f"{source}: {key}={hf[key]!r} is not supported (expected {allowed!r})")
    rope_theta = _plain_rope_theta(hf, source)
    dim, n_heads = need("hidden_size"), need("num_attention_heads")
    head_dim = hf.get("head_dim") or dim // n_heads
    if head_dim * n_heads != dim:
        raise ConversionError(
            f"{source}: head_dim={head_dim} with num_attention_heads={n_heads} does not give "
            f"hidden_size={dim}; our model needs head_dim = hidden_size / heads"
        )
    cfg = ModelConfig(
        dim=dim,
        n_layers=need("num_hidden_layers"),
        n_heads=n_heads,
        n_kv_heads=hf.get("num_key_value_heads") or n_heads,
        vocab_size=need("vocab_size"),
        norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
        rope_theta=float(rope_theta),
        max_seq_len=need("max_position_embeddings"),
        tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
        init_std=float(hf.get("initializer_range", 0.02)),
    )
    cfg.multiple_of, cfg.ffn_dim_multiplier = _ffn_rounding(dim, need("intermediate_size"))
    try:
        cfg.validate()
    except ConfigError as err:
        raise ConversionError(f"{source}: hidden_size={dim}, num_attention_heads={n_heads}: "
                              f"{err}") from None
    return cfg


def _plain_rope_theta(hf: dict, source: str) -> float:
    """The RoPE base of a config that asks for plain RoPE in every field a transformers
    version reads; anything else is refused, naming the field.

    transformers 5 takes the legacy `rope_scaling` over `rope_parameters`, and the base from
    that dict before the top-level `rope_theta`; transformers 4 reads `rope_scaling` and the
    top-level `rope_theta`. A config whose fields disagree would give different models in
    different versions, so both dicts must be plain and every base given must agree.
    """
    thetas = {}
    for key in ("rope_scaling", "rope_parameters"):
        rope = hf.get(key)
        if rope is None:
            continue
        if not isinstance(rope, dict):
            raise ConversionError(f"{source}: {key}={rope!r}: expected a mapping or null")
        rope_type = rope.get("rope_type", rope.get("type", "default"))
        if rope_type != "default":
            raise ConversionError(f"{source}: {key}.rope_type={rope_type!r} is not supported "
                                  "(expected plain RoPE, 'default')")
        if "rope_theta" in rope:
            thetas[f"{key}.rope_theta"] = float(rope["rope_theta"])
    if "rope_theta" in hf:
        thetas["rope_theta"] = float(hf["rope_theta"])
    if len(set(thetas.values())) > 1:
        given = ", ".join(f"{key}={value:g}" for key, value in thetas.items())
        raise ConversionError(f"{source}: the RoPE base is given differently ({given}); "
                              "transformers versions would read different models")
    return next(iter(thetas.values()), 10000.0)


def _ffn_rounding(dim: int, intermediate: int) -> tuple[int, float | None]:
    """(multiple_of, ffn_dim_multiplier) for which ModelConfig.ffn_hidden_dim == intermediate."""
    probe = ModelConfig(dim=dim)
    for multiplier in (None, 1.3, 1.5, 2.0):  # the values Llama 2/3 releases use
        for multiple_of in (4096, 2048, 1024, 512, 256, 128, 64, 32, 16, 8):
            probe.multiple_of, probe.ffn_dim_multiplier = multiple_of, multiplier
            if probe.ffn_hidden_dim == intermediate:
                return multiple_of, multiplier
    # NOTE: any size is reachable by rounding up to the size itself, after scaling the
    # reference hidden size down below it when needed.
    base = int(2 * (4 * dim) / 3)
    return intermediate, None if base <= intermediate else intermediate / base
