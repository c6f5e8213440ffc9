"""Checks of exercise 06: per-rank bytes against the ZeRO paper's accounting and against the
bytes 2 real ranks hold (DDP and FSDP2 on gloo), the rank count against a brute-force search,
and the ring all-reduce's time against a step-by-step simulation of the ring."""

import json
import os
import random
import subprocess
import sys
import textwrap

import numpy as np

from auroragpt.exercise_checker.checking import CheckFailed, check, expect_close

STRATEGIES = ("ddp", "zero1", "zero2", "zero3", "fsdp")
PARTS = ("parameters", "gradients", "optimizer")


def _paper_total(n_params: int, ranks: int, strategy: str, precision: str) -> float:
    """The ZeRO paper's per-device totals (section 5), with K bytes of optimizer state."""
    w, g, k = (4, 4, 8) if precision == "fp32" else (2, 2, 12)
    return {"ddp": (w + g + k) * n_params,
            "zero1": (w + g) * n_params + k * n_params / ranks,
            "zero2": w * n_params + (g + k) * n_params / ranks}.get(
        strategy, (w + g + k) * n_params / ranks)


def _parts(result, what: str) -> dict[str, float]:
    if not isinstance(result, dict) or set(result) != set(PARTS):
        raise CheckFailed(f"{what}: expected a dict with keys {list(PARTS)}, got {result!r:.80}")
    return {name: float(result[name]) for name in PARTS}


@check("per-rank bytes follow the ZeRO paper for every strategy, precision and rank count",
       hint="list, for each strategy, which of parameters / gradients / optimizer it divides by "
            "the number of ranks; bf16 mixed precision keeps 12 bytes of fp32 optimizer state")
def paper_accounting(ctx):
    state_bytes = ctx.function("state_bytes_per_rank")
    rng = random.Random(ctx.seed)
    for _ in range(40):
        n_params, ranks = rng.randint(1, 10**10), rng.choice([1, 2, 3, 8, 12, 1024])
        strategy, precision = rng.choice(STRATEGIES), rng.choice(["fp32", "bf16"])
        what = f"state_bytes_per_rank({n_params}, {ranks}, {strategy!r}, {precision!r})"
        parts = _parts(state_bytes(n_params, ranks, strategy, precision), what)
        expect_close(sum(parts.values()), _paper_total(n_params, ranks, strategy, precision),
                     f"{what}: the total", rtol=1e-9, atol=1e-6)
    parts = _parts(state_bytes(1000, 4, "zero2", "fp32"), "zero2 on 4 ranks")
    expect_close(parts["parameters"], 4000, "zero2 on 4 ranks: parameters (whole on every rank)")
    expect_close(parts["gradients"], 1000, "zero2 on 4 ranks: gradients (sharded)")


@check("bad arguments raise ValueError",
       hint="check the strategy and precision against the names in the docstring, and ranks >= 1")
def bad_arguments(ctx):
    state_bytes = ctx.function("state_bytes_per_rank")
    for args in ((10, 2, "zero4", "fp32"), (10, 2, "ddp", "fp8"), (10, 0, "fsdp", "fp32")):
        try:
            state_bytes(*args)
        except ValueError:
            continue
        raise CheckFailed(f"state_bytes_per_rank{args} did not raise ValueError")


_MEASURE = textwrap.dedent("""
    import json, sys
    import torch
    import torch.distributed as dist
    from torch.distributed.fsdp import fully_shard
    from torch.nn.parallel import DistributedDataParallel as DDP
    from auroragpt.config import ModelConfig
    from auroragpt.distributed import teardown
    from auroragpt.model import build_model
    from auroragpt.parallel import tensor_storage_bytes

    dist.init_process_group("gloo")
    cfg = ModelConfig(dim=64, n_layers=2, n_heads=4, vocab_size=128, multiple_of=32,
                      max_seq_len=16)
    result = {}
    for strategy in ("ddp", "fsdp"):
        torch.manual_seed(0)
        model = build_model(cfg)
        n_params = sum(p.numel() for p in model.parameters())
        if strategy == "fsdp":
            for block in model.layers.values() if hasattr(model.layers, "values") else model.layers:
                fully_shard(block)
            wrapped = fully_shard(model)
        else:
            wrapped = DDP(model)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        tokens = torch.randint(0, cfg.vocab_size, (2, 17))
        wrapped(tokens[:, :-1]).float().square().mean().backward()
        optimizer.step()  # now weights, gradients and both moments exist
        result[strategy] = tensor_storage_bytes(model, optimizer)
    result["n_params"] = n_params
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, result)
    if dist.get_rank() == 0:
        json.dump(gathered, open(sys.argv[1], "w"))
    teardown()  # waits out gloo's exit race, unlike a bare destroy_process_group
""")


