"""AdamW with weight decay on weight matrices only, and the warm-up + cosine learning-rate schedule.

The schedule is a pure function of the step, so resuming needs nothing but the step number and
any rank can compute it: there is no scheduler object whose state could drift.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from auroragpt.config import TrainConfig


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Split parameters into a decayed group (weight matrices) and an undecayed one.

    NOTE: norms (1-D gains) and embeddings are not decayed. Decay pulls a norm gain towards
    zero instead of towards its neutral value 1, and it shrinks the embedding row of a rare
    token on every step in which that token gets no gradient to push back.
    """
    embedding_ids = {
        id(p) for module in model.modules() if isinstance(module, nn.Embedding)
        for p in module.parameters(recurse=False)
    }
    decay, no_decay = [], []
    for param in model.parameters():  # shared (tied) parameters are yielded once
        if not param.requires_grad:
            continue
        if param.ndim < 2 or id(param) in embedding_ids:
            no_decay.append(param)
        else:
            decay.append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW over `param_groups(model)`; the learning rate is set every step by `lr_at`."""
    return torch.optim.AdamW(
        param_groups(model, cfg.weight_decay),
        lr=lr_at(0, cfg),
        betas=(cfg.beta1, cfg.beta2),
        eps=cfg.eps,
    )


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate of the optimizer update with 0-based index `step`.

    Linear warm-up over the first `warmup_steps` updates, reaching `lr` at the last of them:
        lr * (step + 1) / warmup_steps                          for step < warmup_steps
    then cosine decay from `lr` to `min_lr` over `decay_steps` updates (default: the rest of
    `max_steps`), and `min_lr` after that:
        min_lr + (lr - min_lr) * (1 + cos(pi * progress)) / 2,
        progress = min(1, (step - warmup_steps) / decay_steps)
    """
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    decay_steps = cfg.decay_steps if cfg.decay_steps is not None else cfg.max_steps - cfg.warmup_steps
    if decay_steps <= 0:
        return cfg.min_lr
    progress = min(1.0, (step - cfg.warmup_steps) / decay_steps)
    return cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
