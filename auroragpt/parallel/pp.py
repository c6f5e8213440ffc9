"""Pipeline parallelism: each pipeline rank holds a slice of the layers and passes activations on.

The model's `layers` (a `ModuleDict` keyed "0".."n-1") are cut into `pp x v` consecutive
chunks (stages). Stage 0 also holds the token embedding and the last stage the final norm
and the output projection; a rank holds stages `rank, rank + pp, ...` (one stage unless the
schedule is interleaved, with v virtual stages per rank). Each stage is a `Transformer` whose
other parts are None, so its parameter names are exactly the plain model's and a state dict
of a stage is a slice of the plain model's.

`torch.distributed.pipelining` runs the stages: `PipelineStage` sends and receives the
activations and their gradients between ranks, and a schedule orders the micro-batches:

- gpipe: every micro-batch's forward, then every backward; holds all micro-batches' activations.
- 1f1b: after a warm-up of pp - rank forwards, one forward per backward; holds at most pp.
- interleaved: 1F1B over v stages per rank, which shrinks the pipeline bubble v times at the
  cost of v times more sends (Narayanan et al. 2021).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from auroragpt.config import ConfigError, ParallelConfig
from auroragpt.model import Transformer, draw_init_seed
from auroragpt.parallel.tp import feed_whole_sequence_positions

SCHEDULES = ParallelConfig.PP_SCHEDULES


def check_micro_batches(parallel: ParallelConfig, n_micro: int) -> None:
    """Refuse a step of `n_micro` micro-batches that the schedule cannot run."""
    if parallel.pp_schedule != "gpipe" and n_micro < parallel.pp:
        raise ConfigError(
            f"parallel.pp_schedule={parallel.pp_schedule} needs at least parallel.pp="
            f"{parallel.pp} micro-batches per step, but train.global_batch_size / "
            f"(train.micro_batch_size x data-parallel ranks) = {n_micro}: raise the global "
            "batch, lower the micro-batch, or use gpipe")
    if parallel.pp_schedule == "interleaved" and n_micro % parallel.pp:
        raise ConfigError(
            f"parallel.pp_schedule=interleaved needs a multiple of parallel.pp={parallel.pp} "
            f"micro-batches per step, got {n_micro}")


@dataclass
class RankStages:
    """What one pipeline rank holds: its stages, and all of them as one module."""

    stages: list[Transformer]  # this rank's stages, in schedule order
    indices: list[int]  # their stage numbers, 0 .. pp * v - 1
    local: Transformer  # every part this rank holds, named as in the plain model
    num_stages: int

    @property
    def has_first(self) -> bool:
        return self.indices[0] == 0

    @property
    def has_last(self) -> bool:
        return self.indices[-1] == self.num_stages - 1


def _part(model: Transformer, layer_ids: list[int], first: bool, last: bool) -> Transformer:
    """A Transformer sharing `model`'s modules: the given layers, and its ends if asked."""
    with torch.device("meta"):  # NOTE: a skeleton; every module in it is replaced below
        part = Transformer(model.config)
    part.layers = nn.ModuleDict({str(i): model.layers[str(i)] for i in layer_ids})
    part.tok_embeddings = model.tok_embeddings if first else None
    part.norm = model.norm if last else None
    part.output = model.output if last else None
    part.rope = model.rope
    return part


def split_model(model: Transformer, pp_rank: int, pp: int, virtual: int = 1,
                tp: int = 1) -> RankStages:
    """This rank's stages of `model` (built identical on every rank, best on the meta device,
    then materialised by `materialize_stages`; already split over `tp` ranks by `apply_tp`
    when tp > 1).

    Stage s holds layers [s * L / S, (s + 1) * L / S) of S = pp x virtual stages; rank r holds
    stages r, r + pp, ... (the loop placement torch's interleaved schedule expects).
    """
    n_layers, num_stages = model.config.n_layers, pp * virtual
    if n_layers % num_stages:
        raise ConfigError(f"model.n_layers={n_layers} must be divisible by parallel.pp x "
                          f"virtual stages = {pp} x {virtual}")
    if model.config.tie_embeddings and pp > 1:
        raise ConfigError("model.tie_embeddings=true shares one weight between the first and "
                          "the last pipeline stage; set it false when parallel.pp > 1")
    per_stage = n_layers // num_stages
    indices = list(range(pp_rank, num_stages, pp))
    layers = lambda s: list(range(s * per_stage, (s + 1) * per_stage))  # noqa: E731
    stages = [_part(model, layers(s), s == 0, s == num_stages - 1) for s in indices]
    for stage in stages if tp > 1 else ():
        if stage.tok_embeddings is None:  # fed a sequence slice by the stage before
            feed_whole_sequence_positions(stage, tp)
    local = _part(model, [i for s in indices for i in layers(s)], indices[0] == 0,
                  indices[-1] == num_stages - 1)
    return RankStages(stages, indices, local, num_stages)


def materialize_stages(parts: RankStages, device: torch.device) -> None:
    """Allocate this rank's stages (split on the meta device) on `device` and initialise them.

    No other stage's weights are ever allocated. Every stage is initialised with one base
    seed drawn once, so the weights are the plain model's (`Transformer.init_weights` seeds
    each weight by its name, which a stage keeps); under DTensor's implicit replication a
    tensor-parallel or FSDP-sharded parameter keeps its slice of them. Each stage is
    materialised as itself, so an FSDP stage (its own root) re-registers its shards.
    """
    from torch.distributed.tensor.experimental import implicit_replication

    seed = draw_init_seed()
    with implicit_replication():
        for stage in parts.stages:
            stage.to_empty(device=device)
            stage.init_weights(seed)
    # `local` shares the stages' modules (so their new parameters) but has its own rope buffer
    parts.local.rope = parts.stages[0].rope


def build_schedule(kind: str, stages: list, n_micro: int, loss_fn=None):
    """A `torch.distributed.pipelining` schedule over this rank's `PipelineStage`s.

    Gradients are divided by the number of micro-batches (`scale_grads`), so with a mean loss
    per micro-batch the accumulated gradient is that of the mean over the whole batch.
    """
    from torch.distributed.pipelining import (
        Schedule1F1B,
        ScheduleGPipe,
        ScheduleInterleaved1F1B,
        ScheduleLoopedBFS,
    )

    if loss_fn is None:  # forward only (evaluation): any micro-batch count
        if len(stages) > 1:
            return ScheduleLoopedBFS(stages, n_micro)
        return ScheduleGPipe(stages[0], n_micro)
    if kind == "interleaved":
        return ScheduleInterleaved1F1B(stages, n_micro, loss_fn=loss_fn, scale_grads=True)
    cls = {"gpipe": ScheduleGPipe, "1f1b": Schedule1F1B}[kind]
    return cls(stages[0], n_micro, loss_fn=loss_fn, scale_grads=True)
