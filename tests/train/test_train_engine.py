"""The engine's step: loss, gradient accumulation, autocast and activation checkpointing."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from auroragpt.config import ModelConfig, TrainConfig
from auroragpt.model import build_model
from auroragpt.train.engine import LocalEngine, next_token_loss
from auroragpt.train.optim import param_groups

MODEL = ModelConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=97, multiple_of=16,
                    max_seq_len=24)
CPU = torch.device("cpu")


def batch(n: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, MODEL.vocab_size, (n, MODEL.max_seq_len + 1), generator=gen)


def fresh_model(seed: int = 0):
    torch.manual_seed(seed)
    return build_model(MODEL)


def test_next_token_loss_is_float64_cross_entropy():
    tokens = batch(3)
    logits = torch.randn(3, MODEL.max_seq_len, MODEL.vocab_size)
    log_probs = logits.double().log_softmax(-1)  # (B, S, V)
    expected = -log_probs.gather(-1, tokens[:, 1:, None]).mean()
    torch.testing.assert_close(next_token_loss(logits, tokens).double(), expected,
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("grad_clip", [0.0, 0.05])
def test_accumulated_micro_batches_equal_one_big_batch(grad_clip):
    """4 micro-batches of 2 give the update of one batch of 8, computed without the engine.

    NOTE: a large AdamW epsilon: Adam's first update is about lr * sign(g), which turns
    rounding-level differences of near-zero gradients into full-size differences.
    """
    cfg = TrainConfig(lr=1e-2, min_lr=0.0, warmup_steps=0, max_steps=10, grad_clip=grad_clip,
                      weight_decay=0.1, eps=1e-3, dtype="fp32")
    tokens = batch(8)
    model = fresh_model()
    reference = copy.deepcopy(model)

    engine = LocalEngine(model, cfg, CPU)
    result = engine.train_step(list(tokens.split(2)), lr=1e-2)

    # Reference: plain full-batch loss, backward, clipping and AdamW.
    logits = reference(tokens[:, :-1])
    loss = F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())
    loss.backward()
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in reference.parameters()]))
    if grad_clip:
        for p in reference.parameters():
            p.grad.mul_(min(1.0, grad_clip / (float(norm) + 1e-6)))
    optimizer = torch.optim.AdamW(param_groups(reference, 0.1), lr=1e-2, betas=(0.9, 0.95),
                                  eps=1e-3)
    optimizer.step()

    assert result.loss == pytest.approx(loss.item(), rel=1e-5)
    assert result.grad_norm == pytest.approx(norm.item(), rel=1e-4)
    for (name, p), q in zip(model.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)


def test_eval_loss_matches_forward():
    model = fresh_model()
    engine = LocalEngine(model, TrainConfig(dtype="fp32"), CPU)
    tokens = batch(4, seed=1)
    with torch.no_grad():
        expected = F.cross_entropy(model(tokens[:, :-1]).flatten(0, 1), tokens[:, 1:].flatten())
    assert engine.eval_loss(tokens) == pytest.approx(expected.item(), rel=1e-6)


def test_bf16_autocast_on_cpu_is_used_and_close():
    tokens = batch(4, seed=2)
    fp32 = LocalEngine(fresh_model(), TrainConfig(dtype="fp32"), CPU).eval_loss(tokens)
    bf16_engine = LocalEngine(fresh_model(), TrainConfig(dtype="bf16"), CPU)
    assert bf16_engine.dtype == torch.bfloat16
    bf16 = bf16_engine.eval_loss(tokens)
    assert bf16 != fp32  # bf16 matmuls round differently, so autocast really ran
    assert bf16 == pytest.approx(fp32, rel=2e-2)


def test_activation_checkpointing_keeps_names_and_gradients():
    cfg = TrainConfig(lr=1e-2, warmup_steps=0, max_steps=10, dtype="fp32")
    plain, checkpointed = fresh_model(), fresh_model()
    names = list(plain.state_dict())
    LocalEngine(plain, cfg, CPU).train_step([batch(2)], lr=1e-2)
    engine = LocalEngine(checkpointed, replace(cfg, activation_checkpointing=True), CPU)
    engine.train_step([batch(2)], lr=1e-2)
    assert list(checkpointed.state_dict()) == names
    for (name, p), q in zip(plain.named_parameters(), checkpointed.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.slow
def test_compiled_engine_matches_eager():
    cfg = TrainConfig(lr=1e-2, warmup_steps=0, max_steps=10, dtype="fp32")
    eager, compiled = fresh_model(), fresh_model()
    a = LocalEngine(eager, cfg, CPU).train_step([batch(2)], lr=1e-2)
    b = LocalEngine(compiled, replace(cfg, compile=True), CPU).train_step([batch(2)], lr=1e-2)
    assert b.loss == pytest.approx(a.loss, rel=1e-5)
