"""A Llama-style decoder-only Transformer, single-device and readable top to bottom.

Notable features:
- Parameter names follow Meta's Llama reference (`tok_embeddings`, `layers.{i}.attention.wq`,
  `feed_forward.w1`, `attention_norm`, `ffn_norm`, `norm`, `output`), so checkpoints convert to
  and from Hugging Face with the usual q/k permutation only.
- RMSNorm computed in fp32; rotary embeddings on interleaved pairs (the complex-number form of
  the reference, written with real cos/sin so it runs on every backend and under compile);
  SwiGLU with the hidden size rounded to `multiple_of`; grouped-query attention; no biases.
- `layers` is a `ModuleDict` keyed "0".."n-1" and `tok_embeddings`, `norm` and `output` may be
  set to None, so a pipeline stage can keep just its slice of the model.
- Construction allocates, `init_weights()` initialises: build on the meta device, shard, then
  `to_empty(device=...)` and `init_weights()`.
- A KV cache that lives on whatever device the model lives on, for fast generation.

The model knows nothing of parallelism: `auroragpt.parallel` applies it from outside.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from auroragpt.config import ModelConfig


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # NOTE: normalise in fp32 even under bf16 autocast; the mean of squares loses precision.
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight

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
    x_pairs = x.float().reshape(*x.shape[:-1], -1, 2)  # (B, T, nh, hd/2, 2)
    cos = cos_sin[None, :, None, :, 0]  # (1, T, 1, hd/2)
    sin = cos_sin[None, :, None, :, 1]
    real, imag = x_pairs[..., 0], x_pairs[..., 1]
    rotated = torch.stack([real * cos - imag * sin, real * sin + imag * cos], dim=-1)
    return rotated.flatten(-2).type_as(x)


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
        self.core = CoreAttention()

    def forward(self, x: torch.Tensor, cos_sin: torch.Tensor, cache: tuple | None = None,
                start_pos: int | torch.Tensor = 0) -> torch.Tensor:
        B, T, _ = x.shape
        q = self.wq(x).view(B, T, -1, self.head_dim)  # (B, T, nh, hd)
        k = self.wk(x).view(B, T, -1, self.head_dim)  # (B, T, nkv, hd)
        v = self.wv(x).view(B, T, -1, self.head_dim)
        q, k = apply_rope(q, cos_sin), apply_rope(k, cos_sin)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, nh or nkv, T, hd)

        mask, is_causal = None, True
        if cache is not None and isinstance(start_pos, torch.Tensor):
            # positions (T,) in a tensor: static shapes for a compiled decode step. Keys and
            # values are written in place; the whole cache is attended, later slots masked out.
            cache_k, cache_v = cache[0][:B], cache[1][:B]
            cache_k.index_copy_(2, start_pos, k)
            cache_v.index_copy_(2, start_pos, v)
            k, v = cache_k, cache_v  # (B, nkv, max_len, hd)
            key_pos = torch.arange(k.shape[2], device=x.device)
            mask, is_causal = key_pos[None, :] <= start_pos[:, None], False  # (T, max_len)
        elif cache is not None:
            cache_k, cache_v = cache
            end = start_pos + T
            cache_k[:B, :, start_pos:end] = k
            cache_v[:B, :, start_pos:end] = v
            k, v = cache_k[:B, :, :end], cache_v[:B, :, :end]  # (B, nkv, end, hd)
            if T == 1:  # one new token: it sees every cached key, no mask needed
                is_causal = False
            elif start_pos > 0:  # query i sits at position start_pos + i, sees keys 0..that
                key_pos = torch.arange(end, device=x.device)
                query_pos = torch.arange(start_pos, end, device=x.device)
                mask, is_causal = key_pos[None, :] <= query_pos[:, None], False  # (T, end)

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attention = Attention(cfg)
        self.feed_forward = FeedForward(cfg)
        self.attention_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)

    def forward(self, x: torch.Tensor, cos_sin: torch.Tensor, cache: tuple | None = None,
                start_pos: int | torch.Tensor = 0) -> torch.Tensor:
        h = x + self.attention(self.attention_norm(x), cos_sin, cache, start_pos)
        return h + self.feed_forward(self.ffn_norm(h))


def _init_whole(param: torch.Tensor, init_fn, **kwargs) -> None:
    """Draw `param`'s full shape with `init_fn` and copy the numbers into it."""
    full = torch.empty(param.shape, dtype=param.dtype, device=param.device)
    init_fn(full, **kwargs)
    param.copy_(full)


