"""Exercise 10: perplexity, the number behind "how good is this checkpoint".

Fill in the three functions below, then check your work from the repository root:

    auroragpt exercises check 10
    auroragpt exercises check 10 --file my_copy.py

Work from log-probabilities throughout: probabilities of long texts underflow to zero, and
logits of a trained model are large enough to overflow a naive softmax.
"""

import torch


def perplexity_from_logprobs(logprobs: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """Perplexity of a text given the log-probability (natural log) of each of its tokens.

    logprobs: (B, T), entry [b, t] is log p(token t | tokens before it) of sequence b.
    mask: None, or a (B, T) bool tensor, True where a token counts (padding is False).
    Perplexity is exp of the negative mean log-probability over the tokens that count.
    Returns a Python float.
    """
    # TODO: the mean over counted tokens only, then exp of its negative
    raise NotImplementedError("TODO: perplexity_from_logprobs")


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Log-probability of each target token under the model's logits.

    logits: (B, T, V), the model's scores for the token that follows each position.
    targets: (B, T) token ids, the token that actually followed.
    Returns (B, T): log softmax(logits[b, t])[targets[b, t]], finite even for logits in the
    thousands, in the dtype of the logits.
    """
    # TODO: a numerically stable log-softmax over the vocabulary, then pick each target's entry
    raise NotImplementedError("TODO: token_logprobs")


def sequence_perplexity(model: torch.nn.Module, tokens: torch.Tensor,
                        pad_id: int | None = None) -> float:
    """Perplexity of a causal language model on sequences of token ids.

    tokens: (B, T) ids; model(tokens[:, :-1]) returns logits (B, T - 1, V) for predicting
    tokens[:, 1:]. Positions whose *target* is pad_id do not count. Use the two functions
    above, and no gradients.
    """
    # TODO 1: logits for every position but the last, under torch.no_grad()
    # TODO 2: the log-probability of each next token, then the perplexity over those that count
    raise NotImplementedError("TODO: sequence_perplexity")
