"""`parallelize(model, dims, cfg, device)`: every parallel transformation, in one fixed order.

The model file knows nothing of parallelism; this function takes a `Transformer` built on the
meta device (no memory yet) and rewrites it for the run. The order is fixed, and each step
says why it comes where it does:

1. tensor parallelism: replaces weights by DTensors split inside each layer; everything
   after must see those;
2. sequence parallelism (Ulysses): wraps core attention, which only exists unsplit now;
3. activation checkpointing: wraps whole blocks, parallel collectives included, so backward
   recomputes them too;
4. `torch.compile` per block: compiles what the block now is (split, checkpointed);
5. FSDP on the data dimension: shards whatever parameters it finds (plain or tensor-parallel,
   on the meta device) and must see the final modules to group them per block;
6. materialise: each rank allocates only its own shards and fills them with `init_weights()`
   (see `materialize`);
7. DDP on the data dimension: needs real weights, so it comes after materialising.

ZeRO strategies stop after step 6: DeepSpeed partitions the model inside
`deepspeed.initialize` (see `zero.py`), which also needs the optimizer.
"""

from __future__ import annotations

import torch
from torch import nn

from auroragpt.config import Config
from auroragpt.parallel.ac import apply_ac
from auroragpt.parallel.ddp import apply_ddp, apply_replicate
from auroragpt.parallel.dims import ParallelDims, check_composition, resolve_strategy
from auroragpt.parallel.fsdp import apply_fsdp
from auroragpt.parallel.sp import apply_sp, check_sp
from auroragpt.parallel.tp import apply_tp, check_tp


def check_layout(cfg: Config, dims: ParallelDims) -> None:
    """Every refusal a layout can earn, raised before any model is built."""
    strategy = resolve_strategy(cfg.parallel.strategy, dims.world_size)
    check_composition(strategy, dims)
    check_tp(cfg.model, dims.tp)
    check_sp(cfg.model, dims.sp, dims.tp)


def materialize(model: nn.Module, device: torch.device) -> None:
    """Allocate a meta-device model's local shards on `device` and initialise them.

    NOTE: under DTensor's implicit replication, `init_weights` copies each whole weight it
    draws into a sharded parameter as that shard's slice, so every layout starts from exactly
    the weights one process would draw with the same seed (every rank draws the same base seed
    and each weight from a generator of its own; DTensor's own random ops are not
    offset-correct on CPU).
    """
    from torch.distributed.tensor.experimental import implicit_replication

    model.to_empty(device=device)
    with implicit_replication():
        model.init_weights()


def _waited(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
    """Forward hook: a plain tensor for an `AsyncCollectiveTensor` output, same autograd graph.

    NOTE: a tensor-parallel embedding returns its sequence slice as an AsyncCollectiveTensor
    (the reduce-scatter not yet waited for). Fed as is to a compiled block, torch 2.13 waits
    for it before tracing and drops its requires_grad, so the compiled graph has no edge back
    to the embedding: its gradient stays zero while every block's is right (measured; pytorch
    PR 191113). Any non-view op waits and returns a plain tensor, recorded by autograd.
    """
    from torch.distributed._functional_collectives import AsyncCollectiveTensor

    return output.clone() if isinstance(output, AsyncCollectiveTensor) else output


def apply_compile(model: nn.Module) -> None:
    """Compile each block on its own: one compiled graph reused by every identical block.

    What enters the first block from the eager embedding is waited for first (see `_waited`).
    """
    if getattr(model, "tok_embeddings", None) is not None:
        model.tok_embeddings.register_forward_hook(_waited)
    for block in model.layers.values():
        block.compile()


def parallelize(model: nn.Module, dims: ParallelDims, cfg: Config, device: torch.device,
                compute_dtype: torch.dtype = torch.float32, mesh=None) -> nn.Module:
    """Apply `cfg.parallel` (and `cfg.train`'s checkpointing and compile) to `model`.

    `model` is on the meta device (then it is materialised and initialised here, each rank
    holding its own shards) or already on `device` (then weights are split from it as they
    are). Returns the module to run: a DDP wrapper for plain `ddp` (the original is its
    `.module`), `model` itself otherwise. `mesh` is `dims.build_mesh(device.type)` when the
    caller already has it. Needs an initialised process group.
    """
    check_layout(cfg, dims)
    strategy = resolve_strategy(cfg.parallel.strategy, dims.world_size)
    mesh = mesh if mesh is not None else dims.build_mesh(device.type)
    on_meta = next(model.parameters()).is_meta

    # 1. Tensor parallelism (with sequence-parallel norms).
    if dims.tp > 1:
        apply_tp(model, mesh["tp"])
    # 2. Ulysses sequence parallelism around core attention.
    if dims.sp > 1:
        apply_sp(model, mesh["sp"])
    # 3. Activation checkpointing.
    apply_ac(model, cfg.train.activation_checkpointing)
    # 4. Per-block compile.
    if cfg.train.compile:
        apply_compile(model)
    # 5. Data parallelism built on FSDP2: sharded, or replicated when `ddp` meets DTensor
    # (tensor-parallel) weights, which DistributedDataParallel cannot hold.
    if strategy == "fsdp":
        apply_fsdp(model, mesh["dp_sp"], param_dtype=compute_dtype)
    elif strategy == "ddp" and dims.tp > 1:
        apply_replicate(model, mesh["dp_sp"], param_dtype=compute_dtype)
    # 6. Materialise this rank's shards.
    if on_meta:
        materialize(model, device)
    # 7. Replicated data parallelism.
    if strategy == "ddp" and dims.tp == 1:
        return apply_ddp(model, mesh["dp_sp"] if dims.sp > 1 else None)
    return model
