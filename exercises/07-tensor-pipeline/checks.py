"""Checks of exercise 07: the tensor-parallel MLP on 2 real ranks (gloo, float64) against the
unsharded MLP, and the bubble fraction against a slot-by-slot simulation of GPipe and 1F1B
(`auroragpt.parallel.schedule_model`, itself tested against the published formula)."""

import json
import os
import random
import subprocess
import sys
import textwrap

import numpy as np
import torch

from auroragpt.exercise_checker.checking import CheckFailed, check, expect_close, is_close
from auroragpt.parallel import schedule_model

# Runs on 2 ranks: the learner's functions against the unsharded MLP, computed by this script.
_ON_TWO_RANKS = textwrap.dedent("""
    import importlib.util
    import json
    import sys

    import torch
    import torch.distributed as dist
    import torch.nn.functional as F

    from auroragpt.distributed import teardown

    spec = importlib.util.spec_from_file_location("learner", sys.argv[1])
    learner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(learner)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    gen = torch.Generator().manual_seed(int(sys.argv[3]))
    n, dim, hidden = 6, 8, 12
    x = torch.randn(n, dim, generator=gen, dtype=torch.float64)
    w1 = torch.randn(hidden, dim, generator=gen, dtype=torch.float64)
    w2 = torch.randn(dim, hidden, generator=gen, dtype=torch.float64)
    reference = F.gelu(x @ w1.T) @ w2.T  # (n, dim), one process
    mine = list(range(rank * hidden // world, (rank + 1) * hidden // world))  # my hidden units
    result = {"reference": reference.tolist()}
    try:
        a, b = learner.shard_mlp(w1.clone(), w2.clone(), rank, world)
        result["shards"] = {"w1_shape": list(a.shape), "w2_shape": list(b.shape),
                            "w1_ok": list(a.shape) == [len(mine), dim] and torch.equal(a, w1[mine]),
                            "w2_ok": list(b.shape) == [dim, len(mine)]
                            and torch.equal(b, w2[:, mine])}
    except NotImplementedError as err:
        result["shards"] = {"todo": str(err)}
    calls = {"all_reduce": 0, "all_gather": 0}
    for name in calls:
        original = getattr(dist, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        setattr(dist, name, counted)
    try:
        out = learner.tp_mlp(x, w1[mine].clone(), w2[:, mine].clone())
        result["mlp"] = {"out": out.tolist(), "dtype": str(out.dtype), **calls}
    except NotImplementedError as err:
        result["mlp"] = {"todo": str(err)}
    gathered = [None] * world
    dist.all_gather_object(gathered, result)
    if rank == 0:
        json.dump(gathered, open(sys.argv[2], "w"))
    teardown()
""")


def _two_ranks(ctx, part: str, todo_args: tuple) -> list[dict]:
    """What both ranks computed (run once per check run, cached in the scratch folder)."""
    out = ctx.workdir / "two_ranks.json"
    if not out.exists():
        script = ctx.workdir / "two_ranks.py"
        script.write_text(_ON_TWO_RANKS)
        proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                               "--nproc_per_node=2", str(script), str(ctx.learner_file), str(out),
                               str(ctx.seed)],
                              env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                              text=True, cwd=ctx.workdir)
        if proc.returncode != 0:
            raise RuntimeError(f"running your functions on 2 ranks failed: {proc.stderr[-1500:]}")
    ranks = json.loads(out.read_text())
    if any("todo" in rank[part] for rank in ranks):
        # Call it here too, so the TODO is reported from the learner's own file and line.
        ctx.function({"shards": "shard_mlp", "mlp": "tp_mlp"}[part])(*todo_args)
        raise NotImplementedError(ranks[0][part]["todo"])
    return ranks


@check("shard_mlp gives each of 2 ranks its hidden units: rows of W1, the same columns of W2",
       hint="a weight of shape (out, in) computes x @ W.T: which dimension of W1 and of W2 "
            "indexes the hidden units, and which block belongs to rank r?")
def shards(ctx):
    w1, w2 = torch.zeros(4, 2, dtype=torch.float64), torch.zeros(2, 4, dtype=torch.float64)
    for rank, result in enumerate(_two_ranks(ctx, "shards", (w1, w2, 0, 2))):
        s = result["shards"]
        if not s["w1_ok"]:
            raise CheckFailed(f"rank {rank}: W1 (12, 8) -> your shard has shape {s['w1_shape']}, "
                              "which is not this rank's block of hidden outputs")
        if not s["w2_ok"]:
            raise CheckFailed(f"rank {rank}: W2 (8, 12) -> your shard has shape {s['w2_shape']}, "
                              "which is not the block of inputs matching the W1 shard")


