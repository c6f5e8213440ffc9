"""A Llama-style decoder-only Transformer, single-device and readable top to bottom.

Notable features:
- Parameter names follow Meta's Llama reference (`tok_embeddings`, `layers.{i}.attention.wq`,
  `feed_forward.w1`, `attention_norm`, `ffn_norm`, `norm`, `output`), so checkpoints convert to
  and from Hugging Face with the usual q/k permutation only.
- RMSNorm computed in fp32; rotary embeddings on interleaved pairs (the complex-number form of
  the reference, written with real cos/sin so it runs on every backend and under compile);
  SwiGLU with the hidden size rounded to `multiple_of`; grouped-query attention; no biases.
- RMSNorm, RoPE, SwiGLU and the training loss run through `auroragpt.kernels` (Triton on
  CUDA/XPU, torch elsewhere; `model.kernels` forces either). Given targets, `forward` returns
  the loss from chunks of logits and never builds the (B, T, vocab) tensor.
- `layers` is a `ModuleDict` keyed "0".."n-1" and `tok_embeddings`, `norm` and `output` may be
  set to None, so a pipeline stage can keep just its slice of the model.
- Construction allocates, `init_weights()` initialises: build on the meta device, shard, then
  `to_empty(device=...)` and `init_weights()`. Each weight comes from a generator seeded by
  one base seed and its name, so any slice of the model initialises to the whole one's numbers.
- A KV cache that lives on whatever device the model lives on: keys and values are written at
  the new tokens' positions, given as a tensor, so no shape depends on the position (one
  compiled decode step serves them all). Sampling and decoding live in `auroragpt.generation`.

The model knows nothing of parallelism: `auroragpt.parallel` applies it from outside.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from auroragpt import kernels
from auroragpt.config import ModelConfig


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float, kernels: str = "auto"):
        super().__init__()
        self.eps = eps
        self.kernels = kernels  # backend of auroragpt.kernels: auto | triton | torch
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # NOTE: normalises in fp32 even under bf16 autocast; the mean of squares loses precision.
        return kernels.rms_norm(x, self.weight, self.eps, backend=self.kernels)

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)


def rope_cos_sin(head_dim: int, max_seq_len: int, theta: float,
                 device: torch.device | None = None) -> torch.Tensor:
    """Rotation table for positions 0..max_seq_len-1: (max_seq_len, head_dim // 2, 2) of cos, sin."""
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device).float() / head_dim))
    angles = torch.outer(torch.arange(max_seq_len, device=device).float(), freqs)  # (T, hd/2)
    return torch.stack([angles.cos(), angles.sin()], dim=-1)


def apply_rope(x: torch.Tensor, cos_sin: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved pairs (x[2i], x[2i+1]) of x: (B, T, nh, hd) by cos_sin: (T, hd/2, 2)."""
    return kernels.rotate_reference(x, cos_sin[..., 0], cos_sin[..., 1])


@dataclass
class KVCache:
    """Keys and values of past positions, one (B, n_kv_heads, max_len, head_dim) pair per layer."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]

    @classmethod
    def allocate(cls, model: Transformer, batch_size: int, max_len: int) -> KVCache:
        cfg = model.config
        ref = next(model.parameters())  # the cache follows the model's device and dtype
        shape = (batch_size, cfg.kv_heads, max_len, cfg.head_dim)
        make = lambda: torch.zeros(shape, device=ref.device, dtype=ref.dtype)  # noqa: E731
        return cls([make() for _ in range(cfg.n_layers)], [make() for _ in range(cfg.n_layers)])

    @property
    def max_len(self) -> int:
        return self.keys[0].shape[2]


class CoreAttention(nn.Module):
    """Causal (or masked) softmax attention of rotated queries over keys; holds no weights.

    A module of its own so parallelism can wrap it from outside (sequence parallelism
    exchanges heads for positions around it).
    """

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                mask: torch.Tensor | None = None, is_causal: bool = True) -> torch.Tensor:
        """q: (B, nh, T, hd); k, v: (B, nkv, S, hd) with nkv dividing nh -> (B, nh, T, hd)."""
        # NOTE: grouped-query attention inside SDPA (`enable_gqa`): each kv head serves
        # nh / nkv query heads without materialising repeated keys and values.
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal,
                                              enable_gqa=k.shape[1] != q.shape[1])


