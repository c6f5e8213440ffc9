"""Engines for the parallel strategies: ddp, fsdp (FSDP2) and zero1/zero2/zero3 (DeepSpeed),
with tensor (`parallel.tp`) and sequence (`parallel.sp`) parallelism under ddp and fsdp.

They plug into the loop's `Engine` seam (see engine.py): the torch engines keep
`LocalEngine`'s step and override its hooks (`DDPEngine` for plain weights, `DTensorEngine`
for sharded or tensor-parallel ones); DeepSpeed owns backward, clipping and the update, so its
engine implements `Engine` whole. How each strategy shards a model lives in `auroragpt.parallel`;
this module only drives it step by step.

Whatever the layout, each rank gets global_batch / dp samples per step as micro-batches (with
dp = world / (tp x pp x sp); sequence-parallel ranks then keep their slice of each), every
micro-batch loss is a mean, and the update uses the mean gradient over the whole global batch,
so the losses equal those of one process running the same global batch.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.tensor import DTensor
from torch.distributed.tensor.parallel import loss_parallel

from auroragpt.checkpoint import consolidate, sharded
from auroragpt.config import Config
from auroragpt.parallel import ParallelDims, parallelize, resolve_strategy, zero
from auroragpt.parallel.parallelize import check_layout, materialize
from auroragpt.parallel.sp import sequence_shard
from auroragpt.train.engine import (
    Engine,
    LocalEngine,
    StepResult,
    next_token_loss,
    resolve_dtype,
)
from auroragpt.train.optim import build_optimizer, set_lr


def mean_over_ranks(value: torch.Tensor) -> torch.Tensor:
    """Average of `value` over all ranks (every rank gets the result)."""
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / dist.get_world_size()


class DataParallelEngine(LocalEngine):
    """`LocalEngine` on one rank of a parallel run, the model split by `parallelize`.

    Reported losses are averaged over all ranks: tensor-parallel ranks hold equal copies of a
    loss and sequence-parallel ranks the losses of equal slices, so that is the global mean.
    With sequence parallelism each rank cuts its slice from every sample (`sequence_shard`)
    and passes the slice's first position to the model; with tensor parallelism the logits
    stay split by vocabulary and the loss runs under `loss_parallel`.
    """

    def __init__(self, model: nn.Module, cfg: Config, device: torch.device, dims: ParallelDims):
        mesh = dims.build_mesh(device.type)
        self.dp_rank, self.dp_size = mesh["dp"].get_local_rank(), dims.dp
        self.sp_rank, self.sp_size = (mesh["sp"].get_local_rank(), dims.sp) if dims.sp > 1 else (0, 1)
        self.tp_size = dims.tp
        # NOTE: sampling text would need whole sequences and whole vocabularies on each rank.
        self.generates_samples = dims.tp == 1 and dims.sp == 1
        dtype = resolve_dtype(cfg.train.dtype, device)
        forward_module = parallelize(model, dims, cfg, device, compute_dtype=dtype, mesh=mesh)
        super().__init__(model, cfg.train, device, forward_module=forward_module, prepared=True)

    def _mean_over_data_parallel(self, value: torch.Tensor) -> torch.Tensor:
        return mean_over_ranks(value)

    def _loss_context(self) -> contextlib.AbstractContextManager:
        return loss_parallel() if self.tp_size > 1 else contextlib.nullcontext()

    def _loss(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens, start = sequence_shard(tokens.to(self.device, non_blocking=True), self.sp_rank,
                                       self.sp_size)  # (mb, S / sp + 1)
        with self._autocast():
            logits = self.forward_module(tokens[:, :-1], positions=start + torch.arange(tokens.shape[1] - 1, device=tokens.device))  # (mb, S / sp, V)
        loss = next_token_loss(logits, tokens)
        # a replicated DTensor under loss_parallel; its local value is the loss itself
        return loss.to_local() if isinstance(loss, DTensor) else loss

    def _clip_grad_norm(self) -> torch.Tensor:
        norm = super()._clip_grad_norm()  # over DTensor gradients: a replicated DTensor
        return norm.full_tensor() if isinstance(norm, DTensor) else norm


class ShardedOptimizerState:
    """Mixin: model and optimizer state live in the sharded checkpoint (`save_sharded`), so
    trainer_state.pt carries none of it."""

    sharded_state = True

    def optimizer_state_dict(self) -> dict:
        return {}

    def load_optimizer_state_dict(self, state: dict) -> None:
        pass  # restored by load_sharded


class DDPEngine(DataParallelEngine):
    """Every rank holds the whole model; DDP averages gradients on the last micro-batch.

    Checkpoints as in one process: every replica holds the same full weights and optimizer
    state, rank 0 saves them in model.safetensors and trainer_state.pt, every rank loads them.
    """

    def _sync_gradients(self, enabled: bool) -> contextlib.AbstractContextManager:
        # Micro-batches before the last only accumulate locally: one all-reduce per step.
        return contextlib.nullcontext() if enabled else self.forward_module.no_sync()


class DTensorEngine(ShardedOptimizerState, DataParallelEngine):
    """Weights as DTensors: FSDP2-sharded (`fsdp`), tensor-parallel, or both.

    Checkpoints go through torch distributed checkpoint, which stores every tensor with its
    global shape, so a run resumes at other tp and dp degrees.
    NOTE: under `fsdp` gradients are reduce-scattered after every micro-batch (FSDP's default)
    rather than only the last: skipping the reduction would keep unsharded gradients alive for
    the whole step, which is the memory sharding exists to save.
    """

    def model_state_dict(self) -> dict[str, torch.Tensor]:
        return consolidate.torch_full_state_dict(self.module) or {}

    def load_model_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        consolidate.load_torch_full_state_dict(self.module, state)

    def save_sharded(self, directory: Path) -> dict[str, str]:
        return sharded.save_torch_state(self.module, self.optimizer, directory)

    def load_sharded(self, directory: Path) -> None:
        sharded.load_torch_state(self.module, self.optimizer, directory)


class DeepSpeedEngine(ShardedOptimizerState, Engine):
    """A DeepSpeed ZeRO engine (stage 1, 2 or 3) around the model and our AdamW."""

    def __init__(self, model: nn.Module, cfg: Config, device: torch.device, dims: ParallelDims,
                 stage: int):
        self.dp_rank, self.dp_size = dist.get_rank(), dims.dp
        self.device = device
        dtype = resolve_dtype(cfg.train.dtype, device)
        ds_config = zero.deepspeed_config(cfg, stage, dims.dp, dtype)
        if cfg.parallel.deepspeed_config:
            ds_config, notes = zero.merge_user_config(cfg.parallel.deepspeed_config, ds_config)
            for note in notes if self.dp_rank == 0 else ():
                print(note)
        # checkpointing, compile, materialising; DeepSpeed shards below
        parallelize(model, dims, cfg, device)
        # DeepSpeed steps this AdamW over its flat fp32 partitions (it rewrites its groups).
        self.optimizer = build_optimizer(model, cfg.train)
        self.ds = zero.initialize(model, self.optimizer, ds_config)

    @property
    def module(self) -> nn.Module:
        return self.ds.module

    def _loss(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = tokens.to(self.device, non_blocking=True)
        return next_token_loss(self.ds(tokens[:, :-1]), tokens)

    def train_step(self, micro_batches: list[torch.Tensor], lr: float) -> StepResult:
        expected = self.ds.gradient_accumulation_steps()
        if len(micro_batches) != expected:
            raise ValueError(
                f"{len(micro_batches)} micro-batches for one step, but the DeepSpeed config "
                f"accumulates {expected} (global batch / (micro batch x {self.dp_size} ranks))"
            )
        set_lr(self.ds.optimizer, lr)
        total = torch.zeros((), device=self.device)
        for tokens in micro_batches:
            loss = self._loss(tokens)
            # NOTE: DeepSpeed divides by gradient_accumulation_steps itself, and counts
            # micro-batches in step(): only the last call clips, updates and zeroes gradients.
            self.ds.backward(loss)
            self.ds.step()
            total += loss.detach()
        return StepResult(loss=mean_over_ranks(total / len(micro_batches)).item(),
                          grad_norm=float(self.ds.get_global_grad_norm()))

    @torch.no_grad()
    def eval_loss(self, tokens: torch.Tensor) -> float:
        return mean_over_ranks(self._loss(tokens)).item()

    def model_state_dict(self) -> dict[str, torch.Tensor]:
        return consolidate.deepspeed_full_state_dict(self.ds) or {}

    def load_model_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        consolidate.load_deepspeed_full_state_dict(self.ds, state)

    def save_sharded(self, directory: Path) -> dict[str, str]:
        return sharded.save_deepspeed_state(self.ds, directory)

    def load_sharded(self, directory: Path) -> None:
        sharded.load_deepspeed_state(self.ds, directory)


def build_parallel_engine(model: nn.Module, cfg: Config, device: torch.device) -> Engine:
    """The engine for `cfg.parallel` on the current process group.

    `model` is best built on the meta device: each rank then allocates and initialises only
    its own shards (with the weights one process would draw after the same seed). A sharding
    strategy in a single process (e.g. resuming a 2-rank FSDP run on one) gets a one-rank
    process group, so FSDP and DeepSpeed run unchanged.
    """
    world_size = dist.get_world_size() if dist.is_initialized() else 1
    strategy = resolve_strategy(cfg.parallel.strategy, world_size)
    dims = ParallelDims.from_config(cfg.parallel, world_size)
    check_layout(cfg, dims)  # every refusal before any work
    if strategy == "single":
        if next(model.parameters()).is_meta:
            materialize(model, device)
        return LocalEngine(model, cfg.train, device)
    if not dist.is_initialized():
        from auroragpt.distributed import setup

        # An in-process store: one rank needs no rendezvous address or port. DeepSpeed still
        # reads its rank from the environment, as a launcher would have set it.
        dist.init_process_group(setup().backend, store=dist.HashStore(), rank=0, world_size=1)
        for name in ("RANK", "LOCAL_RANK"):
            os.environ.setdefault(name, "0")
        os.environ.setdefault("WORLD_SIZE", "1")
    if dims.pp > 1:
        from auroragpt.train.pipeline_engine import PipelineEngine

        return PipelineEngine(model, cfg, device, dims)
    if strategy in zero.ZERO_STAGES:
        return DeepSpeedEngine(model, cfg, device, dims, zero.ZERO_STAGES[strategy])
    plain_weights = strategy == "ddp" and dims.tp == 1
    return (DDPEngine if plain_weights else DTensorEngine)(model, cfg, device, dims)
