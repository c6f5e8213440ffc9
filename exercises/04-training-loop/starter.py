"""Exercise 04: one training step with gradient accumulation, and MFU from a metrics file.

Fill in the functions below, then check your work from the repository root:

    auroragpt exercises check 04
    auroragpt exercises check 04 --file my_copy.py

Part A is the heart of every training loop: a global batch too big for one forward pass is
split into micro-batches whose gradients add up to exactly the big batch's gradient.
Part B turns a run's logged throughput into model FLOPs utilisation (MFU). Count the FLOPs
yourself: auroragpt.config.flops_per_token and count_parameters are the checks' references.
"""

import torch

from auroragpt.config import ModelConfig

# ----------------------------------------------------------------------------------------------
# Part A: a training step with gradient accumulation
# ----------------------------------------------------------------------------------------------


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, tokens: torch.Tensor,
               micro_batch_size: int) -> float:
    """One optimizer step on a global batch, in micro-batches of `micro_batch_size` sequences.

    tokens: (B, T + 1) token ids; inputs are tokens[:, :-1] and targets tokens[:, 1:].
    model(inputs) returns logits (b, T, vocab). The loss is the mean cross-entropy over every
    target token of the global batch, and the step must change the parameters exactly as one
    step on the whole batch at once would (gradients left over from before must not count).
    Returns that global-batch loss as a Python float.
    Raises ValueError when micro_batch_size does not divide B.
    """
    # TODO 1: refuse a micro_batch_size that does not divide the batch
    # TODO 2: clear old gradients
    # TODO 3: for each micro-batch: forward, loss, scale it so the gradients add up to the
    #         global-batch gradient, backward
    # TODO 4: one optimizer step; return the global-batch loss
    raise NotImplementedError("TODO: train_step")


# ----------------------------------------------------------------------------------------------
# Part B: model FLOPs utilisation
# ----------------------------------------------------------------------------------------------


def flops_per_token(cfg: ModelConfig) -> float:
    """Training FLOPs (forward + backward) per token of a model with this config.

    6 FLOPs per token for every weight of a matrix multiplication (2 in the forward pass, 4 in
    the backward pass), plus the attention scores and weighted values: 12 * n_layers * dim *
    seq_len, with seq_len = cfg.max_seq_len. Matrix weights are wq, wk, wv, wo and w1, w2, w3 of
    every layer and the output projection (vocab_size x dim, counted even when tied to the
    embedding). The embedding lookup and the norms are not matrix multiplications.
    Useful: cfg.head_dim, cfg.kv_heads, cfg.ffn_hidden_dim.
    """
    # TODO 1: the weights of one layer's attention (mind grouped-query attention: wk and wv
    #         have cfg.kv_heads heads) and feed-forward
    # TODO 2: 6 * (all matrix weights) + the attention term
    raise NotImplementedError("TODO: flops_per_token")


def mfu(metrics_path: str, cfg: ModelConfig, peak_tflops: float, n_devices: int,
        warmup_steps: int = 1) -> float:
    """Model FLOPs utilisation of a run, from its metrics.jsonl.

    Each line of the file is a JSON object. Lines with a `tokens_per_s` field (tokens per
    second over all devices) are throughput measurements; lines without one (evaluation-only
    lines) and blank lines are skipped, and so are lines whose `step` is <= warmup_steps
    (the first steps include start-up work). MFU is the mean of the remaining `tokens_per_s`
    times flops_per_token(cfg), divided by what the devices could do at peak:
    n_devices * peak_tflops * 1e12 FLOP/s. Returns a fraction (0.42, not 42).
    """
    # TODO 1: read the throughput of the steps after warm-up
    # TODO 2: achieved FLOP/s over peak FLOP/s
    raise NotImplementedError("TODO: mfu")
