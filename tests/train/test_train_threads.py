"""The CPU thread choice: a given count is used as is; a measured one keeps the faster."""

from __future__ import annotations

import pytest
import torch

from auroragpt.train import threads


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_requested_count_is_used():
    assert threads.choose_cpu_threads(1) == (1, "train.cpu_threads")
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("many_s,one_s,expected", [
    (0.5, 1.0, "all"),  # idle machine: more threads win
    (4.0, 1.0, 1),  # busy machine: stalled threads make every operator slow
    (0.95, 1.0, 1),  # a tie keeps one thread and leaves the other cores free
])
def test_measured_choice_keeps_the_faster(monkeypatch, many_s, one_s, expected):
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    torch.set_num_threads(4)
    monkeypatch.setattr(threads, "_probe_seconds",
                        lambda n: one_s if n == 1 else many_s)
    chosen, why = threads.choose_cpu_threads(0)
    assert chosen == (4 if expected == "all" else 1)
    assert torch.get_num_threads() == chosen
    assert f"{one_s / many_s:.2f}x" in why
