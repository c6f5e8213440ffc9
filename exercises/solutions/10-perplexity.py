"""Reference solution of exercise 10: perplexity from log-probs, logits and a model."""

import torch


def perplexity_from_logprobs(logprobs: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """exp(-mean log p) over the tokens where mask is True (all tokens without a mask)."""
    if mask is None:
        mask = torch.ones_like(logprobs, dtype=torch.bool)
    mean_logprob = logprobs[mask].sum() / mask.sum()
    return float(torch.exp(-mean_logprob))


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(B, T) log-probabilities of the targets; log_softmax subtracts the max, so no overflow."""
    logp = torch.log_softmax(logits, dim=-1)  # (B, T, V)
    return logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T)


def sequence_perplexity(model: torch.nn.Module, tokens: torch.Tensor,
                        pad_id: int | None = None) -> float:
    """Perplexity of `model` on tokens (B, T), predicting tokens[:, 1:] from their prefixes."""
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    with torch.no_grad():
        logprobs = token_logprobs(model(inputs), targets)  # (B, T - 1)
    mask = None if pad_id is None else targets != pad_id
    return perplexity_from_logprobs(logprobs, mask)
