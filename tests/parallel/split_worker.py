"""One rank of the model-parallel numerics tests: a split model against the unsplit one.

Every rank builds the debug model on the meta device and lets `build_parallel_engine` split
and materialise it for the layout given by the overrides (tp, sp). Each rank also builds the
plain model with `build_model` after the same seed: the independent reference. Rank 0 writes
the largest differences of the initial weights, of the logits of one batch and of the
gradients of its mean loss, and the two losses.
"""

import json

import torch
import torch.distributed as dist
from split_reference import reference_and_split, whole

from auroragpt.distributed import teardown
from auroragpt.parallel.sp import sequence_shard
from auroragpt.train.engine import next_token_loss


def gather_sequence(local: torch.Tensor, engine) -> torch.Tensor:
    """(B, T / sp, V) slices of every sequence-parallel rank joined to (B, T, V)."""
    if engine.sp_size == 1:
        return local
    # sp ranks are the innermost data ranks here (no tp, dp = 1): the whole world, in order
    parts = [torch.empty_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, local.contiguous())
    return torch.cat(parts, dim=1)


def main() -> None:
    out, cfg, reference, _, engine = reference_and_split()

    init_diff = max((whole(p) - q).abs().max().item() for p, q in
                    zip(engine.module.parameters(), reference.parameters(), strict=True))

    gen = torch.Generator().manual_seed(7)
    tokens = torch.randint(0, cfg.model.vocab_size, (2, cfg.model.max_seq_len + 1), generator=gen)
    ref_logits = reference(tokens[:, :-1])
    ref_loss = next_token_loss(ref_logits, tokens)
    ref_loss.backward()

    with engine._loss_context():
        piece, start = sequence_shard(tokens, engine.sp_rank, engine.sp_size)
        logits = engine.forward_module(piece[:, :-1], positions=start + torch.arange(piece.shape[1] - 1))
        loss = next_token_loss(logits, piece)
        loss.backward()
    logits = gather_sequence(whole(logits).detach(), engine)
    # sequence-parallel ranks averaged their slice-mean gradients (DDP/FSDP): the batch mean
    grad_diff = max((whole(p.grad) - q.grad).abs().max().item() for p, q in
                    zip(engine.module.parameters(), reference.parameters(), strict=True))
    report = {
        "init_max_diff": init_diff,
        "logits_max_diff": (logits - ref_logits).abs().max().item(),
        "grad_max_diff": grad_diff,
        "grad_max": max(q.grad.abs().max().item() for q in reference.parameters()),
        "loss": engine._mean_over_data_parallel(whole(loss).detach()).item(),
        "ref_loss": ref_loss.item(),
    }
    if dist.get_rank() == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report))
    del engine
    teardown()


if __name__ == "__main__":
    main()
