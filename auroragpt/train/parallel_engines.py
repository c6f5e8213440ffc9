"""Engines for the data-parallel strategies: ddp, fsdp (FSDP2) and zero1/zero2/zero3 (DeepSpeed).

They plug into the loop's `Engine` seam (see engine.py): DDP and FSDP keep `LocalEngine`'s step
and override its hooks; DeepSpeed owns backward, clipping and the update, so its engine
implements `Engine` whole. How each strategy shards a model lives in `auroragpt.parallel`;
this module only drives it step by step.

Whatever the strategy, each rank gets global_batch / dp samples per step as micro-batches, every
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

from auroragpt.config import Config
from auroragpt.parallel import ParallelDims, checkpoint, parallelize, resolve_strategy, zero
from auroragpt.train.engine import (
    Engine,
    LocalEngine,
    StepResult,
    apply_activation_checkpointing,
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
    """`LocalEngine` on one data-parallel rank: reported losses are averaged over the ranks."""

    def _mean_over_data_parallel(self, value: torch.Tensor) -> torch.Tensor:
        return mean_over_ranks(value)


class ShardedOptimizerState:
    """Mixin: the optimizer state lives in the sharded checkpoint (`save_sharded`), so
    trainer_state.pt carries none of it."""

    def optimizer_state_dict(self) -> dict:
        return {}

    def load_optimizer_state_dict(self, state: dict) -> None:
        pass  # restored by load_sharded


class DDPEngine(DataParallelEngine):
    """Every rank holds the whole model; DDP averages gradients on the last micro-batch.

    Checkpoints as in one process: every replica holds the same full weights and optimizer
    state, rank 0 saves them in model.safetensors and trainer_state.pt, every rank loads them.
    """

    def __init__(self, model: nn.Module, cfg: Config, device: torch.device, dims: ParallelDims):
        self.dp_rank, self.dp_size = dist.get_rank(), dims.dp
        self._ddp = parallelize(model, dims, cfg)
        super().__init__(model, cfg.train, device, forward_module=self._ddp)

    def _sync_gradients(self, enabled: bool) -> contextlib.AbstractContextManager:
        # Micro-batches before the last only accumulate locally: one all-reduce per step.
        return contextlib.nullcontext() if enabled else self._ddp.no_sync()


class FSDPEngine(ShardedOptimizerState, DataParallelEngine):
    """Parameters, gradients and AdamW state sharded over the ranks with FSDP2.

    NOTE: gradients are reduce-scattered after every micro-batch (FSDP's default) rather than
    only the last: skipping the reduction would keep unsharded gradients alive for the whole
    step, which is the memory sharding exists to save.
    """

    def __init__(self, model: nn.Module, cfg: Config, device: torch.device, dims: ParallelDims):
        self.dp_rank, self.dp_size = dist.get_rank(), dims.dp
        parallelize(model, dims, cfg, compute_dtype=resolve_dtype(cfg.train.dtype, device))
        super().__init__(model, cfg.train, device)  # builds AdamW over the shards

    def model_state_dict(self) -> dict[str, torch.Tensor]:
        return checkpoint.torch_full_state_dict(self.module) or {}

    def load_model_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        checkpoint.load_torch_full_state_dict(self.module, state)

    def save_sharded(self, directory: Path) -> None:
        checkpoint.save_torch_state(self.module, self.optimizer, directory)

    def load_sharded(self, directory: Path) -> None:
        checkpoint.load_torch_state(self.module, self.optimizer, directory)


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
        if cfg.train.activation_checkpointing:
            apply_activation_checkpointing(model)
        parallelize(model, dims, cfg)  # refuses what ZeRO cannot do; DeepSpeed shards below
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
        return checkpoint.deepspeed_full_state_dict(self.ds) or {}

    def load_model_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        checkpoint.load_deepspeed_full_state_dict(self.ds, state)

    def save_sharded(self, directory: Path) -> None:
        checkpoint.save_deepspeed_state(self.ds, directory)

    def load_sharded(self, directory: Path) -> None:
        checkpoint.load_deepspeed_state(self.ds, directory)


def build_parallel_engine(model: nn.Module, cfg: Config, device: torch.device) -> Engine:
    """The engine for `cfg.parallel.strategy` on the current process group.

    A sharding strategy in a single process (e.g. resuming a 2-rank FSDP run on one) gets a
    one-rank process group, so FSDP and DeepSpeed run unchanged.
    """
    world_size = dist.get_world_size() if dist.is_initialized() else 1
    strategy = resolve_strategy(cfg.parallel.strategy, world_size)
    dims = ParallelDims.from_config(cfg.parallel, world_size)  # refuses bad degrees up front
    if strategy == "none":
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
    engine_class = {"ddp": DDPEngine, "fsdp": FSDPEngine}[strategy]
    return engine_class(model, cfg, device, dims)
