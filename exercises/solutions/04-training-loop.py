"""Reference solution of exercise 04: gradient accumulation and MFU."""

import json

import torch
import torch.nn.functional as F

from auroragpt.config import ModelConfig


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, tokens: torch.Tensor,
               micro_batch_size: int) -> float:
    """One optimizer step on tokens (B, T + 1), accumulated over micro-batches."""
    batch_size = tokens.shape[0]
    if batch_size % micro_batch_size:
        raise ValueError(f"micro_batch_size={micro_batch_size} does not divide the batch of "
                         f"{batch_size} sequences")
    n_micro = batch_size // micro_batch_size
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    for micro in tokens.split(micro_batch_size):  # (mb, T + 1) each
        inputs, targets = micro[:, :-1], micro[:, 1:]
        logits = model(inputs)  # (mb, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        # every micro-batch has the same number of tokens, so the global mean is the mean of
        # the micro-batch means; dividing before backward makes the gradients add up to it
        (loss / n_micro).backward()
        total += loss.item()
    optimizer.step()
    return total / n_micro


def flops_per_token(cfg: ModelConfig) -> float:
    """6 FLOPs per matmul weight per token plus 12 * n_layers * dim * seq_len for attention."""
    d, hd = cfg.dim, cfg.head_dim
    attention = d * cfg.n_heads * hd * 2 + d * cfg.kv_heads * hd * 2  # wq, wo; wk, wv
    feed_forward = 3 * d * cfg.ffn_hidden_dim  # w1, w2, w3
    matmul_weights = cfg.n_layers * (attention + feed_forward) + cfg.vocab_size * d  # + output
    return 6.0 * matmul_weights + 12.0 * cfg.n_layers * d * cfg.max_seq_len


def mfu(metrics_path: str, cfg: ModelConfig, peak_tflops: float, n_devices: int,
        warmup_steps: int = 1) -> float:
    """Mean post-warm-up tokens/s times FLOPs per token, over the devices' peak FLOP/s."""
    rates = []
    with open(metrics_path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            record = json.loads(line)
            if "tokens_per_s" in record and record["step"] > warmup_steps:
                rates.append(record["tokens_per_s"])
    achieved = sum(rates) / len(rates) * flops_per_token(cfg)  # FLOP/s
    return achieved / (n_devices * peak_tflops * 1e12)
