"""Memory per rank and step time of every data-parallel strategy, next to one plain process.

    python benchmarks/parallel_memory.py [--preset tiny] [--ranks 1 2 4] [--steps 5]

For each strategy (ddp, fsdp, zero1, zero2, zero3) and each rank count the script launches
itself under torchrun, and every rank trains the same global batch with the engines
`auroragpt train` uses (fp32, AdamW). The plain single process (`single`) is the reference row.
Columns:

- state MB/rank: parameters + gradients + optimizer state, with any master copies and
  communication buffers, measured on the live tensors just before an update
  (`auroragpt.parallel.PeakStateBytes`), largest rank;
- ZeRO paper MB/rank: what the ZeRO paper's accounting predicts for fp32 AdamW (4 bytes each
  of parameters and gradients, 8 of Adam moments; stage 1 divides the moments by N, stage 2
  also the gradients, stage 3 and FSDP everything);
- RSS MB/rank: the largest rank's peak resident memory (interpreter and libraries included);
- step s: median seconds per optimizer step of the slowest rank, 2 warm-up steps excluded;
  one thread per rank, so 4 ranks on a 2-core machine share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STRATEGIES = ("ddp", "fsdp", "zero1", "zero2", "zero3")
WARMUP_STEPS = 2


def zero_paper_bytes(strategy: str, params: int, ranks: int) -> float:
    """Per-rank bytes of fp32 AdamW training state in the ZeRO paper's accounting."""
    weights, grads, moments = 4 * params, 4 * params, 8 * params
    if strategy in ("single", "ddp"):
        return weights + grads + moments
    if strategy == "zero1":
        return weights + grads + moments / ranks
    if strategy == "zero2":
        return weights + (grads + moments) / ranks
    return (weights + grads + moments) / ranks  # zero3, fsdp


def rank_main(args: argparse.Namespace) -> None:
    """One rank: train args.steps timed steps, then rank 0 writes everyone's numbers."""
    import torch
    import torch.distributed as dist

    from auroragpt.config import apply_overrides, get_preset
    from auroragpt.distributed import setup, teardown
    from auroragpt.model import build_model
    from auroragpt.parallel import PeakStateBytes
    from auroragpt.train.run import build_engine

    info = setup()
    cfg = apply_overrides(get_preset(args.preset), [
        f"parallel.strategy={args.strategy}", "train.dtype=fp32",
        f"train.global_batch_size={args.global_batch}", f"train.micro_batch_size={args.micro}"])
    torch.manual_seed(cfg.train.seed)
    engine = build_engine(build_model(cfg.model, info.device), cfg, info.world_size, info.device)
    peak = PeakStateBytes(engine, engine.optimizer)
    generator = torch.Generator().manual_seed(info.rank)
    per_rank = args.global_batch // engine.dp_size
    micro_batches = list(torch.randint(0, cfg.model.vocab_size,
                                       (per_rank, cfg.model.max_seq_len + 1),
                                       generator=generator).split(args.micro))
    seconds = []
    for _ in range(WARMUP_STEPS + args.steps):
        if dist.is_initialized():
            dist.barrier()
        start = time.perf_counter()
        engine.train_step(micro_batches, cfg.train.lr)
        seconds.append(time.perf_counter() - start)
    mine = {"state_bytes": peak.bytes,
            "rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "step_s": statistics.median(seconds[WARMUP_STEPS:])}
    everyone = [mine]
    if dist.is_initialized():
        everyone = [None] * dist.get_world_size()
        dist.all_gather_object(everyone, mine)
    if info.rank == 0:
        Path(args.result).write_text(json.dumps(everyone))
    peak.remove()
    del engine, peak
    teardown()


def measure(strategy: str, ranks: int, args: argparse.Namespace) -> dict:
    """Launch `ranks` ranks of this script for one strategy; the worst rank's numbers."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        rank_args = [__file__, "--rank-main", "--strategy", strategy, "--result", str(result),
                     "--preset", args.preset, "--steps", str(args.steps),
                     "--global-batch", str(args.global_batch), "--micro", str(args.micro)]
        launcher = ([sys.executable] if strategy == "single" else
                    [str(Path(sys.executable).with_name("torchrun")), "--standalone",
                     f"--nproc_per_node={ranks}"])
        # NOTE: one thread per rank in every row, so rows differ only in the number of ranks
        # (on a shared machine extra OpenMP threads mostly measure the other load).
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        proc = subprocess.run([*launcher, *rank_args], env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{strategy} on {ranks} rank(s) failed:\n{proc.stderr[-3000:]}")
        everyone = json.loads(result.read_text())
    return {key: max(rank[key] for rank in everyone) for key in everyone[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--steps", type=int, default=5, help="timed steps after 2 warm-up")
    parser.add_argument("--global-batch", type=int, default=16)
    parser.add_argument("--micro", type=int, default=4)
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    parser.add_argument("--rank-main", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--strategy", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rank_main:
        rank_main(args)
        return

    from auroragpt.config import count_parameters, get_preset

    cfg = get_preset(args.preset)
    params = count_parameters(cfg.model)
    tokens = args.global_batch * cfg.model.max_seq_len
    print(f"preset {args.preset}: {params / 1e6:.2f} M parameters, global batch "
          f"{args.global_batch} x {cfg.model.max_seq_len} tokens, micro-batch {args.micro}, "
          f"fp32, {os.cpu_count()} CPU cores\n")
    print("| strategy | ranks | state MB/rank | vs single | ZeRO paper MB/rank | RSS MB/rank "
          "| step s | tokens/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    mb = 1 / 2**20
    plain = None
    for strategy, ranks in [("single", 1)] + [(s, n) for s in args.strategies for n in args.ranks]:
        row = measure(strategy, ranks, args)
        plain = plain or row["state_bytes"]
        print(f"| {strategy} | {ranks} | {row['state_bytes'] * mb:.1f} | "
              f"{row['state_bytes'] / plain:.2f} | "
              f"{zero_paper_bytes(strategy, params, ranks) * mb:.1f} | "
              f"{row['rss_bytes'] * mb:.0f} | {row['step_s']:.3f} | "
              f"{tokens / row['step_s']:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
