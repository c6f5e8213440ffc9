"""One rank of the parallel-training tests, started by torchrun, mpiexec or plain python.

Trains the debug model (or `--preset`) for a few steps on synthetic, learnable sequences under
the strategy given, then rank 0 writes a JSON report: per-step loss and gradient norm, the final weights
(safetensors) and every rank's measured training-state bytes. A single process with
`--strategy single` is the reference every strategy is compared with.

Each global batch holds samples [step * G, (step + 1) * G); data-parallel rank r takes the
r-th contiguous slice of G / dp samples and splits it into micro-batches, so every rank count
sees the same global batch.
"""

import argparse
import json
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file

from auroragpt.config import apply_overrides, get_preset
from auroragpt.distributed import setup, teardown
from auroragpt.model import Transformer
from auroragpt.parallel import PeakStateBytes
from auroragpt.train.optim import lr_at
from auroragpt.train.parallel_engines import build_parallel_engine


def sample(index: int, seq_len: int, vocab: int) -> torch.Tensor:
    """Global sample `index`: an arithmetic progression mod vocab, (seq_len + 1,) token ids."""
    gen = torch.Generator().manual_seed(10_007 * index + 1)
    start = torch.randint(0, vocab, (1,), generator=gen)
    stride = torch.randint(1, 8, (1,), generator=gen)
    return (start + stride * torch.arange(seq_len + 1)) % vocab


def micro_batches(step: int, cfg, dp_rank: int, dp_size: int) -> list[torch.Tensor]:
    per_rank = cfg.train.global_batch_size // dp_size
    first = step * cfg.train.global_batch_size + dp_rank * per_rank
    samples = torch.stack([sample(first + i, cfg.model.max_seq_len, cfg.model.vocab_size)
                           for i in range(per_rank)])  # (per_rank, S + 1)
    return list(samples.split(cfg.train.micro_batch_size))


def save(engine, directory: Path, rank: int) -> None:
    state = engine.model_state_dict()
    if rank == 0:
        directory.mkdir(parents=True, exist_ok=True)
        save_file(state, str(directory / "model.safetensors"))
        torch.save(engine.optimizer_state_dict(), directory / "optimizer.pt")
    if dist.is_initialized():
        dist.barrier()
    if hasattr(engine, "save_sharded"):
        engine.save_sharded(directory)


def load(engine, directory: Path) -> None:
    from safetensors.torch import load_file

    engine.load_model_state_dict(load_file(str(directory / "model.safetensors")))
    engine.load_optimizer_state_dict(torch.load(directory / "optimizer.pt", weights_only=True))
    if hasattr(engine, "load_sharded"):
        engine.load_sharded(directory)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--strategy", required=True)
    parser.add_argument("--preset", default="debug", help="the model and batch to start from")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", type=Path, required=True, help="report directory")
    parser.add_argument("--save-at", type=int, help="save a checkpoint after this many steps")
    parser.add_argument("--resume", type=Path, help="checkpoint to resume from")
    parser.add_argument("--resume-step", type=int, default=0, help="steps the checkpoint had done")
    parser.add_argument("overrides", nargs="*", help="config overrides key.path=value")
    args = parser.parse_args()

    info = setup(timeout_s=300)
    cfg = apply_overrides(get_preset(args.preset), [
        f"parallel.strategy={args.strategy}", "train.dtype=fp32",
        f"train.max_steps={args.steps}", *args.overrides])
    torch.manual_seed(cfg.train.seed)  # every rank draws the weights one process would
    with torch.device("meta"):  # each rank materialises only its own shards
        model = Transformer(cfg.model)
    engine = build_parallel_engine(model, cfg, info.device)
    rank = dist.get_rank() if dist.is_initialized() else 0
    if args.resume:
        load(engine, args.resume)

    peak = PeakStateBytes(engine, engine.optimizer)
    report = {"losses": [], "grad_norms": []}
    for step in range(args.resume_step, args.steps):
        batches = micro_batches(step, cfg, engine.dp_rank, engine.dp_size)
        result = engine.train_step(batches, lr_at(step, cfg.train))
        report["losses"].append(result.loss)
        report["grad_norms"].append(result.grad_norm)
        if args.save_at == step + 1:
            save(engine, args.out / "checkpoint", rank)

    final = engine.model_state_dict()
    state_bytes = peak.bytes
    all_bytes = [None] * (dist.get_world_size() if dist.is_initialized() else 1)
    if dist.is_initialized():
        dist.all_gather_object(all_bytes, state_bytes)
    else:
        all_bytes = [state_bytes]
    if rank == 0:
        report["state_bytes"] = all_bytes
        save_file(final, str(args.out / "final.safetensors"))
        (args.out / "report.json").write_text(json.dumps(report))
    # NOTE: the engine (a DDP reducer, DeepSpeed's buffers) goes before the process group it
    # communicates over; destroyed the other way round, a rank can hang or abort at exit. The
    # measuring hook is removed first: through it the optimizer refers back to the engine.
    peak.remove()
    del engine, peak
    teardown()


if __name__ == "__main__":
    main()