class Transformer(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        config.validate()
        self.config = config
        self.tok_embeddings: nn.Embedding | None = nn.Embedding(config.vocab_size, config.dim)
        self.layers = nn.ModuleDict({str(i): TransformerBlock(config)
                                     for i in range(config.n_layers)})
        self.norm: RMSNorm | None = RMSNorm(config.dim, config.norm_eps)
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
    def init_weights(self) -> None:
        """Initialise every parameter in place (call after `to_empty` on a meta-built model).

        Each weight is drawn whole from the global RNG, in a fixed order, then copied into the
        parameter. NOTE: a sharded parameter (a DTensor, under DTensor's implicit replication)
        keeps exactly its slice of those numbers, so every layout starts from the weights one
        process draws, at the cost of one full tensor of scratch memory at a time.
        """
        std = self.config.init_std
        # residual projections scaled down with depth, as in GPT-2 / torchtitan
        depth_std = std / math.sqrt(2 * self.config.n_layers)
        self.rope = self._rope_table(self.rope.device)
        if self.tok_embeddings is not None:
            _init_whole(self.tok_embeddings.weight, nn.init.normal_, std=std)
        for block in self.layers.values():
            for lin in (block.attention.wq, block.attention.wk, block.attention.wv,
                        block.feed_forward.w1, block.feed_forward.w3):
                _init_whole(lin.weight, nn.init.trunc_normal_, std=std, a=-3 * std, b=3 * std)
            for lin in (block.attention.wo, block.feed_forward.w2):
                _init_whole(lin.weight, nn.init.trunc_normal_, std=depth_std, a=-3 * depth_std,
                            b=3 * depth_std)
            block.attention_norm.reset_parameters()
            block.ffn_norm.reset_parameters()
        if self.norm is not None:
            self.norm.reset_parameters()
        if self.output is not None:
            if self.config.tie_embeddings and self.tok_embeddings is not None:
                self.output.weight = self.tok_embeddings.weight  # to_empty() unties; tie again
            else:
                _init_whole(self.output.weight, nn.init.trunc_normal_, std=std, a=-3 * std,
                            b=3 * std)

    def forward(self, tokens: torch.Tensor, cache: KVCache | None = None,
                start_pos: int | torch.Tensor = 0) -> torch.Tensor:
        """tokens: (B, T) ids (or (B, T, dim) hidden states on a stage without embeddings).

        Returns logits (B, T, vocab) in the compute dtype, or hidden states on a stage without
        an output layer. With `cache`, positions start at `start_pos` and keys/values are stored.
        `start_pos` may instead be a (T,) tensor of the new tokens' positions: then no shape
        depends on the position (what `torch.compile` needs to compile a decode step once), and
        attention runs over the whole cache with a mask.
        """
        h = self.tok_embeddings(tokens) if self.tok_embeddings is not None else tokens
        T = tokens.shape[1]  # not h: tensor parallelism may hand on a slice of the sequence
        if isinstance(start_pos, torch.Tensor):  # the caller keeps positions below max_seq_len
            cos_sin = self.rope[start_pos]  # (T, hd/2, 2)
        elif start_pos + T > self.rope.shape[0]:
            raise ValueError(
                f"sequence of {start_pos + T} positions exceeds max_seq_len={self.rope.shape[0]}"
            )
        else:
            cos_sin = self.rope[start_pos:start_pos + T]  # (T, hd/2, 2)
        for i, block in self.layers.items():
            layer_cache = None if cache is None else (cache.keys[int(i)], cache.values[int(i)])
            h = block(h, cos_sin, layer_cache, start_pos)
        if self.norm is not None:
            h = self.norm(h)
        return self.output(h) if self.output is not None else h

    # ------------------------------------------------------------------------------------------
    # Generation
    # ------------------------------------------------------------------------------------------

    @torch.no_grad()
    def stream(self, prompt: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
               top_k: int | None = None, top_p: float | None = None,
               stop_tokens: Sequence[int] = (), use_cache: bool = True,
               generator: torch.Generator | None = None,
               compile: bool = False) -> Iterator[torch.Tensor]:
        """Yield the next token of every sequence, (B,), until all stopped or max_new_tokens.

        prompt: (B, T) token ids. temperature 0 is greedy. A sequence that produced a stop
        token keeps yielding that token while others continue.

        compile=True runs the one-token steps through `torch.compile` with static shapes (a
        cache spanning max_seq_len, positions passed as tensors), so one compilation serves
        every prompt and position at a batch size. Measured on one CPU core (RESULTS.md,
        Training): 8-14 s of compilation once per process and batch size (1-4 s with
        inductor's on-disk cache), then tokens 1.8-2.2x cheaper on models whose decode step is
        dispatch overhead (0.2-4 M parameters) and 1.1x on a 32 M model, which reads its
        weights from memory at every token; so it pays after thousands of tokens, not for a
        training run's short samples, and stays opt-in.
        """
        B, T = prompt.shape
        total = min(T + max_new_tokens, self.config.max_seq_len)
        if T >= total:
            raise ValueError(f"prompt of {T} tokens leaves no room below max_seq_len={total}")
        tokens = prompt.new_empty(B, total)  # (B, total): prompt, then each new token
        tokens[:, :T] = prompt
        cache = None
        if use_cache:
            cache = KVCache.allocate(self, B, self.config.max_seq_len if compile else total)
        logits = self(prompt, cache=cache)[:, -1]  # (B, V); a cache is filled with the prompt
        step = _compiled_decode_step() if compile else _decode_step
        stop = torch.tensor(list(stop_tokens), device=prompt.device, dtype=prompt.dtype)
        finished = torch.zeros(B, dtype=torch.bool, device=prompt.device)
        for pos in range(T, total):
            next_token = sample_next(logits.float(), temperature, top_k, top_p, generator)
            if len(stop_tokens):
                next_token = torch.where(finished, tokens[:, pos - 1], next_token)  # (B,)
                finished |= torch.isin(next_token, stop)
            tokens[:, pos] = next_token
            yield next_token
            if pos + 1 == total or (len(stop_tokens) and bool(finished.all())):
                return
            if cache is None:
                logits = self(tokens[:, :pos + 1])[:, -1]
            else:
                position = torch.tensor([pos], device=prompt.device) if compile else pos
                logits = step(self, next_token[:, None], position, cache)

    @torch.no_grad()
    def generate(self, prompt: torch.Tensor, max_new_tokens: int, **kwargs) -> torch.Tensor:
        """Prompt (B, T) plus up to max_new_tokens sampled tokens: (B, T + n). See `stream`."""
        new = list(self.stream(prompt, max_new_tokens, **kwargs))
        return torch.cat([prompt, torch.stack(new, dim=1)], dim=1) if new else prompt


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample one token per row of logits (B, V): greedy at temperature 0, else top-k then top-p."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        # drop a token when the tokens ranked above it already cover top_p
        drop_sorted = cumulative - sorted_logits.softmax(-1) >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def _decode_step(model: Transformer, token: torch.Tensor, position: int | torch.Tensor,
                 cache: KVCache) -> torch.Tensor:
    """Logits (B, V) of one new token (B, 1) at `position`, stored in the cache."""
    return model(token, cache=cache, start_pos=position)[:, -1]


@functools.cache
def _compiled_decode_step():
    """`_decode_step` compiled once per process; it recompiles for a new batch size or model shape
    (another model of the same config reuses the compiled code: parameters are its inputs)."""
    return torch.compile(_decode_step, fullgraph=True, dynamic=False)


def build_model(config: ModelConfig, device: torch.device | str = "cpu") -> Transformer:
    """Build on the meta device, materialise on `device`, and initialise: the one path for all."""
    with torch.device("meta"):
        model = Transformer(config)
    model.to_empty(device=device)
    model.init_weights()
    return model
