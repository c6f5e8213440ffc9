"""The schedule against its formula, and AdamW's weight decay on exactly the weight matrices."""

from __future__ import annotations

import math

import pytest
import torch

from auroragpt.config import ModelConfig, TrainConfig
from auroragpt.model import build_model
from auroragpt.train.optim import build_optimizer, lr_at, param_groups


def formula_lr(step: int, peak: float, floor: float, warmup: int, decay: int) -> float:
    """Linear warm-up to `peak` over `warmup` updates, then half a cosine down to `floor`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    t = min(step - warmup, decay) / decay
    return floor + (peak - floor) * (1 + math.cos(math.pi * t)) / 2


@pytest.mark.parametrize("decay_steps", [None, 50])
def test_lr_schedule_matches_formula(decay_steps):
    cfg = TrainConfig(lr=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=110,
                      decay_steps=decay_steps)
    decay = decay_steps or 100
    for step in range(130):
        assert lr_at(step, cfg) == pytest.approx(formula_lr(step, 1e-3, 1e-4, 10, decay),
                                                 rel=1e-12)


def test_lr_schedule_landmarks():
    cfg = TrainConfig(lr=2e-3, min_lr=2e-4, warmup_steps=4, max_steps=104)
    assert lr_at(0, cfg) == pytest.approx(5e-4)  # a quarter of the way up
    assert lr_at(3, cfg) == pytest.approx(2e-3)  # the peak, at the last warm-up update
    assert lr_at(4, cfg) == pytest.approx(2e-3)  # cosine starts at the peak
    assert lr_at(54, cfg) == pytest.approx(1.1e-3)  # half way: the mean of peak and floor
    assert lr_at(104, cfg) == pytest.approx(2e-4)
    assert lr_at(500, cfg) == pytest.approx(2e-4)  # stays at the floor
    decaying = [lr_at(s, cfg) for s in range(4, 105)]
    assert all(a >= b for a, b in zip(decaying, decaying[1:], strict=False))


def test_no_warmup_starts_at_peak():
    cfg = TrainConfig(lr=1e-3, min_lr=0.0, warmup_steps=0, max_steps=10)
    assert lr_at(0, cfg) == pytest.approx(1e-3)
    assert lr_at(10, cfg) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("tie", [False, True])
def test_decay_groups_hold_exactly_the_weight_matrices(tie):
    cfg = ModelConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=64,
                      multiple_of=16, max_seq_len=16, tie_embeddings=tie)
    model = build_model(cfg)
    decay, no_decay = param_groups(model, weight_decay=0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    expected = {n for n, p in model.named_parameters()
                if p.ndim == 2 and not n.startswith("tok_embeddings")}
    assert decayed == expected
    assert all(".w" in n or n == "output.weight" for n in decayed)  # wq..wo, w1..w3, output
    assert {names[id(p)] for p in no_decay["params"]} == set(names.values()) - expected
    assert no_decay["weight_decay"] == 0.0
    # every parameter exactly once, shared (tied) ones included
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_adamw_decays_only_matrices():
    """With zero gradients AdamW's update is pure decay: p <- p * (1 - lr * wd)."""
    cfg = ModelConfig(dim=32, n_layers=1, n_heads=4, vocab_size=64, multiple_of=16,
                      max_seq_len=16)
    model = build_model(cfg)
    with torch.no_grad():
        for block in model.layers.values():  # norms away from 1 so a decay would show
            block.attention_norm.weight.fill_(1.5)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    train_cfg = TrainConfig(lr=0.1, min_lr=0.0, warmup_steps=0, weight_decay=0.5, max_steps=10)
    optimizer = build_optimizer(model, train_cfg)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    for name, p in model.named_parameters():
        if p.ndim == 2 and not name.startswith("tok_embeddings"):
            torch.testing.assert_close(p, before[name] * (1 - 0.1 * 0.5))
        else:
            assert torch.equal(p, before[name]), name
