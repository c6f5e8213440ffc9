"""ZeRO stages 1, 2 and 3 through DeepSpeed: the generated config and `deepspeed.initialize`.

ZeRO keeps data parallelism's "every rank runs the whole model on its own samples" but stops
every rank from storing everything: stage 1 partitions the optimizer state over the
data-parallel ranks, stage 2 also the gradients, stage 3 also the parameters (gathered layer by
layer just before use). Each stage divides more of the per-rank memory by the number of ranks.

The DeepSpeed config is generated from our `Config` so one source of truth drives batch sizes,
clipping and precision. A user's own DeepSpeed JSON (for example one written by
Megatron-DeepSpeed's ALCF `generateDSconfig`) may be given as `parallel.deepspeed_config`: its
tuning knobs (buckets, overlap, offload, comms logger, flops profiler, ...) are kept, while the
fields our config also decides must agree with it, and its optimizer and scheduler sections are
dropped because the training loop brings its own AdamW and learning-rate schedule.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from auroragpt.config import Config, ConfigError

ZERO_STAGES = {"zero1": 1, "zero2": 2, "zero3": 3}

# NOTE: DeepSpeed prints its own progress line every `steps_per_print` steps; the training loop
# already logs every step it wants, so DeepSpeed's line is pushed out of reach.
_QUIET_STEPS_PER_PRINT = 1_000_000_000


def gradient_accumulation_steps(cfg: Config, dp: int) -> int:
    """Micro-batches each rank runs per optimizer step so dp ranks cover the global batch."""
    per_step = cfg.train.micro_batch_size * dp
    if cfg.train.global_batch_size % per_step:
        raise ConfigError(
            f"train.global_batch_size={cfg.train.global_batch_size} must be a multiple of "
            f"train.micro_batch_size={cfg.train.micro_batch_size} x data-parallel ranks={dp}"
        )
    return cfg.train.global_batch_size // per_step


def deepspeed_config(cfg: Config, stage: int, dp: int, dtype: torch.dtype) -> dict[str, Any]:
    """The DeepSpeed JSON for a ZeRO `stage` run of `cfg` on `dp` data-parallel ranks.

    Bucket and persistence sizes scale with the hidden size (the rule the Hugging Face
    DeepSpeed integration uses for its "auto" values): buckets of dim^2 elements, and ZeRO-3
    keeps tensors below 10 * dim elements (the norm weights) whole on every rank while it
    partitions every weight matrix.
    """
    if stage not in (1, 2, 3):
        raise ConfigError(f"ZeRO stage {stage!r}: expected 1, 2 or 3")
    if dtype not in (torch.float32, torch.bfloat16):
        raise ConfigError(f"train.dtype resolves to {dtype}: ZeRO runs support fp32 and bf16")
    dim = cfg.model.dim
    zero: dict[str, Any] = {
        "stage": stage,
        "contiguous_gradients": True,
        "reduce_bucket_size": dim * dim,
    }
    if stage < 3:
        zero["allgather_bucket_size"] = dim * dim
    else:
        zero["stage3_prefetch_bucket_size"] = int(0.9 * dim * dim)
        zero["stage3_param_persistence_threshold"] = 10 * dim
    return {
        "train_batch_size": cfg.train.global_batch_size,
        "train_micro_batch_size_per_gpu": cfg.train.micro_batch_size,
        "gradient_accumulation_steps": gradient_accumulation_steps(cfg, dp),
        "gradient_clipping": cfg.train.grad_clip,
        "bf16": {"enabled": dtype == torch.bfloat16},
        "zero_optimization": zero,
        "steps_per_print": _QUIET_STEPS_PER_PRINT,
        "wall_clock_breakdown": False,
    }


# Fields of a user JSON that our config decides too: (path in the JSON, where ours comes from).
_AGREEING_FIELDS = (
    (("train_batch_size",), "train.global_batch_size"),
    (("train_micro_batch_size_per_gpu",), "train.micro_batch_size"),
    (("gradient_accumulation_steps",), "train.global_batch_size / (micro_batch_size x dp)"),
    (("gradient_clipping",), "train.grad_clip"),
    (("zero_optimization", "stage"), "parallel.strategy"),
)
# Sections replaced by the training loop's own optimizer (AdamW, our param groups) and schedule.
_DROPPED_SECTIONS = ("optimizer", "scheduler")


def merge_user_config(path: str | Path, generated: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Combine a user's DeepSpeed JSON with the generated config.

    Returns the merged config and notes on what was dropped. Raises `ConfigError` naming the
    file and field when the JSON disagrees with the run's config (batch sizes, accumulation,
    clipping, ZeRO stage, precision) or cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"parallel.deepspeed_config={str(path)!r}: file not found")
    try:
        user = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not valid JSON: {err}") from err
    if not isinstance(user, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(user).__name__}")

    for keys, our_field in _AGREEING_FIELDS:
        theirs, ours = _lookup(user, keys), _lookup(generated, keys)
        if theirs is not None and theirs != ours:
            raise ConfigError(
                f"{path}: {'.'.join(keys)}={theirs!r} disagrees with this run's {ours!r} "
                f"(from {our_field}); make them equal or delete the field from the JSON"
            )
    _check_precision(path, user, bf16=generated["bf16"]["enabled"])

    notes = [f"{path}: ignoring the '{section}' section (the training loop sets the "
             "optimizer and learning-rate schedule)" for section in _DROPPED_SECTIONS
             if section in user]
    merged = {k: v for k, v in user.items() if k not in (*_DROPPED_SECTIONS, "bfloat16")}
    for key, value in generated.items():
        merged.setdefault(key, value)  # the fields both decide agree (checked above)
    # The user's ZeRO tuning (buckets, overlap, offload, ...) on top of the generated section.
    merged["zero_optimization"] = {**generated["zero_optimization"],
                                   **user.get("zero_optimization", {})}
    bf16 = {**user.get("bfloat16", {}), **user.get("bf16", {}), **generated["bf16"]}
    if "loss_scale" in bf16:  # written by configs for older DeepSpeed, which accepted it
        del bf16["loss_scale"]
        notes.append(f"{path}: ignoring bf16 loss_scale (bf16 needs no loss scaling, and "
                     "current DeepSpeed rejects the field)")
    merged["bf16"] = bf16
    return merged, notes


def _check_precision(path: Path, user: dict[str, Any], bf16: bool) -> None:
    if (user.get("fp16") or {}).get("enabled"):
        raise ConfigError(f"{path}: fp16.enabled=true is not supported; use train.dtype=bf16")
    for key in ("bf16", "bfloat16"):  # DeepSpeed still reads the old spelling "bfloat16"
        enabled = (user.get(key) or {}).get("enabled")
        if enabled is not None and bool(enabled) != bf16:
            raise ConfigError(
                f"{path}: {key}.enabled={enabled} disagrees with this run's compute dtype "
                f"({'bf16' if bf16 else 'fp32'}, from train.dtype)"
            )


def _lookup(data: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def initialize(model: nn.Module, optimizer: torch.optim.Optimizer, config: dict[str, Any]):
    """`deepspeed.initialize` on an already initialised process group; returns the engine.

    NOTE: the optimizer is a plain `torch.optim.AdamW` built by the caller, so DeepSpeed does
    not JIT-compile its fused Adam, and our parameter groups (no decay on norms and
    embeddings) are kept.
    """
    import deepspeed

    engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=config,
                                      dist_init_required=False)
    return engine
