"""Training: the loop, its engine seam, optimizer and schedule, checkpoints, metrics, plots.

    from auroragpt.train import resolve_config, train
    summary = train(resolve_config(preset="tiny"), run_dir="runs/tiny")

- `run.py`: `train()` end to end and `resolve_config()` (preset, file, overrides, resume);
- `loop.py`: the `Trainer` (steps, metrics.jsonl, validation, samples, checkpoints);
- `engine.py`: what a step needs from model + optimizer (`Engine`, `LocalEngine`); the
  parallel strategies' engines live in `parallel_engines.py`;
- `optim.py`: AdamW parameter groups and the warm-up + cosine schedule `lr_at(step, cfg)`;
- `lock.py`: one writer per run directory; `stopping.py`: SIGTERM, SIGINT and
  `train.max_time` end a run with a checkpoint;
- `metrics.py`, `plots.py`, `samples.py`, `rng.py`: the run's outputs and reproducibility.

Checkpoints (layout, checksums, sharded state, safe loading) are `auroragpt.checkpoint`'s.
"""

from auroragpt.train.engine import Engine, LocalEngine, StepResult, next_token_loss
from auroragpt.train.loop import RunSummary, Trainer, TrainingError
from auroragpt.train.optim import build_optimizer, lr_at, param_groups
from auroragpt.train.run import RunDirError, resolve_config, train

__all__ = [
    "Engine",
    "LocalEngine",
    "RunDirError",
    "RunSummary",
    "StepResult",
    "Trainer",
    "TrainingError",
    "build_optimizer",
    "lr_at",
    "next_token_loss",
    "param_groups",
    "resolve_config",
    "train",
]
