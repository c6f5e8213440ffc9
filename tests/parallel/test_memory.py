"""The state-bytes measurement against the byte count the shapes imply."""

import pytest
import torch

from auroragpt.config import count_parameters, get_preset
from auroragpt.model import build_model
from auroragpt.parallel import PeakStateBytes, tensor_storage_bytes


@pytest.mark.parametrize("tie_embeddings", [False, True])
def test_plain_model_with_adamw_holds_four_fp32_copies(tie_embeddings):
    cfg = get_preset("debug").model
    cfg.tie_embeddings = tie_embeddings
    model = build_model(cfg)
    optimizer = torch.optim.AdamW(model.parameters())
    tokens = torch.randint(0, cfg.vocab_size, (2, 9))
    model(tokens).float().mean().backward()
    optimizer.step()  # creates exp_avg, exp_avg_sq and a scalar step per parameter tensor

    params = count_parameters(cfg)  # tied weights counted once
    n_tensors = len(list(model.parameters()))
    rope_bytes = cfg.max_seq_len * cfg.head_dim * 4  # (T, hd/2, 2) fp32 table
    expected = 4 * (params + params + 2 * params) + 4 * n_tensors + rope_bytes
    assert tensor_storage_bytes(model, optimizer) == expected


def test_views_and_repeated_roots_count_once():
    base = torch.zeros(1000)
    holder = {"a": base, "b": base[10:20], "c": [base.view(10, 100)]}
    assert tensor_storage_bytes(holder, base, [holder]) == 4000


def test_gradients_are_found_through_parameters():
    layer = torch.nn.Linear(10, 10, bias=False)
    assert tensor_storage_bytes(layer) == 400
    layer(torch.ones(1, 10)).sum().backward()
    assert tensor_storage_bytes(layer) == 800


def test_peak_before_the_update_sees_gradients_and_adam_state():
    cfg = get_preset("debug").model
    model = build_model(cfg)
    optimizer = torch.optim.AdamW(model.parameters())
    peak = PeakStateBytes((model, optimizer), optimizer)
    for _ in range(2):  # AdamW's state exists from the second update on
        model(torch.randint(0, cfg.vocab_size, (2, 9))).float().mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)  # gradients are gone after the step
    peak.remove()

    params = count_parameters(cfg)
    n_tensors = len(list(model.parameters()))
    rope_bytes = cfg.max_seq_len * cfg.head_dim * 4
    assert peak.bytes == 4 * 4 * params + 4 * n_tensors + rope_bytes
    assert tensor_storage_bytes(model, optimizer) == peak.bytes - 4 * params  # no gradients