@check("ddp and fsdp predictions match the bytes 2 real ranks hold (gloo, fp32 AdamW)",
       hint="ddp keeps everything on every rank; fsdp divides all three parts by the ranks")
def measured_on_two_ranks(ctx):
    state_bytes = ctx.function("state_bytes_per_rank")
    predicted = {s: sum(_parts(state_bytes(1, 1, s, "fp32"), s).values()) for s in ("ddp", "fsdp")}
    script, out = ctx.workdir / "measure.py", ctx.workdir / "measured.json"
    script.write_text(_MEASURE)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", str(script), str(out)],
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                          text=True, cwd=ctx.workdir)
    if proc.returncode != 0:
        raise RuntimeError(f"measuring on 2 ranks failed: {proc.stderr[-1500:]}")
    ranks = json.loads(out.read_text())
    n_params = ranks[0]["n_params"]
    for strategy in ("ddp", "fsdp"):
        mine = sum(_parts(state_bytes(n_params, 2, strategy, "fp32"), strategy).values())
        measured = max(rank[strategy] for rank in ranks)
        if abs(mine - measured) > 0.05 * measured:
            raise CheckFailed(f"{strategy} on 2 ranks, {n_params:,} parameters: you predict "
                              f"{mine:,.0f} bytes per rank, the ranks hold {measured:,} "
                              f"(one rank: you predict {predicted[strategy]:.0f} bytes per parameter)")


def _brute_force(n_params: int, device_bytes: float, strategy: str, precision: str,
                 limit: int = 200_000) -> int | None:
    for ranks in range(1, limit):
        if _paper_total(n_params, ranks, strategy, precision) <= device_bytes:
            return ranks
    return None


@check("min_ranks_to_fit finds the smallest rank count that fits, or None when none does",
       hint="with N ranks the total is whole + sharded / N; if whole alone exceeds the device, "
            "return None")
def min_ranks(ctx):
    min_ranks_to_fit = ctx.function("min_ranks_to_fit")
    rng = random.Random(ctx.seed)
    cases = [(7 * 10**9, 64e9, "zero3", "bf16"), (7 * 10**9, 64e9, "ddp", "bf16"),
             (70 * 10**9, 64e9, "zero1", "bf16"), (10**6, 16e6, "ddp", "fp32")]
    for _ in range(30):
        n_params = rng.randint(10**6, 10**11)
        device = rng.uniform(4, 80) * n_params * rng.choice([0.05, 0.2, 1.0])
        cases.append((n_params, device, rng.choice(STRATEGIES), rng.choice(["fp32", "bf16"])))
    for n_params, device, strategy, precision in cases:
        expected = _brute_force(n_params, device, strategy, precision)
        got = min_ranks_to_fit(n_params, device, strategy, precision)
        if got != expected:
            raise CheckFailed(f"min_ranks_to_fit({n_params}, {device:.4g}, {strategy!r}, "
                              f"{precision!r}) returned {got!r}, which is not the smallest "
                              "rank count that fits" + (" (none does)" if expected is None else ""))


def _simulated_ring_seconds(nbytes_per_element: int, elements: int, ranks: int, alpha: float,
                            beta: float) -> float:
    """Move real chunks around a ring of simulated ranks; check the sum; charge each step."""
    data = np.random.default_rng(ranks).normal(size=(ranks, elements))
    chunks = [list(np.array_split(row.copy(), ranks)) for row in data]
    seconds = 0.0
    for phase in ("reduce-scatter", "all-gather"):
        for step in range(ranks - 1):
            sends = [(r, (r - step) % ranks if phase == "reduce-scatter" else (r + 1 - step) % ranks)
                     for r in range(ranks)]
            payloads = [chunks[r][i].copy() for r, i in sends]
            for (r, i), payload in zip(sends, payloads, strict=True):
                target = chunks[(r + 1) % ranks]
                target[i] = target[i] + payload if phase == "reduce-scatter" else payload
            seconds += alpha + max(p.size for p in payloads) * nbytes_per_element * beta
    assert all(np.allclose(np.concatenate(c), data.sum(0)) for c in chunks)
    return seconds


@check("ring_allreduce_seconds equals a step-by-step simulation of the ring",
       hint="a reduce-scatter and an all-gather, each ranks - 1 steps of one nbytes/ranks chunk")
def ring_cost(ctx):
    ring = ctx.function("ring_allreduce_seconds")
    rng = random.Random(ctx.seed)
    for ranks in (1, 2, 3, 4, 8, 12):
        elements = ranks * rng.randint(1, 64)
        alpha, beta = rng.uniform(1e-6, 1e-4), rng.uniform(1e-11, 1e-9)
        expected = _simulated_ring_seconds(8, elements, ranks, alpha, beta)
        expect_close(float(ring(8 * elements, ranks, alpha, beta)), expected,
                     f"ring_allreduce_seconds({8 * elements}, {ranks}, ...)", rtol=1e-9, atol=1e-15)
