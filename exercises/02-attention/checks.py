"""Checks of exercise 02 against torch's own attention, in float64, on random inputs."""

import torch
import torch.nn.functional as F

from auroragpt.exercise_checker.checking import CheckFailed, check, expect_close, is_close

_BY_HAND = "write the attention from matmul, masking and softmax"
FORBIDDEN = {
    "torch.nn.functional.scaled_dot_product_attention":
        f"it is the reference the checks compare against; {_BY_HAND}",
    "torch.nn.MultiheadAttention": f"it is the reference of the multi-head check; {_BY_HAND}",
    "torch.nn.modules.activation.MultiheadAttention":
        f"it is the reference of the multi-head check; {_BY_HAND}",
    "torch.nn.functional.multi_head_attention_forward":
        f"it is what torch.nn.MultiheadAttention runs; {_BY_HAND}",
}

SHAPES = [(2, 3, 5, 4), (1, 1, 1, 8), (3, 2, 9, 6)]  # (B, nh, T, hd), a single token included


def _qkv(seed: int, shape, dtype=torch.float64, scale: float = 1.0):
    generator = torch.Generator().manual_seed(seed)
    return [scale * torch.randn(shape, generator=generator, dtype=dtype) for _ in range(3)]


def _recognise_mistake(out, q, k, v) -> str | None:
    """Name the classic mistake whose result `out` reproduces, if any."""
    hd = q.shape[-1]
    plain = torch.softmax(q @ k.transpose(-2, -1) / hd**0.5, dim=-1) @ v
    mistakes = {
        "the future is not masked: every position sees all the others":
            plain,
        "the scores are not scaled by 1/sqrt(head_dim)":
            F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0),
        "the scores are scaled by 1/head_dim instead of 1/sqrt(head_dim)":
            F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0 / hd),
    }
    for message, wrong in mistakes.items():
        if out.shape == wrong.shape and is_close(out, wrong, atol=1e-9):
            return message
    return None


@check("causal_attention matches torch's scaled_dot_product_attention (float64, random inputs)",
       hint="scores q.k / sqrt(hd), shape (B, nh, T, T); a key position s may be seen by a query "
            "at position t only when s <= t; normalise over the keys (the last axis).")
def matches_torch(ctx):
    attention = ctx.function("causal_attention")
    for i, shape in enumerate(SHAPES):
        q, k, v = _qkv(ctx.seed + i, shape)
        out = attention(q, k, v)
        expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        try:
            expect_close(out, expected, f"output for inputs of shape {shape}", dtype=torch.float64)
        except CheckFailed:
            if isinstance(out, torch.Tensor) and (mistake := _recognise_mistake(out, q, k, v)):
                raise CheckFailed(f"for inputs of shape {shape}: {mistake}") from None
            raise


@check("the future cannot change the past",
       hint="mask the scores before the softmax, with a value the softmax turns into exactly 0.")
def causality(ctx):
    attention = ctx.function("causal_attention")
    B, nh, T, hd = 2, 2, 8, 4
    q, k, v = _qkv(ctx.seed, (B, nh, T, hd))
    base = attention(q, k, v)
    for cut in (1, T // 2, T - 1):
        k2, v2 = k.clone(), v.clone()
        k2[:, :, cut:] += 10.0  # change only positions >= cut
        v2[:, :, cut:] -= 10.0
        changed = attention(q, k2, v2)
        if not torch.equal(changed[:, :, :cut], base[:, :, :cut]):
            moved = (changed[:, :, :cut] - base[:, :, :cut]).abs().amax(dim=(0, 1, 3))
            first = int((moved > 0).nonzero()[0])
            raise CheckFailed(f"changing keys and values from position {cut} on changed the "
                              f"output at position {first} (by up to {moved.max():.3g})")


@check("causal_attention keeps the dtype and stays finite for large scores",
       hint="compute in the dtype you are given (no .double() or .float()); exponentials of "
            "scores in the thousands overflow unless the row maximum is subtracted first, "
            "which torch.softmax does for you.")
def stable_and_dtype(ctx):
    attention = ctx.function("causal_attention")
    q, k, v = _qkv(ctx.seed, (1, 2, 6, 8), dtype=torch.float32)
    out = attention(q, k, v)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    expect_close(out, expected, "float32 output", atol=1e-5, rtol=1e-4, dtype=torch.float32)
    q, k, v = _qkv(ctx.seed + 1, (1, 2, 6, 8), scale=40.0)  # scores in the thousands
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    expect_close(attention(q, k, v), expected, "output for scores in the thousands")


@check("multi_head_self_attention matches torch.nn.MultiheadAttention (float64)",
       hint="head h owns channels h*hd..(h+1)*hd-1; view (B, T, C) as (B, T, nh, hd) and move "
            "the head axis before time, then undo exactly that after attention.")
def matches_multihead(ctx):
    mha_fn = ctx.function("multi_head_self_attention")
    generator = torch.Generator().manual_seed(ctx.seed)
    for B, T, C, n_heads in [(2, 7, 12, 3), (1, 5, 16, 4), (2, 4, 8, 1)]:
        x = torch.randn(B, T, C, generator=generator, dtype=torch.float64)
        wq, wk, wv, wo = (torch.randn(C, C, generator=generator, dtype=torch.float64) / C**0.5
                          for _ in range(4))
        reference = torch.nn.MultiheadAttention(C, n_heads, bias=False, batch_first=True,
                                                dtype=torch.float64)
        with torch.no_grad():
            reference.in_proj_weight.copy_(torch.cat([wq, wk, wv]))
            reference.out_proj.weight.copy_(wo)
            future = torch.ones(T, T, dtype=torch.bool).triu(diagonal=1)  # True = hidden
            expected, _ = reference(x, x, x, attn_mask=future, need_weights=False)
        out = mha_fn(x, wq, wk, wv, wo, n_heads)
        expect_close(out, expected, f"output for B={B} T={T} C={C} n_heads={n_heads}",
                     dtype=torch.float64)
