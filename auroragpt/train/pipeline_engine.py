"""The pipeline-parallel engine: a schedule from `torch.distributed.pipelining` owns each step.

Ranks form a (pp x dp x tp) grid (`ParallelDims`, pipeline outermost). Every rank builds the
same model on the meta device, keeps only its stages (`auroragpt.parallel.pp`) and allocates
and initialises only those; with `parallel.tp` the weights are first split over each
tensor-parallel group (`auroragpt.parallel.tp`), so stages pass each other sequence-split
activations (B, T / tp, dim) and the last stage's logits are split by vocabulary (the loss and
its backward then run under `loss_parallel`); with `fsdp` each stage is sharded over its
data-parallel group. A step hands the schedule the rank's micro-batches: the first stage reads
the tokens, the last computes the mean next-token loss of each micro-batch, and the schedule
divides gradients by their number; the gradients are then averaged over the data-parallel group
(one all-reduce for ddp, FSDP's reduce-scatter), so the update is the one a single process
makes on the same global batch. Clipping uses the norm over every stage's gradients (DTensor
norms combined over their mesh, then summed over the pipeline group), and the loss is sent
from the last stage to all.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.tensor import DTensor
from torch.distributed.tensor.parallel import loss_parallel

from auroragpt.checkpoint import consolidate, sharded
from auroragpt.config import Config
from auroragpt.model import Transformer
from auroragpt.parallel import ParallelDims, pp, resolve_strategy
from auroragpt.parallel.ac import apply_ac, resolve_mode
from auroragpt.parallel.fsdp import apply_fsdp
from auroragpt.parallel.parallelize import apply_compile
from auroragpt.parallel.tp import apply_tp
from auroragpt.train.engine import (
    Engine,
    StepResult,
    next_token_loss,
    resolve_dtype,
)
from auroragpt.train.optim import build_optimizer, set_lr


class PipelineEngine(Engine):
    """Pipeline stages on this rank, their AdamW, and the schedule that runs a step."""

    generates_samples = False  # no rank holds the whole model

    def __init__(self, model: Transformer, cfg: Config, device: torch.device,
                 dims: ParallelDims):
        strategy = resolve_strategy(cfg.parallel.strategy, dims.world_size)
        self.cfg, self.device = cfg, device
        self.dtype = resolve_dtype(cfg.train.dtype, device)
        mesh = dims.build_mesh(device.type)
        self.pp_group = mesh["pp"].get_group()
        pp_rank = mesh["pp"].get_local_rank()
        self.sharded = strategy == "fsdp" and dims.dp > 1
        dp_mesh = mesh["dp_shard" if self.sharded else "dp_replicate"] if dims.dp > 1 else None
        self.dp_group = dp_mesh.get_group() if dp_mesh is not None else None
        self.dp_rank = dp_mesh.get_local_rank() if dp_mesh is not None else 0
        self.dp_size = dims.dp
        on_meta = any(p.is_meta for p in model.parameters())
        self.tp_size = dims.tp
        if dims.tp > 1:  # stages share these modules (split on meta, or from real weights)
            apply_tp(model, mesh["tp"])
        if resolve_mode(cfg.train.activation_checkpointing) != "none":
            apply_ac(model, cfg.train.activation_checkpointing)
        if cfg.train.compile:  # per block, as `parallelize` does; stages share the blocks
            apply_compile(model)
        self.parts = pp.split_model(model, pp_rank, dims.pp, cfg.parallel.stages_per_rank,
                                    dims.tp)
        if self.sharded:  # each stage its own FSDP root; `parts.local` sees the same shards
            for stage in self.parts.stages:
                apply_fsdp(stage, dp_mesh, param_dtype=self.dtype)
        if on_meta:
            # NOTE: only this rank's stages are allocated (its shards of them, with tp or fsdp),
            # with the weights one process draws after the same seed: each weight has its own
            # generator, seeded by name (see `Transformer.init_weights`).
            pp.materialize_stages(self.parts, device)
        self.optimizer = build_optimizer(self.parts.local, cfg.train)
        # NOTE: for ddp, stages are not wrapped in DDP: its reducer cannot follow the several
        # backward passes per step a schedule makes (torch 2.13 fails rebuilding its buckets),
        # so `_average_gradients` reduces once after the last one, as DDP's no_sync would.
        # FSDP reduce-scatters on the last backward (PipelineStage drives that itself).
        # Training and evaluation get their own PipelineStage objects, because a schedule
        # sizes its stages' buffers for its own micro-batch count.
        self._train_stages = self._pipeline_stages(self.parts.stages)
        self._eval_stages = self._pipeline_stages(self.parts.stages)
        self._schedules: dict[tuple[str, int], object] = {}

    def _pipeline_stages(self, modules: list[nn.Module]) -> list:
        from torch.distributed.pipelining import PipelineStage

        return [PipelineStage(module, index, self.parts.num_stages, self.device,
                              group=self.pp_group)
                for module, index in zip(modules, self.parts.indices, strict=True)]

    def _schedule(self, kind: str, n_micro: int):
        """One schedule per (kind, micro-batch count), built on first use."""
        key = (kind, n_micro)
        if key not in self._schedules:
            if kind == "eval":
                self._schedules[key] = pp.build_schedule(kind, self._eval_stages, n_micro)
            else:
                pp.check_micro_batches(self.cfg.parallel, n_micro)
                self._schedules[key] = pp.build_schedule(kind, self._train_stages, n_micro,
                                                         loss_fn=next_token_loss)
        return self._schedules[key]

    @property
    def module(self) -> nn.Module:
        return self.parts.local

    def _autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device.type, dtype=torch.bfloat16,
                              enabled=self.dtype == torch.bfloat16)

    def _loss_context(self) -> contextlib.AbstractContextManager:
        """Vocabulary-split logits (tensor parallel) need `loss_parallel` for loss and backward."""
        return loss_parallel() if self.tp_size > 1 else contextlib.nullcontext()

    def _from_last_stage(self, value: float | None) -> float:
        """The last stage's `value`, on every rank (mean over data-parallel replicas)."""
        sent = torch.tensor([value or 0.0, 1.0 if self.parts.has_last else 0.0],
                            dtype=torch.float64)
        dist.all_reduce(sent)
        return float(sent[0] / sent[1])

    # -- the step --------------------------------------------------------------------------------

    def train_step(self, micro_batches: list[torch.Tensor], lr: float) -> StepResult:
        set_lr(self.optimizer, lr)
        tokens = torch.cat(micro_batches).to(self.device)  # (n * mb, S + 1)
        schedule = self._schedule(self.cfg.parallel.pp_schedule, len(micro_batches))
        losses: list[torch.Tensor] = []
        with self._autocast(), self._loss_context():
            # return_outputs=False: the last stage would keep every micro-batch's logits
            args = (tokens[:, :-1],) if self.parts.has_first else ()
            schedule.step(*args, target=tokens, losses=losses, return_outputs=False)
        loss = torch.stack([_local(x) for x in losses]).mean().item() if losses else None
        self._average_gradients()
        grad_norm = self._clip_grad_norm()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return StepResult(loss=self._from_last_stage(loss), grad_norm=float(grad_norm))

    def _average_gradients(self) -> None:
        """Mean of every gradient over the data-parallel replicas, in one flat all-reduce
        (of this rank's slices, for tensor-parallel gradients)."""
        if self.dp_group is None or self.sharded:
            return
        grads = [_local(p.grad) for p in self.parts.local.parameters() if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, group=self.dp_group)
        flat /= self.dp_size
        for grad, mean in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
            grad.copy_(mean.view_as(grad))

    def _clip_grad_norm(self) -> torch.Tensor:
        """Clip by the L2 norm of every stage's gradients together, as one process would.

        Gradients are already averaged over data parallel, so summing the squares over the
        pipeline group alone gives the global norm (FSDP's shards and tensor-parallel slices
        are combined over their mesh first, by `full_tensor`).
        """
        params = [p for p in self.parts.local.parameters() if p.grad is not None]
        local = torch.nn.utils.get_total_norm([p.grad for p in params]) if params else \
            torch.zeros((), device=self.device)
        if isinstance(local, DTensor):
            local = local.full_tensor()
        squares = local.double() ** 2
        dist.all_reduce(squares, group=self.pp_group)
        norm = squares.sqrt().float()
        max_norm = self.cfg.train.grad_clip if self.cfg.train.grad_clip > 0 else float("inf")
        torch.nn.utils.clip_grads_with_norm_(params, max_norm, norm)
        return norm

    @torch.no_grad()
    def eval_loss(self, tokens: torch.Tensor) -> float:
        tokens = tokens.to(self.device)
        schedule = self._schedule("eval", 1)
        with self._autocast(), self._loss_context():
            args = (tokens[:, :-1],) if self.parts.has_first else ()
            logits = schedule.eval(*args)
            loss = _local(next_token_loss(logits, tokens)).item() if self.parts.has_last else None
        return self._from_last_stage(loss)

    # -- state -----------------------------------------------------------------------------------

    def model_state_dict(self) -> dict[str, torch.Tensor]:
        """Collective: every stage's weights gathered into the plain model's state dict."""
        local = {name: _full(t).detach().to("cpu", torch.float32).clone()
                 for name, t in self.parts.local.state_dict().items()}
        gathered: list[dict | None] = [None] * dist.get_world_size(self.pp_group)
        dist.all_gather_object(gathered, local, group=self.pp_group)
        if dist.get_rank() != 0:
            return {}
        return {name: t for part in gathered for name, t in part.items()}

    def load_model_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        own = {name: state[name] for name in self.parts.local.state_dict()}
        consolidate.load_torch_full_state_dict(self.parts.local, own)

    def optimizer_state_dict(self) -> dict:
        return {}  # each rank's share is in the sharded checkpoint (save_sharded)

    def load_optimizer_state_dict(self, state: dict) -> None:
        pass  # restored by load_sharded

    def save_sharded(self, directory: Path) -> dict[str, str]:
        return sharded.save_torch_state(self.parts.local, self.optimizer, directory)

    def load_sharded(self, directory: Path) -> None:
        # NOTE: every pipeline rank saves its param groups under the same keys
        # ("param_groups.0.lr"); torch 2.13's DCP keeps one rank's entries and the others come
        # back without their float hyperparameters. Those come from the config anyway (the
        # learning rate is set every step), so they are put back after loading.
        hyper = [{k: v for k, v in g.items() if k != "params"} for g in self.optimizer.param_groups]
        sharded.load_torch_state(self.parts.local, self.optimizer, directory)
        for group, saved in zip(self.optimizer.param_groups, hyper, strict=True):
            group.update(saved)


def _full(tensor: torch.Tensor) -> torch.Tensor:
    """The whole tensor behind an FSDP shard or tensor-parallel slice (collective over its
    mesh); plain ones as they are."""
    return tensor.full_tensor() if isinstance(tensor, DTensor) else tensor


def _local(tensor: torch.Tensor) -> torch.Tensor:
    """This rank's part of a DTensor (the value itself for a replicated loss); plain ones as
    they are."""
    return tensor.to_local() if isinstance(tensor, DTensor) else tensor
