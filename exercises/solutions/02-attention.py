"""Reference solution of exercise 02: causal self-attention by hand."""

import math

import torch


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal scaled dot-product attention; q, k, v: (B, nh, T, hd) -> (B, nh, T, hd)."""
    T, hd = q.shape[-2], q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(hd)  # (B, nh, T, T)
    future = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(diagonal=1)  # s > t
    scores = scores.masked_fill(future, float("-inf"))
    # softmax subtracts the row maximum before exponentiating, so large scores cannot overflow
    weights = torch.softmax(scores, dim=-1)
    return weights @ v  # (B, nh, T, hd)


def multi_head_self_attention(x: torch.Tensor, wq: torch.Tensor, wk: torch.Tensor,
                              wv: torch.Tensor, wo: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Multi-head causal self-attention of x: (B, T, C) with nn.Linear-style weights (C, C)."""
    B, T, C = x.shape
    hd = C // n_heads

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.view(B, T, n_heads, hd).transpose(1, 2)  # (B, nh, T, hd)

    q, k, v = split(x @ wq.T), split(x @ wk.T), split(x @ wv.T)
    out = causal_attention(q, k, v)  # (B, nh, T, hd)
    out = out.transpose(1, 2).reshape(B, T, C)  # heads side by side again
    return out @ wo.T
