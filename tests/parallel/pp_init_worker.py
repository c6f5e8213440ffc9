"""One rank of the pipeline initialisation check: what a pipeline rank allocates, and with what.

Every rank builds the plain model with `build_model` after the training seed (the one-process
reference), then, after the same seed, the debug model on the meta device, and lets
`build_parallel_engine` split, materialise and initialise it for the layout given by the
overrides (pp, tp, strategy). Rank 0 writes, for every rank: the names of the plain model's
parameters it holds and of those still on the meta device in the model it was handed, the
number of parameter elements it allocated, the planner's count for its stages, and the largest
difference of its initial weights from the reference's.
"""

import json

import torch
import torch.distributed as dist
from split_reference import reference_and_split, whole
from torch.distributed.tensor import DTensor

from auroragpt.distributed import teardown
from auroragpt.parallel.planner import device_params


def local_numel(t: torch.Tensor) -> int:
    return (t.to_local() if isinstance(t, DTensor) else t).numel()


def main() -> None:
    out, cfg, plain, model, engine = reference_and_split()
    reference = dict(plain.named_parameters())
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
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps({"ranks": reports,
                                                          "names": sorted(reference)}))
    del engine
    teardown()


if __name__ == "__main__":
    main()
