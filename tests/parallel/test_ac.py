"""Activation checkpointing: what each mode recomputes in backward, and that no number moves.

The reference is the same model without checkpointing. What a mode recomputes is read off
the aten ops that run during backward: full checkpointing reruns a block's matrix
multiplies; selective keeps their outputs and reruns only the cheap ops (SiLU here).
"""

from collections import Counter

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from auroragpt.config import get_preset
from auroragpt.model import build_model
from auroragpt.parallel.ac import apply_ac
from auroragpt.train.engine import next_token_loss


class OpCounter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.counts = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def backward_ops(mode: str) -> tuple[Counter, dict[str, torch.Tensor]]:
    cfg = get_preset("debug").model
    torch.manual_seed(0)
    model = build_model(cfg)
    apply_ac(model, mode)
    tokens = torch.randint(0, cfg.vocab_size, (2, 33), generator=torch.Generator().manual_seed(1))
    loss = next_token_loss(model(tokens[:, :-1]), tokens)
    with OpCounter() as counter:
        loss.backward()
    return counter.counts, {n: p.grad for n, p in model.named_parameters()}


@pytest.fixture(scope="module")
def by_mode():
    return {mode: backward_ops(mode) for mode in ("none", "full", "selective")}


@pytest.mark.parametrize("mode", ["full", "selective"])
def test_checkpointing_changes_no_gradient(by_mode, mode):
    for name, grad in by_mode["none"][1].items():
        torch.testing.assert_close(by_mode[mode][1][name], grad, rtol=0, atol=0, msg=name)


def test_full_reruns_matmuls_and_selective_only_cheap_ops(by_mode):
    none, full, selective = (by_mode[m][0] for m in ("none", "full", "selective"))
    layers = get_preset("debug").model.n_layers
    attention = "_scaled_dot_product_flash_attention_for_cpu"
    assert none["silu"] == none["rsqrt"] == none[attention] == 0
    # full: the block runs forward again, up to the last tensor backward needs (measured: 6 of
    # its 7 projections; wo's output is never needed)
    assert full["mm"] - none["mm"] == 6 * layers
    assert full[attention] == full["silu"] == layers
    # selective: matmul and attention outputs kept; SiLU runs again, norms are stored
    assert selective["mm"] == none["mm"] and selective[attention] == 0
    assert selective["silu"] == layers and selective["rsqrt"] == 0
