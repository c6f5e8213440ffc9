"""Checks of exercise 03 against torch's rms_norm, the library's model and the properties of a
rotation, on random inputs. (No RoPE is written out here: the reference rotation is the
library's, so this file hands learners no solution.)"""

import torch
import torch.nn.functional as F

from auroragpt import model as library
from auroragpt.exercise_checker.checking import CheckFailed, check, expect_close, is_close

FORBIDDEN = {
    "torch.nn.functional.rms_norm": "it is a reference of the checks; write RMSNorm yourself",
    "auroragpt.model.apply_rope": "it is a reference of the checks; write RoPE yourself",
    "auroragpt.model.rope_cos_sin": "it is a reference of the checks; compute the angles yourself",
}


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _norm_inputs(seed: int, dtype=torch.float64):
    """Rows of very different sizes, tiny ones included, where the place of eps matters."""
    generator = _generator(seed)
    x = torch.randn(3, 5, 16, generator=generator, dtype=dtype)
    x = x * torch.logspace(-3, 2, 5, dtype=dtype)[None, :, None]  # row scales 1e-3 .. 1e2
    weight = 1.0 + 0.5 * torch.randn(16, generator=generator, dtype=dtype)
    return x, weight


def _rms_norm_mistake(out, x, weight, eps) -> str | None:
    d = x.shape[-1]
    mean_square = x.pow(2).mean(-1, keepdim=True)
    mistakes = {
        "you subtracted the mean: that is LayerNorm; RMSNorm only rescales":
            F.layer_norm(x, (d,), weight, eps=eps),
        "eps is added after the square root; it belongs inside it":
            x / (mean_square.sqrt() + eps) * weight,
        "the weight (gain) is not applied":
            F.rms_norm(x, (d,), None, eps),
        "you divide by the mean of squares itself, not by its square root":
            x / (mean_square + eps) * weight,
    }
    for message, wrong in mistakes.items():
        if isinstance(out, torch.Tensor) and out.shape == wrong.shape and is_close(out, wrong):
            return message
    return None


@check("rms_norm matches torch.nn.functional.rms_norm (float64, rows of very different sizes)",
       hint="the mean of x**2 is over the last axis only, with keepdim=True so it broadcasts; "
            "eps goes under the square root.")
def rms_norm_matches_torch(ctx):
    rms_norm = ctx.function("rms_norm")
    for eps in (1e-5, 1e-2):
        x, weight = _norm_inputs(ctx.seed)
        out = rms_norm(x, weight, eps)
        try:
            expect_close(out, F.rms_norm(x, (x.shape[-1],), weight, eps), f"output (eps={eps})",
                         dtype=torch.float64)
        except CheckFailed:
            if mistake := _rms_norm_mistake(out, x, weight, eps):
                raise CheckFailed(f"eps={eps}: {mistake}") from None
            raise


@check("rms_norm matches the library's RMSNorm module (float32)",
       hint="keep the dtype of x, and use the eps you are given.")
def rms_norm_matches_library(ctx):
    rms_norm = ctx.function("rms_norm")
    x, weight = _norm_inputs(ctx.seed + 1, dtype=torch.float32)
    module = library.RMSNorm(x.shape[-1], eps=1e-5)
    with torch.no_grad():
        module.weight.copy_(weight)
        expected = module(x)
    expect_close(rms_norm(x, weight, 1e-5), expected, "output", atol=1e-5, rtol=1e-5,
                 dtype=torch.float32)


@check("rope_angles matches the formula p * theta ** (-2i / head_dim) (float64)",
       hint="there are head_dim // 2 frequencies, for i = 0, 1, ..., head_dim // 2 - 1; the "
            "angle table is the outer product of positions and frequencies.")
def angles_match_formula(ctx):
    rope_angles = ctx.function("rope_angles")
    positions = torch.randint(0, 4096, (7,), generator=_generator(ctx.seed))
    for head_dim, theta in [(8, 10000.0), (64, 500000.0), (2, 10.0)]:
        i = torch.arange(head_dim // 2, dtype=torch.float64)
        expected = positions.double()[:, None] * theta ** (-2.0 * i / head_dim)[None, :]
        expect_close(rope_angles(head_dim, positions, theta), expected,
                     f"angles for head_dim={head_dim}, theta={theta:g}", rtol=1e-12, atol=1e-12)


def _reference_rope(x: torch.Tensor, start_pos: int, theta: float,
                    direction: float = 1.0) -> torch.Tensor:
    """The library's rotation in float64, with angles from the formula (T, hd/2)."""
    B, T, nh, hd = x.shape
    i = torch.arange(hd // 2, dtype=torch.float64)
    positions = torch.arange(start_pos, start_pos + T, dtype=torch.float64)
    angles = direction * positions[:, None] * theta ** (-2.0 * i / hd)[None, :]  # (T, hd/2)
    table = torch.stack([angles.cos(), angles.sin()], dim=-1)  # (T, hd/2, 2)
    return library.apply_rope(x.double(), table).to(x.dtype)


def _rope_mistake(out, x, start_pos, theta) -> str | None:
    hd = x.shape[-1]
    # the half-split layout pairs channel i with i + hd/2: gather those as neighbours, rotate,
    # and scatter back
    as_neighbours = x.reshape(*x.shape[:-1], 2, hd // 2).transpose(-1, -2).flatten(-2)
    rotated = _reference_rope(as_neighbours, start_pos, theta)
    mistakes = {
        "you paired channel i with channel i + hd/2 (the Hugging Face layout); here pairs are "
        "neighbours (2i, 2i+1), as in Meta's reference":
            torch.cat([rotated[..., 0::2], rotated[..., 1::2]], -1),
        "the rotation goes the wrong way (check the signs of the sin terms)":
            _reference_rope(x, start_pos, theta, direction=-1.0),
        "start_pos is ignored: token t sits at position start_pos + t":
            _reference_rope(x, 0, theta),
    }
    for message, wrong in mistakes.items():
        if isinstance(out, torch.Tensor) and out.shape == wrong.shape and is_close(out, wrong):
            return message
    return None


@check("apply_rope matches RoPE in float64, with start_pos",
       hint="x[..., 0::2] and x[..., 1::2] are the two halves of every pair; rotate them with "
            "the cos and sin of angles shaped (1, T, 1, hd/2), then interleave the results "
            "back (torch.stack on a new last axis, then flatten).")
def rope_matches_in_float64(ctx):
    apply_rope = ctx.function("apply_rope")
    generator = _generator(ctx.seed)
    for shape, start_pos, theta in [((2, 5, 3, 8), 0, 10000.0), ((1, 4, 2, 16), 37, 10000.0),
                                    ((2, 3, 1, 4), 1000, 500000.0)]:
        x = torch.randn(shape, generator=generator, dtype=torch.float64)
        out = apply_rope(x, start_pos, theta)
        try:
            expect_close(out, _reference_rope(x, start_pos, theta),
                         f"output for x of shape {shape}, start_pos={start_pos}",
                         dtype=torch.float64, atol=1e-10)
        except CheckFailed:
            if mistake := _rope_mistake(out, x, start_pos, theta):
                raise CheckFailed(f"x of shape {shape}, start_pos={start_pos}: {mistake}") from None
            raise


@check("apply_rope matches the library's apply_rope (float32)",
       hint="keep the dtype of x; compute the angles in float64 and cast cos and sin down.")
def rope_matches_library(ctx):
    apply_rope = ctx.function("apply_rope")
    x = torch.randn(2, 6, 4, 8, generator=_generator(ctx.seed + 1))
    start_pos = 5
    table = library.rope_cos_sin(8, start_pos + 6, 10000.0)[start_pos:]  # (T, hd/2, 2)
    expect_close(apply_rope(x, start_pos, 10000.0), library.apply_rope(x, table), "output",
                 atol=2e-5, rtol=1e-4, dtype=torch.float32)


@check("after RoPE, a query-key score depends only on their distance, and lengths are kept",
       hint="a rotation keeps lengths; if yours does not, the cos and sin terms are mixed up.")
def rope_is_relative(ctx):
    apply_rope = ctx.function("apply_rope")
    generator = _generator(ctx.seed + 2)
    q, k = torch.randn(2, 1, 1, 1, 16, generator=generator, dtype=torch.float64)
    expect_close(apply_rope(q, 123).norm(), q.norm(), "length of a rotated query", atol=1e-10)
    for m, n, shift in [(3, 1, 10), (7, 7, 250), (0, 9, 4000)]:
        near = (apply_rope(q, m) * apply_rope(k, n)).sum()
        far = (apply_rope(q, m + shift) * apply_rope(k, n + shift)).sum()
        if not is_close(near, far, atol=1e-9):
            raise CheckFailed(f"the score of a query at {m} and a key at {n} is {float(near):.6f}, "
                              f"but {float(far):.6f} once both move by {shift} positions")
