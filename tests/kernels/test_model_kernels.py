"""The model through `model.kernels`: Triton (interpreted on CPU) trains exactly as torch does,
and the loss from targets equals eager cross-entropy of the full logits."""

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from kernel_checks import DEVICE, needs_triton

from auroragpt.config import ConfigError, ModelConfig, TrainConfig
from auroragpt.model import build_model
from auroragpt.train.engine import LocalEngine

MODEL = ModelConfig(dim=32, n_layers=2, n_heads=2, n_kv_heads=1, vocab_size=61, multiple_of=16,
                    max_seq_len=7)


def tokens(seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, MODEL.vocab_size, (2, MODEL.max_seq_len + 1), generator=gen)


def test_loss_from_targets_equals_cross_entropy_of_the_logits():
    torch.manual_seed(0)
    model = build_model(replace(MODEL, kernels="torch"))
    batch = tokens(0)
    fused = model(batch[:, :-1], targets=batch[:, 1:])
    logits = model(batch[:, :-1])  # (B, T, V)
    eager = F.cross_entropy(logits.double().flatten(0, 1), batch[:, 1:].flatten())
    torch.testing.assert_close(fused.double(), eager, rtol=1e-6, atol=1e-6)


@needs_triton
def test_training_with_triton_kernels_equals_training_with_torch():
    """Three AdamW steps: every loss and every final weight agree to fp32 rounding."""
    cfg = TrainConfig(lr=1e-2, min_lr=0.0, warmup_steps=0, max_steps=3, eps=1e-3, dtype="fp32")
    models = []
    for kernels, device in (("torch", "cpu"), ("triton", DEVICE)):
        torch.manual_seed(0)  # the same initial weights
        models.append(build_model(replace(MODEL, kernels=kernels), device))
    reference, model = models
    engines = [LocalEngine(m, cfg, m.rope.device) for m in models]
    for step in range(3):
        batch = tokens(step)
        expected, got = (e.train_step([batch], lr=1e-2) for e in engines)
        assert got.loss == pytest.approx(expected.loss, rel=1e-5)
        assert got.grad_norm == pytest.approx(expected.grad_norm, rel=1e-4)
    for (name, want), have in zip(reference.state_dict().items(), model.state_dict().values(),
                                  strict=True):
        torch.testing.assert_close(have.cpu(), want, rtol=1e-5, atol=1e-6, msg=name)


def test_an_unknown_kernels_value_is_refused():
    with pytest.raises(ConfigError, match="model.kernels='cuda': expected one of"):
        replace(MODEL, kernels="cuda").validate()
