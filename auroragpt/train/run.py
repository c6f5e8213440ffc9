"""One training run end to end: resolve the config, claim the run directory, build, train.

    from auroragpt.train import resolve_config, train
    summary = train(resolve_config(preset="debug", overrides=["train.max_steps=50"]))
    print(summary)

A run directory belongs to one run. Starting a new run in a directory that already holds one
is refused (resume it, or pick another directory); resuming reads the run's own config.yaml
unless a preset or file is given, and refuses a model whose shape differs from the saved one.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from auroragpt.config import (
    Config,
    ConfigError,
    apply_overrides,
    get_preset,
    load_config,
    save_config,
)
from auroragpt.model import build_model
from auroragpt.train import checkpoint as ckpt
from auroragpt.train.engine import Engine, LocalEngine
from auroragpt.train.loop import RunSummary, Trainer, barrier
from auroragpt.train.rng import seed_everything
from auroragpt.train.threads import choose_cpu_threads

DEFAULT_PRESET = "tiny"
RUNS_DIR = Path("runs")
CONFIG_FILE = "config.yaml"
TOKENIZER_FILE = "tokenizer.model"


class RunDirError(RuntimeError):
    """The run directory does not fit the request (exists already, nothing to resume, ...)."""


def default_run_dir(cfg: Config) -> Path:
    return RUNS_DIR / cfg.name


def resolve_config(preset: str | None = None, config_file: str | Path | None = None,
                   overrides: Sequence[str] = (), run_dir: str | Path | None = None,
                   resume: bool = False) -> Config:
    """The effective config: a base, then `key.path=value` overrides, validated.

    Base: `config_file` (on top of `preset` when both are given), else `preset`, else, when
    resuming, the run's saved config.yaml (without its `train.stop_step`), else the `tiny`
    preset.
    """
    if config_file is not None:
        cfg = load_config(config_file, base=get_preset(preset) if preset else None)
    elif preset is not None:
        cfg = get_preset(preset)
    elif resume:
        saved = Path(run_dir or default_run_dir(get_preset(DEFAULT_PRESET))) / CONFIG_FILE
        if not saved.is_file():
            raise RunDirError(f"{saved}: not found, so there is no run to resume here")
        cfg = load_config(saved)
        cfg.train.stop_step = None  # a planned stop belongs to the invocation that asked for it
    else:
        cfg = get_preset(DEFAULT_PRESET)
    cfg = apply_overrides(cfg, list(overrides))
    # NOTE: saved absolute, so evaluating or resuming the run from another directory finds
    # the tokenized corpora and indices instead of preparing them again.
    cfg.data.cache_dir = str(Path(cfg.data.cache_dir).expanduser().absolute())
    return cfg


def check_new_run_dir(run_dir: Path) -> None:
    if run_dir.exists() and any(run_dir.iterdir()):
        raise RunDirError(
            f"{run_dir} already holds a run: pass --resume to continue it, or --run-dir "
            "with a new directory to start another"
        )


def check_resumable(run_dir: Path, cfg: Config) -> list[str]:
    """Raise unless `run_dir` holds a checkpointed run of the same model; list changed fields."""
    if not ckpt.list_checkpoints(run_dir / "checkpoints"):
        raise RunDirError(
            f"{run_dir}: no checkpoints to resume from (expected {run_dir}/checkpoints/"
            "global_step<N>/); drop --resume to start a new run there after removing it"
        )
    saved_path = run_dir / CONFIG_FILE
    if not saved_path.is_file():
        return []
    saved = _flatten(load_config(saved_path).to_dict())
    current = _flatten(cfg.to_dict())
    changed = sorted(k for k in saved.keys() | current.keys()
                     if saved.get(k) != current.get(k) and k != "train.stop_step")
    model_changes = [k for k in changed if k.startswith("model.")]
    if model_changes:
        raise ConfigError(
            f"{saved_path}: the run was trained with a different model shape ("
            + ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in model_changes)
            + "); a checkpoint only resumes the model it was saved from"
        )
    return changed


def build_engine(model, cfg: Config, world_size: int, device) -> Engine:
    """Single process without a strategy: `LocalEngine`; otherwise the parallel engines."""
    if world_size == 1 and cfg.parallel.strategy in ("auto", "none"):
        return LocalEngine(model, cfg.train, device)
    from auroragpt.train.parallel_engines import build_parallel_engine

    return build_parallel_engine(model, cfg, device)


def train(cfg: Config, run_dir: str | Path | None = None, resume: bool = False,
          progress: bool = True, data=None) -> RunSummary:
    """Train `cfg` into `run_dir` (default runs/<cfg.name>); with `resume`, continue its run.

    `data` defaults to `auroragpt.data.prepare_data(cfg)`; anything with its fields works.
    Joins the distributed job through `auroragpt.distributed.setup()` (single process: no group).
    """
    from auroragpt.distributed import setup
    from auroragpt.parallel import ParallelDims

    info = setup()
    ParallelDims.from_config(cfg.parallel, info.world_size)  # bad degrees fail before any work
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(cfg)
    if resume:
        changed = check_resumable(run_dir, cfg)
        if changed and info.is_main:
            print(f"resuming with changed settings: {', '.join(changed)}", file=sys.stderr)
    else:
        check_new_run_dir(run_dir)
    barrier()  # every rank has checked before rank 0 creates anything

    if data is None:
        from auroragpt.data import prepare_data

        data = prepare_data(cfg, rank=info.rank, world_size=info.world_size, progress=progress)
    if info.device.type == "cpu":
        threads, why = choose_cpu_threads(cfg.train.cpu_threads)
        if info.is_main:
            print(f"cpu threads: {threads} ({why})", file=sys.stderr)
    seed_everything(cfg.train.seed)  # identical initial weights on every rank
    model = build_model(cfg.model, info.device)
    engine = build_engine(model, cfg, info.world_size, info.device)
    trainer = Trainer(cfg, engine, data, run_dir, info.device, world_size=info.world_size,
                      is_main=info.is_main, progress=progress)
    if resume:
        warn = ((lambda message: print(f"warning: {message}", file=sys.stderr))
                if info.is_main else (lambda message: None))
        trainer.restore(ckpt.load_latest_valid(run_dir / "checkpoints", warn=warn))
    if info.is_main:
        write_run_files(run_dir, cfg, getattr(data, "tokenizer", None))
    barrier()
    return trainer.fit()


def write_run_files(run_dir: Path, cfg: Config, tokenizer) -> None:
    """RUN_DIR/config.yaml (the effective config) and RUN_DIR/tokenizer.model."""
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / CONFIG_FILE)
    if tokenizer is not None:
        tmp = run_dir / f".{TOKENIZER_FILE}.tmp"
        shutil.copyfile(tokenizer.model_path, tmp)
        tmp.replace(run_dir / TOKENIZER_FILE)


def _flatten(data: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict) and prefix + key != "data.builtin":
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat
