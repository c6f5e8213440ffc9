"""Checks of exercise 10 against float64 references written with numpy and math (independent of
torch's log_softmax), and against prefix-by-prefix scoring of the library's model."""

import math

import numpy as np
import torch

from auroragpt.config import ModelConfig
from auroragpt.exercise_checker.checking import CheckFailed, check, expect_close, is_close
from auroragpt.model import build_model


def _as_python_float(value, what: str) -> float:
    if isinstance(value, torch.Tensor):
        raise CheckFailed(f"{what}: returned a tensor; return a Python float (float(...) or "
                          ".item())")
    if not isinstance(value, (float, int)):
        raise CheckFailed(f"{what}: returned {type(value).__name__}, expected a Python float")
    return float(value)


def _perplexity(logprobs: np.ndarray, mask: np.ndarray | None = None) -> float:
    values = logprobs[mask] if mask is not None else logprobs.ravel()
    return math.exp(-math.fsum(values.tolist()) / values.size)


def _logprobs_reference(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """log softmax at the targets, in float64: logit - (max + log sum exp(logits - max))."""
    peak = logits.max(axis=-1, keepdims=True)
    log_normaliser = peak[..., 0] + np.log(np.exp(logits - peak).sum(axis=-1))
    return np.take_along_axis(logits, targets[..., None], axis=-1)[..., 0] - log_normaliser


@check("perplexity_from_logprobs matches exp(-mean log p) in float64, with and without a mask",
       hint="average only where the mask is True (divide by the number of counted tokens, not by "
            "B * T); the log-probabilities are natural logs, and they are negative.")
def perplexity_matches_formula(ctx):
    perplexity = ctx.function("perplexity_from_logprobs")
    rng = np.random.default_rng(ctx.seed)
    logprobs = -rng.gamma(2.0, 1.2, size=(3, 11))  # (B, T), all negative
    mask = rng.random((3, 11)) < 0.7
    mask[:, 0] = True
    for with_mask in (False, True):
        what = "perplexity with a padding mask" if with_mask else "perplexity without a mask"
        got = _as_python_float(
            perplexity(torch.from_numpy(logprobs), torch.from_numpy(mask) if with_mask else None),
            what)
        expected = _perplexity(logprobs, mask if with_mask else None)
        if not is_close(got, expected, atol=0, rtol=1e-10):
            values = logprobs[mask] if with_mask else logprobs.ravel()
            mean = values.mean()
            mistakes = {
                "you returned exp(+mean): the mean log-probability needs a minus sign":
                    math.exp(mean),
                "you used 2 ** (...): perplexity uses exp, the log-probabilities are natural logs":
                    2 ** (-mean),
                "padded positions are counted: average over the masked-in tokens only":
                    _perplexity(logprobs) if with_mask else math.nan,
                "the sum is divided by B * T instead of by the number of counted tokens":
                    math.exp(-values.sum() / logprobs.size) if with_mask else math.nan,
            }
            for message, wrong in mistakes.items():
                if is_close(got, wrong, atol=0, rtol=1e-10):
                    raise CheckFailed(f"{what}: {message}")
            expect_close(got, expected, what, atol=0, rtol=1e-10)


@check("token_logprobs matches a float64 log-softmax at the targets, even for huge logits",
       hint="log(softmax(x)) computed as written overflows for large x; log p = x - logsumexp(x) "
            "does not (torch.log_softmax does exactly that); pick each target with gather on "
            "the vocabulary axis.")
def logprobs_match_reference(ctx):
    token_logprobs = ctx.function("token_logprobs")
    rng = np.random.default_rng(ctx.seed + 1)
    for scale, dtype in [(3.0, torch.float64), (2000.0, torch.float64), (3.0, torch.float32)]:
        logits = rng.normal(size=(2, 7, 13)) * scale  # (B, T, V)
        targets = rng.integers(0, 13, size=(2, 7))
        got = token_logprobs(torch.from_numpy(logits).to(dtype), torch.from_numpy(targets))
        tolerance = 1e-10 if dtype == torch.float64 else 1e-5
        expect_close(got, _logprobs_reference(logits, targets),
                     f"log-probs for logits of size ~{scale:g} in {dtype}",
                     atol=tolerance, rtol=tolerance, dtype=dtype)


@check("a model that knows nothing (equal logits) has a perplexity equal to the vocabulary size",
       hint="equal logits give every one of V tokens probability 1/V.")
def uniform_model_perplexity(ctx):
    token_logprobs = ctx.function("token_logprobs")
    perplexity = ctx.function("perplexity_from_logprobs")
    for vocab_size in (2, 50, 32000):
        logits = torch.full((1, 3, vocab_size), 4.2, dtype=torch.float64)
        targets = torch.tensor([[0, vocab_size - 1, vocab_size // 2]])
        got = _as_python_float(perplexity(token_logprobs(logits, targets)), "perplexity")
        expect_close(got, float(vocab_size), f"perplexity of equal logits over {vocab_size} tokens",
                     atol=0, rtol=1e-9)


TINY = ModelConfig(dim=16, n_layers=2, n_heads=2, vocab_size=37, multiple_of=8, max_seq_len=16)
PAD = 0


def _prefix_by_prefix_perplexity(model, tokens: torch.Tensor) -> float:
    """Score token t from the prefix tokens[:t] alone, one forward pass per prefix."""
    logprobs, counted = [], []
    with torch.no_grad():
        for t in range(1, tokens.shape[1]):
            last = model(tokens[:, :t])[:, -1].numpy()  # (B, V): the prediction for token t
            target = tokens[:, t].numpy()
            logprobs.append(_logprobs_reference(last, target))
            counted.append(target != PAD)
    return _perplexity(np.stack(logprobs, 1), np.stack(counted, 1))


@check("sequence_perplexity of the library's model matches prefix-by-prefix scoring (float64)",
       hint="the logits at position t predict token t + 1: drop the last input and the first "
            "target; the pad mask is about targets, not inputs.")
def model_perplexity(ctx):
    sequence_perplexity = ctx.function("sequence_perplexity")
    torch.manual_seed(ctx.seed)
    model = build_model(TINY).double().eval()
    generator = torch.Generator().manual_seed(ctx.seed)
    tokens = torch.randint(1, TINY.vocab_size, (3, 12), generator=generator)
    tokens[1, 8:] = PAD  # a shorter sequence, padded at the end
    tokens[2, 5:] = PAD
    got = _as_python_float(sequence_perplexity(model, tokens, PAD), "sequence_perplexity")
    expected = _prefix_by_prefix_perplexity(model, tokens)
    # NOTE: the model's RMSNorm computes in float32, so batched and prefix passes differ ~1e-7
    expect_close(got, expected, "perplexity of a random model on padded sequences",
                 atol=0, rtol=1e-6)
    unpadded = tokens[:1]
    got = _as_python_float(sequence_perplexity(model, unpadded), "sequence_perplexity")
    expect_close(got, _prefix_by_prefix_perplexity(model, unpadded),
                 "perplexity without a pad id", atol=0, rtol=1e-6)
