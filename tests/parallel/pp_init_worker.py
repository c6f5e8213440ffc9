"""One rank of the pipeline initialisation check: what a pipeline rank allocates, and with what.

Every rank builds the plain model with `build_model` after the training seed (the one-process
reference), then, after the same seed, the debug model on the meta device, and lets
`build_parallel_engine` split, materialise and initialise it for the layout given by the
overrides (pp, tp, strategy). Rank 0 writes, for every rank: the names of the plain model's
parameters it holds and of those still on the meta device in the model it was handed, the
number of parameter elements it allocated, the planner's count for its stages, and the largest
difference of its initial weights from the reference's.
"""

import argparse
import json
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.tensor import DTensor

from auroragpt.config import apply_overrides, get_preset
from auroragpt.distributed import setup, teardown
from auroragpt.model import Transformer, build_model
from auroragpt.parallel.planner import device_params
from auroragpt.train.parallel_engines import build_parallel_engine


def whole(t: torch.Tensor) -> torch.Tensor:
    return t.full_tensor() if isinstance(t, DTensor) else t


def local_numel(t: torch.Tensor) -> int:
    return (t.to_local() if isinstance(t, DTensor) else t).numel()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    info = setup(timeout_s=300)
    cfg = apply_overrides(get_preset("debug"), ["train.dtype=fp32", *args.overrides])

    torch.manual_seed(cfg.train.seed)
    reference = dict(build_model(cfg.model).named_parameters())
    torch.manual_seed(cfg.train.seed)
    with torch.device("meta"):
        model = Transformer(cfg.model)
    engine = build_parallel_engine(model, cfg, info.device)
    parts = engine.parts

    held = dict(parts.local.named_parameters())
    planned = device_params(cfg.model, cfg.parallel.tp, cfg.parallel.pp, parts.has_first,
                            parts.has_last).total
    report = {
        "held": sorted(held),
        "still_meta": sorted(name for name, p in model.named_parameters() if p.is_meta),
        "allocated": sum(local_numel(p) for p in held.values()),
        "planned": planned,
        "init_max_diff": max((whole(p) - reference[name]).abs().max().item()
                             for name, p in held.items()),
    }
    reports: list[dict | None] = [None] * dist.get_world_size()
    dist.all_gather_object(reports, report)
    if dist.get_rank() == 0:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.json").write_text(json.dumps({"ranks": reports,
                                                          "names": sorted(reference)}))
    del engine
    teardown()


if __name__ == "__main__":
    main()
