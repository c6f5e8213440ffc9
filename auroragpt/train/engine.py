"""The engine: everything the training loop needs from a model and its optimizer.

The loop never calls `backward()` or `optimizer.step()` itself; it hands an engine the
micro-batches of one optimizer step and gets back the loss and the gradient norm. That is the
seam where parallel strategies plug in: a DDP or FSDP engine overrides the small hooks of
`LocalEngine` (`_sync_gradients`, `_mean_over_data_parallel`, the state-dict methods), while a
strategy that owns backward, clipping and stepping itself (a DeepSpeed engine, a pipeline
schedule) implements `Engine` whole.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from auroragpt.config import TrainConfig
from auroragpt.train.optim import build_optimizer, set_lr


@dataclass
class StepResult:
    loss: float  # mean next-token loss over the whole global batch (all micro-batches, all ranks)
    grad_norm: float  # global gradient L2 norm before clipping


def next_token_loss(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of predicting tokens[:, 1:] from logits of tokens[:, :-1].

    logits: (B, S, V) for inputs tokens[:, :-1]; tokens: (B, S + 1), a Megatron-style sample.
    """
    targets = tokens[:, 1:]  # (B, S)
    # NOTE: the softmax runs in fp32 even under bf16 autocast: log-probabilities of a large
    # vocabulary lose too many digits in bf16.
    return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """`train.dtype` to a torch dtype: `auto` picks bf16 on CUDA and XPU, fp32 elsewhere.

    NOTE: CPUs run bf16 autocast correctly but, without AMX, usually slower than fp32, so
    `auto` keeps fp32 there; `train.dtype=bf16` asks for it explicitly.
    """
    if name == "fp32":
        return torch.float32
    if name == "bf16":
        return torch.bfloat16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    if device.type == "xpu":
        return torch.bfloat16
    return torch.float32


def apply_activation_checkpointing(model: nn.Module) -> None:
    """Recompute every transformer block's activations in backward instead of storing them.

    NOTE: the composable `checkpoint` hooks the block in place instead of wrapping it, so
    parameter names (and therefore checkpoints) stay exactly those of the plain model.
    """
    from torch.distributed._composable import checkpoint

    for block in model.layers.values():
        checkpoint(block)


class Engine(ABC):
    """A model plus its optimizer, as seen by the training loop."""

    dp_rank: int = 0  # this rank's index among data-parallel replicas
    dp_size: int = 1  # number of data-parallel replicas (the batch is split over these)
    generates_samples: bool = True  # False where no rank holds the whole model (pipeline)

    @property
    @abstractmethod
    def module(self) -> nn.Module:
        """The plain, unwrapped model: for generation and for parameter names."""

    @abstractmethod
    def train_step(self, micro_batches: list[torch.Tensor], lr: float) -> StepResult:
        """One optimizer step on this rank's micro-batches, each (mb, S + 1) token ids."""

    @abstractmethod
    def eval_loss(self, tokens: torch.Tensor) -> float:
        """Mean next-token loss of (mb, S + 1) tokens per rank, averaged over data parallel."""

    @abstractmethod
    def model_state_dict(self) -> dict[str, torch.Tensor]:
        """Full, unsharded fp32 CPU weights named as in the plain model (collective call)."""

    @abstractmethod
    def load_model_state_dict(self, state: dict[str, torch.Tensor]) -> None: ...

    @abstractmethod
    def optimizer_state_dict(self) -> dict:
        """Optimizer state that `load_optimizer_state_dict` restores exactly (collective call)."""

    @abstractmethod
    def load_optimizer_state_dict(self, state: dict) -> None: ...

    def save_sharded(self, directory: Path) -> None:
        """Collective: write the strategy's own resumable state into a checkpoint directory.

        A sharded strategy (FSDP, ZeRO) saves its shards here instead of a full optimizer
        state; the single-process engine keeps everything in trainer_state.pt and writes nothing.
        """
        return None

    def load_sharded(self, directory: Path) -> None:
        """Collective: restore what `save_sharded` wrote into `directory`."""
        return None


class LocalEngine(Engine):
    """One process, one device: autocast, gradient accumulation, clipping and AdamW.

    `forward_module` is what runs the forward pass (the model itself, a compiled model, or a
    DDP/FSDP wrapper supplied by a subclass); `model` is the plain model it wraps.
    """

    def __init__(self, model: nn.Module, cfg: TrainConfig, device: torch.device,
                 forward_module: nn.Module | None = None):
        self._model = model
        self.cfg = cfg
        self.device = device
        self.dtype = resolve_dtype(cfg.dtype, device)
        if cfg.activation_checkpointing:
            apply_activation_checkpointing(model)
        forward_module = forward_module if forward_module is not None else model
        self.forward_module = torch.compile(forward_module) if cfg.compile else forward_module
        self.optimizer = build_optimizer(model, cfg)

    @property
    def module(self) -> nn.Module:
        return self._model

    # -- hooks a data-parallel subclass overrides -----------------------------------------------

    def _sync_gradients(self, enabled: bool) -> contextlib.AbstractContextManager:
        """Context for one micro-batch's backward; `enabled` is False for all but the last."""
        return contextlib.nullcontext()

    def _mean_over_data_parallel(self, value: torch.Tensor) -> torch.Tensor:
        return value

    def _clip_grad_norm(self) -> torch.Tensor:
        # NOTE: an infinite max_norm still returns the norm for logging and scales by exactly 1.
        max_norm = self.cfg.grad_clip if self.cfg.grad_clip > 0 else float("inf")
        return torch.nn.utils.clip_grad_norm_(self._model.parameters(), max_norm)

    # -- the step --------------------------------------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device.type, dtype=torch.bfloat16,
                              enabled=self.dtype == torch.bfloat16)

    def _loss(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = tokens.to(self.device, non_blocking=True)
        with self._autocast():
            logits = self.forward_module(tokens[:, :-1])  # (mb, S, V)
        return next_token_loss(logits, tokens)

    def train_step(self, micro_batches: list[torch.Tensor], lr: float) -> StepResult:
        set_lr(self.optimizer, lr)
        n = len(micro_batches)
        total = torch.zeros((), device=self.device)
        for i, tokens in enumerate(micro_batches):
            with self._sync_gradients(enabled=i == n - 1):
                # NOTE: scaling each micro-batch's mean by 1/n makes the accumulated gradient
                # that of the mean over the rank's whole batch; data parallel then averages
                # over ranks, so any split of the global batch gives the same update.
                loss = self._loss(tokens) / n
                loss.backward()
            total += loss.detach()
        grad_norm = self._clip_grad_norm()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return StepResult(loss=self._mean_over_data_parallel(total).item(),
                          grad_norm=float(grad_norm))

    @torch.no_grad()
    def eval_loss(self, tokens: torch.Tensor) -> float:
        return self._mean_over_data_parallel(self._loss(tokens)).item()

    # -- state -----------------------------------------------------------------------------------

    def model_state_dict(self) -> dict[str, torch.Tensor]:
        # NOTE: clone, so tied weights become two tensors (safetensors refuses shared memory)
        # and the saved copy never aliases live parameters.
        return {name: t.detach().to("cpu", torch.float32).clone()
                for name, t in self._model.state_dict().items()}

    def load_model_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self._model.load_state_dict(state, strict=True)

    def optimizer_state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_optimizer_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)
