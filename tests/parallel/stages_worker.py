"""One rank of the tensor-parallel pipeline split check: chained stages against the plain model.

Two tensor-parallel ranks (torchrun) each build the plain model after the same seed, split a
copy with `apply_tp`, cut it into pipeline stages with `pp.split_model` for every pipeline
rank at once, and run the stages one after the other in this process, handing each stage the
previous one's output (a sequence slice, as the schedule would send it). Rank 0 writes the
largest differences from the plain model's logits and gradients, and both losses.
"""

import argparse
import json
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import DTensor
from torch.distributed.tensor.parallel import loss_parallel

from auroragpt.config import get_preset
from auroragpt.distributed import setup, teardown
from auroragpt.model import build_model
from auroragpt.parallel import pp
from auroragpt.parallel.tp import apply_tp
from auroragpt.train.engine import next_token_loss


def whole(t: torch.Tensor) -> torch.Tensor:
    return t.full_tensor() if isinstance(t, DTensor) else t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pp", type=int, default=2)
    parser.add_argument("--virtual", type=int, default=2)
    args = parser.parse_args()
    info = setup(timeout_s=300)
    tp = dist.get_world_size()
    cfg = get_preset("debug").model
    cfg.n_layers = 4

    torch.manual_seed(0)
    reference = build_model(cfg)
    model = build_model(cfg)
    model.load_state_dict(reference.state_dict())
    apply_tp(model, init_device_mesh(info.device.type, (tp,), mesh_dim_names=("tp",))["tp"])
    ranks = [pp.split_model(model, r, args.pp, args.virtual, tp) for r in range(args.pp)]
    stages = sorted((i, s) for rank in ranks
                    for i, s in zip(rank.indices, rank.stages, strict=True))

    gen = torch.Generator().manual_seed(7)
    tokens = torch.randint(0, cfg.vocab_size, (2, cfg.max_seq_len + 1), generator=gen)
    ref_logits = reference(tokens[:, :-1])
    ref_loss = next_token_loss(ref_logits, tokens)
    ref_loss.backward()

    hidden = tokens[:, :-1]
    with loss_parallel():
        for _, stage in stages:
            hidden = stage(hidden)  # (B, T / tp, dim) between stages; DTensor logits at the end
        loss = next_token_loss(hidden, tokens)
        loss.backward()

    plain = dict(reference.named_parameters())
    names = [name for rank in ranks for name, _ in rank.local.named_parameters()]
    grad_diff = max((whole(p.grad) - plain[name].grad).abs().max().item()
                    for rank in ranks for name, p in rank.local.named_parameters())
    report = {
        "names_match": sorted(names) == sorted(plain),
        "boundary_shape": list(stages[0][1](tokens[:, :-1]).shape),
        "logits_max_diff": (whole(hidden) - ref_logits).abs().max().item(),
        "grad_max_diff": grad_diff,
        "grad_max": max(q.grad.abs().max().item() for q in reference.parameters()),
        "loss": whole(loss).item(),
        "ref_loss": ref_loss.item(),
    }
    if dist.get_rank() == 0:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.json").write_text(json.dumps(report))
    teardown()


if __name__ == "__main__":
    main()