class Attention(nn.Module):
    """Grouped-query self-attention with rotary positions.

    Head counts are read from the projections' outputs, never stored: tensor parallelism
    gives each rank a slice of the heads, and the same code then runs on that slice.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.head_dim = cfg.head_dim
        self.wq = nn.Linear(cfg.dim, cfg.n_heads * self.head_dim, bias=False)
        self.wk = nn.Linear(cfg.dim, cfg.kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(cfg.dim, cfg.kv_heads * self.head_dim, bias=False)
        self.wo = nn.Linear(cfg.n_heads * self.head_dim, cfg.dim, bias=False)
        self.kernels = cfg.kernels
        self.core = CoreAttention()

    def forward(self, x: torch.Tensor, cos_sin: torch.Tensor, cache: tuple | None = None,
                positions: torch.Tensor | None = None) -> torch.Tensor:
        B, T, _ = x.shape
        q = self.wq(x).view(B, T, -1, self.head_dim)  # (B, T, nh, hd)
        k = self.wk(x).view(B, T, -1, self.head_dim)  # (B, T, nkv, hd)
        v = self.wv(x).view(B, T, -1, self.head_dim)
        q, k = kernels.apply_rotary(q, k, cos_sin[..., 0], cos_sin[..., 1], backend=self.kernels)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, nh or nkv, T, hd)

        mask, is_causal = None, True
        if cache is not None:
            # keys and values written in place at the new tokens' positions (T,); the whole
            # cache is attended, each query masked to the slots at or before its position
            # (later slots are the future or not yet written). No shape depends on positions.
            cache_k, cache_v = cache[0][:B], cache[1][:B]
            cache_k.index_copy_(2, positions, k)
            cache_v.index_copy_(2, positions, v)
            k, v = cache_k, cache_v  # (B, nkv, max_len, hd)
            key_pos = torch.arange(k.shape[2], device=x.device)
            mask, is_causal = key_pos[None, :] <= positions[:, None], False  # (T, max_len)

        out = self.core(q, k, v, mask, is_causal)  # (B, nh, T, hd)
        out = out.transpose(1, 2).reshape(B, T, -1)  # (B, T, nh * hd)
        return self.wo(out)


class FeedForward(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        hidden = cfg.ffn_hidden_dim
        self.w1 = nn.Linear(cfg.dim, hidden, bias=False)  # gate
        self.w2 = nn.Linear(hidden, cfg.dim, bias=False)  # down
        self.w3 = nn.Linear(cfg.dim, hidden, bias=False)  # up
        self.kernels = cfg.kernels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(kernels.swiglu(self.w1(x), self.w3(x), backend=self.kernels))


class TransformerBlock(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attention = Attention(cfg)
        self.feed_forward = FeedForward(cfg)
        self.attention_norm = RMSNorm(cfg.dim, cfg.norm_eps, cfg.kernels)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps, cfg.kernels)

    def forward(self, x: torch.Tensor, cos_sin: torch.Tensor, cache: tuple | None = None,
                positions: torch.Tensor | None = None) -> torch.Tensor:
        h = x + self.attention(self.attention_norm(x), cos_sin, cache, positions)
        return h + self.feed_forward(self.ffn_norm(h))


def draw_init_seed() -> int:
    """The base seed of `Transformer.init_weights`: one draw from the global (CPU) RNG, so
    every rank seeded alike gets the same one."""
    return int(torch.randint(2**62, ()).item())


def _init_whole(param: torch.Tensor, name: str, seed: int, init_fn, **kwargs) -> None:
    """Draw `param`'s full shape with `init_fn` from a generator of its own, seeded by `seed`
    and `name` (its qualified name in the plain model), and copy the numbers into it."""
    if param.is_meta:  # a model built on the meta device for its shapes only: no numbers
        return
    generator = torch.Generator(device=param.device).manual_seed(seed + zlib.crc32(name.encode()))
    full = torch.empty(param.shape, dtype=param.dtype, device=param.device)
    init_fn(full, generator=generator, **kwargs)
    param.copy_(full)


class Transformer(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        config.validate()
        self.config = config
        self.tok_embeddings: nn.Embedding | None = nn.Embedding(config.vocab_size, config.dim)
        self.layers = nn.ModuleDict({str(i): TransformerBlock(config)
                                     for i in range(config.n_layers)})
        self.norm: RMSNorm | None = RMSNorm(config.dim, config.norm_eps, config.kernels)
        self.output: nn.Linear | None = nn.Linear(config.dim, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.output.weight = self.tok_embeddings.weight
        # NOTE: not persistent: it is derived from the config, and rebuilt by init_weights()
        # after a meta-device build.
        self.register_buffer("rope", self._rope_table(), persistent=False)

    def _rope_table(self, device: torch.device | None = None) -> torch.Tensor:
        c = self.config
        return rope_cos_sin(c.head_dim, c.max_seq_len, c.rope_theta, device)

    @torch.no_grad()
    def init_weights(self, seed: int | None = None) -> None:
        """Initialise every parameter this module holds, in place (after `to_empty` on a
        meta-built model).

        Each weight is drawn whole from its own generator, seeded by `seed` (by default one
        draw from the global RNG: `draw_init_seed`) and its name in the plain model, so the
        numbers do not depend on which modules are present: a pipeline stage (whose layers
        keep their keys) or the whole model, initialised with the same `seed`, get the same
        weights. NOTE: a sharded parameter (a DTensor, under DTensor's implicit replication)
        keeps exactly its slice of those numbers, so every layout starts from the weights one
        process draws, at the cost of one full tensor of scratch memory at a time.
        """
        seed = draw_init_seed() if seed is None else seed
        std = self.config.init_std
        # residual projections scaled down with depth, as in GPT-2 / torchtitan
        depth_std = std / math.sqrt(2 * self.config.n_layers)

        def trunc_normal(param: torch.Tensor, name: str, std: float) -> None:
            _init_whole(param, name, seed, nn.init.trunc_normal_, std=std, a=-3 * std, b=3 * std)

        self.rope = self._rope_table(self.rope.device)
        if self.tok_embeddings is not None:
            _init_whole(self.tok_embeddings.weight, "tok_embeddings.weight", seed,
                        nn.init.normal_, std=std)
        for i, block in self.layers.items():
            attn, ffn = block.attention, block.feed_forward
            for name, lin, lin_std in (
                ("attention.wq", attn.wq, std), ("attention.wk", attn.wk, std),
                ("attention.wv", attn.wv, std), ("attention.wo", attn.wo, depth_std),
                ("feed_forward.w1", ffn.w1, std), ("feed_forward.w2", ffn.w2, depth_std),
                ("feed_forward.w3", ffn.w3, std),
            ):
                trunc_normal(lin.weight, f"layers.{i}.{name}.weight", lin_std)
            block.attention_norm.reset_parameters()
            block.ffn_norm.reset_parameters()
        if self.norm is not None:
            self.norm.reset_parameters()
        if self.output is not None:
            if self.config.tie_embeddings and self.tok_embeddings is not None:
                self.output.weight = self.tok_embeddings.weight  # to_empty() unties; tie again
            else:
                trunc_normal(self.output.weight, "output.weight", std)

    def forward(self, tokens: torch.Tensor, cache: KVCache | None = None,
                positions: torch.Tensor | None = None,
                targets: torch.Tensor | None = None) -> torch.Tensor:
        """tokens: (B, T) ids (or (B, T, dim) hidden states on a stage without embeddings).

        Returns logits (B, T, vocab) in the compute dtype, or hidden states on a stage without
        an output layer. Given `targets` (B, T) (-100 = no loss), returns instead the mean
        cross-entropy of predicting them, computed in chunks of tokens by
        `kernels.fused_linear_cross_entropy` without the logits tensor (an fp32 scalar).
        `positions` (T,) are the tokens' positions, 0..T-1 by default (the caller keeps them
        below max_seq_len). With `cache`, their keys and values are stored at those positions
        and each token attends to every cached position up to its own.
        """
        h = self.tok_embeddings(tokens) if self.tok_embeddings is not None else tokens
        T = tokens.shape[1]  # not h: tensor parallelism may hand on a slice of the sequence
        if positions is not None:
            cos_sin = self.rope[positions]  # (T, hd/2, 2)
        elif T > self.rope.shape[0]:
            raise ValueError(f"sequence of {T} positions exceeds max_seq_len={self.rope.shape[0]}")
        else:
            cos_sin = self.rope[:T]  # (T, hd/2, 2)
            if cache is not None:
                positions = torch.arange(T, device=h.device)
        for i, block in self.layers.items():
            layer_cache = None if cache is None else (cache.keys[int(i)], cache.values[int(i)])
            h = block(h, cos_sin, layer_cache, positions)
        if self.norm is not None:
            h = self.norm(h)
        if targets is not None:
            if self.output is None:
                raise ValueError("targets given to a model without an output layer")
            return kernels.fused_linear_cross_entropy(h, self.output.weight, targets,
                                                      backend=self.config.kernels)
        return self.output(h) if self.output is not None else h


def build_model(config: ModelConfig, device: torch.device | str = "cpu") -> Transformer:
    """Build on the meta device, materialise on `device`, and initialise: the one path for all."""
    with torch.device("meta"):
        model = Transformer(config)
    model.to_empty(device=device)
    model.init_weights()
    return model
