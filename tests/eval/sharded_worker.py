"""One rank writing a sharded checkpoint the way parallel runs do, plus the reference weights.

Started by torchrun (gloo, CPU). Builds the debug model, shards it (FSDP2 `fully_shard`, or
DeepSpeed ZeRO with a plain torch AdamW), takes one optimizer step so the saved weights are
the optimizer's and not the initial ones, then saves:

- `--format dcp`: a torch distributed checkpoint {"model", "optim"} in OUT/distcp/;
- `--format zero2|zero3`: DeepSpeed's checkpoint in OUT/deepspeed/state/;

and rank 0 writes OUT/reference.safetensors: the full weights gathered in memory by the
framework itself (`get_model_state_dict(full_state_dict=True)` or DeepSpeed's
`safe_get_full_fp32_param`), which consolidation from the files on disk must reproduce.
"""

import argparse
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file

from auroragpt.config import get_preset
from auroragpt.distributed import teardown
from auroragpt.model import build_model


def one_step(forward, backward, step, vocab: int) -> None:
    tokens = torch.randint(0, vocab, (2, 17), generator=torch.Generator().manual_seed(dist.get_rank()))
    logits = forward(tokens[:, :-1])
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())
    backward(loss)
    step()


def save_dcp(model, cfg, out: Path) -> dict:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_state_dict,
    )
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    for block in model.layers.values():
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    one_step(model, lambda loss: loss.backward(), optimizer.step, cfg.model.vocab_size)
    model_state, optim_state = get_state_dict(model, optimizer)
    dcp.save({"model": model_state, "optim": optim_state}, checkpoint_id=str(out / "distcp"))
    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True,
                                                                cpu_offload=True))


def save_deepspeed(model, cfg, out: Path, stage: int) -> dict:
    import deepspeed
    from deepspeed.utils import safe_get_full_fp32_param

    config = {"train_batch_size": 2 * dist.get_world_size(), "train_micro_batch_size_per_gpu": 2,
              "zero_optimization": {"stage": stage}, "gradient_clipping": 0.0}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=config)
    one_step(engine, engine.backward, engine.step, cfg.model.vocab_size)
    engine.save_checkpoint(str(out / "deepspeed"), tag="state", save_latest=False)
    return {name: safe_get_full_fp32_param(param).detach().clone()
            for name, param in engine.module.named_parameters()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--format", choices=["dcp", "zero2", "zero3"], required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    dist.init_process_group("gloo")
    torch.manual_seed(0)
    cfg = get_preset("debug")
    model = build_model(cfg.model)
    if args.format == "dcp":
        full = save_dcp(model, cfg, args.out)
    else:
        full = save_deepspeed(model, cfg, args.out, stage=int(args.format[-1]))
    if dist.get_rank() == 0:
        save_file({k: v.float().contiguous().clone() for k, v in full.items()},
                  str(args.out / "reference.safetensors"))
    dist.barrier()
    teardown()  # NOTE: not a bare destroy_process_group: see teardown's note (gloo exit abort)


if __name__ == "__main__":
    main()
