"""The alpha-beta all-reduce formulas against step-by-step simulations of the algorithms.

The simulations move real numpy chunks between simulated ranks, check that every rank ends
with the sum, and charge each communication step `alpha + (largest message of the step) * beta`
(all ranks send in parallel within a step). Nothing in them uses the closed forms.
"""

import numpy as np
import pytest

from auroragpt.distributed.cost_model import (
    fit_alpha_beta,
    ring_allreduce_s,
    tree_allreduce_s,
)

ALPHA, BETA = 5e-6, 1e-10  # 5 us latency, 10 GB/s


def simulate_ring(data: np.ndarray, alpha: float, beta: float) -> tuple[np.ndarray, float]:
    """Ring reduce-scatter then all-gather over data (p, n); returns every rank's result, time."""
    p, n = data.shape
    assert n % p == 0
    chunks = [list(np.split(row.astype(np.float64).copy(), p)) for row in data]
    seconds = 0.0
    for phase in ("reduce-scatter", "all-gather"):
        for step in range(p - 1):
            # rank r sends one chunk to rank r+1: in reduce-scatter chunk (r - step) mod p,
            # in all-gather chunk (r + 1 - step) mod p; all sends of a step happen at once
            sends = []
            for rank in range(p):
                index = (rank - step) % p if phase == "reduce-scatter" else (rank + 1 - step) % p
                sends.append((rank, index, chunks[rank][index].copy()))
            for rank, index, payload in sends:
                receiver = (rank + 1) % p
                if phase == "reduce-scatter":
                    chunks[receiver][index] = chunks[receiver][index] + payload
                else:
                    chunks[receiver][index] = payload
            seconds += alpha + max(s[2].nbytes for s in sends) * beta
    return np.stack([np.concatenate(c) for c in chunks]), seconds


def simulate_tree(data: np.ndarray, alpha: float, beta: float) -> tuple[np.ndarray, float]:
    """Binary-tree reduce to rank 0, then broadcast back down the same tree."""
    p = data.shape[0]
    values = [row.astype(np.float64).copy() for row in data]
    seconds, distance, levels = 0.0, 1, []
    while distance < p:
        pairs = [(r, r - distance) for r in range(p) if r % (2 * distance) == distance]
        for sender, receiver in pairs:
            values[receiver] = values[receiver] + values[sender]
        seconds += alpha + values[0].nbytes * beta
        levels.append(pairs)
        distance *= 2
    for pairs in reversed(levels):
        for child, parent in pairs:
            values[child] = values[parent].copy()
        seconds += alpha + values[0].nbytes * beta
    return np.stack(values), seconds


@pytest.mark.parametrize("ranks", [1, 2, 3, 4, 8, 12])
def test_ring_formula_equals_the_simulated_ring(ranks):
    data = np.random.default_rng(ranks).normal(size=(ranks, 24 * ranks))
    result, seconds = simulate_ring(data, ALPHA, BETA)
    np.testing.assert_allclose(result, np.broadcast_to(data.sum(0), data.shape), rtol=1e-12)
    assert ring_allreduce_s(data[0].astype(np.float64).nbytes, ranks, ALPHA, BETA) == \
        pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize("ranks", [1, 2, 3, 5, 8, 12])
def test_tree_formula_equals_the_simulated_tree(ranks):
    data = np.random.default_rng(ranks).normal(size=(ranks, 40))
    result, seconds = simulate_tree(data, ALPHA, BETA)
    np.testing.assert_allclose(result, np.broadcast_to(data.sum(0), data.shape), rtol=1e-12)
    assert tree_allreduce_s(data[0].nbytes, ranks, ALPHA, BETA) == pytest.approx(seconds, rel=1e-12)


def test_ring_wins_for_large_messages_and_tree_for_small_ones_at_scale():
    ranks = 1024
    assert tree_allreduce_s(8, ranks, ALPHA, BETA) < ring_allreduce_s(8, ranks, ALPHA, BETA)
    assert ring_allreduce_s(1 << 30, ranks, ALPHA, BETA) < tree_allreduce_s(1 << 30, ranks, ALPHA, BETA)
    # the ring's bandwidth term tends to 2 n beta: twice the message, whatever the rank count
    assert ring_allreduce_s(1 << 30, ranks, 0.0, BETA) == pytest.approx(2 * (1 << 30) * BETA, rel=1e-2)


def test_fit_recovers_alpha_and_beta_from_simulated_ring_times():
    ranks = 4
    sizes, seconds = [], []
    for elements in (4, 4096, 65536, 1 << 20):
        data = np.zeros((ranks, elements))
        _, t = simulate_ring(data, ALPHA, BETA)
        sizes.append(data[0].nbytes)
        seconds.append(t)
    alpha, beta = fit_alpha_beta(sizes, seconds, ranks)
    assert alpha == pytest.approx(ALPHA, rel=1e-6)
    assert beta == pytest.approx(BETA, rel=1e-6)


@pytest.mark.parametrize("call, message", [
    (lambda: ring_allreduce_s(8, 0, ALPHA, BETA), "ranks=0"),
    (lambda: fit_alpha_beta([8, 8], [1.0, 1.0], 2), "two distinct"),
    (lambda: fit_alpha_beta([8, 16], [1.0, 2.0], 1), "ranks >= 2"),
])
def test_bad_arguments_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()