@check("tp_mlp on 2 ranks equals the unsharded MLP (float64), with one all-reduce",
       hint="the column layer's output is already split the way the row layer wants its input; "
            "each rank's row-layer output is a partial sum of the answer")
def mlp_on_two_ranks(ctx):
    x, w1, w2 = (torch.zeros(shape, dtype=torch.float64) for shape in ((1, 2), (2, 2), (2, 2)))
    ranks = _two_ranks(ctx, "mlp", (x, w1, w2))
    outputs = [r["mlp"]["out"] for r in ranks]
    for rank, result in enumerate(ranks):
        mlp, reference = result["mlp"], result["reference"]
        if mlp["dtype"] != "torch.float64":
            raise CheckFailed(f"rank {rank}: returned {mlp['dtype']} for float64 inputs")
        if mlp["all_gather"]:
            raise CheckFailed(f"rank {rank}: you called all_gather {mlp['all_gather']} time(s); "
                              "this MLP needs no gather of activations")
        out, ref = np.array(mlp["out"]), np.array(reference)
        if is_close(out, ref / len(ranks)):
            raise CheckFailed(f"rank {rank}: your output is 1/{len(ranks)} of the MLP's: the "
                              "partial sums must be added, not averaged")
        if mlp["all_reduce"] == 0 and is_close(sum(np.array(o) for o in outputs), ref):
            raise CheckFailed(f"rank {rank}: your output is this rank's partial sum; the ranks' "
                              "outputs were never added together")
        expect_close(out, ref, f"rank {rank}: tp_mlp output", atol=1e-10)
        if mlp["all_reduce"] != 1:
            raise CheckFailed(f"rank {rank}: you called all_reduce {mlp['all_reduce']} times; "
                              "one is enough")


@check("bubble_fraction equals the idle share of simulated GPipe and 1F1B steps",
       hint="a step lasts as long as the last stage's last backward; count the slots, not only "
            "the idle ones, in the denominator")
def bubble(ctx):
    bubble_fraction = ctx.function("bubble_fraction")
    rng = random.Random(ctx.seed)
    cases = [(1, 4), (2, 1), (2, 4), (4, 8)] + [(rng.randint(1, 8), rng.randint(1, 24))
                                                 for _ in range(10)]
    for stages, micro in cases:
        simulated = {s: schedule_model.bubble(schedule_model.simulate(stages, micro, s))
                     for s in schedule_model.SCHEDULES}
        assert abs(simulated["gpipe"] - simulated["1f1b"]) < 1e-12  # same idle time, reordered
        got = float(bubble_fraction(stages, micro))
        if stages > 1 and is_close(got, (stages - 1) / micro):
            raise CheckFailed(f"bubble_fraction({stages}, {micro}) = {got:.4f} is idle time "
                              "relative to the busy time, not a fraction of the whole step")
        expect_close(got, simulated["gpipe"], f"bubble_fraction({stages}, {micro})", atol=1e-9)
    for args in ((0, 4), (2, 0)):
        try:
            bubble_fraction(*args)
        except ValueError:
            continue
        raise CheckFailed(f"bubble_fraction{args} did not raise ValueError")


@check("min_micro_batches finds the fewest micro-batches under a bubble budget",
       hint="solve (p - 1) / (m + p - 1) <= b for m and round the right way; with one stage "
            "there is no bubble at all")
def fewest_micro_batches(ctx):
    min_micro_batches = ctx.function("min_micro_batches")
    rng = random.Random(ctx.seed)
    cases = [(1, 0.5), (2, 0.5), (4, 0.1), (8, 0.1), (8, 0.05)]
    cases += [(rng.randint(1, 64), rng.choice([0.01, 0.05, 0.1, 0.2, 0.3, 1 / 3])) for _ in range(20)]
    for stages, budget in cases:
        expected = next(m for m in range(1, 100_000)
                        if (stages - 1) / (m + stages - 1) <= budget)
        got = min_micro_batches(stages, budget)
        if got != expected:
            raise CheckFailed(f"min_micro_batches({stages}, {budget:.4g}) returned {got!r}, which "
                              "is not the fewest micro-batches within the budget")
    try:
        min_micro_batches(4, 0.0)
    except ValueError:
        return
    raise CheckFailed("min_micro_batches(4, 0.0) did not raise ValueError (no m reaches it)")
