"""One training run end to end: resolve the config, claim the run directory, build, train.

    from auroragpt.train import resolve_config, train
    summary = train(resolve_config(preset="debug", overrides=["train.max_steps=50"]))
    print(summary)

A run directory belongs to one run, and one process group writes to it at a time
(`RUN_DIR/.lock`, see `lock.py`). Starting a new run where checkpoints exist is refused (resume
it, or pick another directory); a directory left by a start that failed before its first
checkpoint is simply reused. `--resume` continues from the newest valid checkpoint, or starts
at step 0 when there is none yet, so one job script serves the first run and every requeue.
Resuming reads the run's own config.yaml unless a preset or file is given, and refuses a model
of another shape or other training data than the saved run's.

Paths in the config (data files, tokenizer, cache, DeepSpeed JSON) are made absolute before
they are saved, and relative paths in a saved config are read against its run directory, so a
run resumed or evaluated from another working directory reads the same data.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.distributed as dist

from auroragpt.atomic import atomic_path
from auroragpt.checkpoint import CHECKPOINTS_DIR, list_checkpoints, load_latest_valid
from auroragpt.config import (
    Config,
    ConfigError,
    apply_overrides,
    get_preset,
    load_config,
    save_config,
)
from auroragpt.model import Transformer, build_model
from auroragpt.train.engine import Engine, LocalEngine
from auroragpt.train.lock import RunDirLock, RunDirLockedError
from auroragpt.train.loop import RunSummary, Trainer, barrier
from auroragpt.train.rng import seed_everything
from auroragpt.train.threads import choose_cpu_threads

DEFAULT_PRESET = "tiny"
RUNS_DIR = Path("runs")
CONFIG_FILE = "config.yaml"
TOKENIZER_FILE = "tokenizer.model"
PATH_FIELDS = (("data", "file_list"), ("data", "tokenizer"), ("data", "cache_dir"),
               ("parallel", "deepspeed_config"))
# data.* fields a resumed run may change: they move or parallelise reading, not what is read
_DATA_FIELDS_FREE = {"data.num_workers", "data.cache_dir"}


class RunDirError(RuntimeError):
    """The run directory does not fit the request (holds another run, is locked, ...)."""


def default_run_dir(cfg: Config) -> Path:
    return RUNS_DIR / cfg.name


def absolute_paths(cfg: Config, base: Path) -> Config:
    """`cfg` with every relative path field resolved against `base` (in place)."""
    for section, name in PATH_FIELDS:
        value = getattr(getattr(cfg, section), name)
        if value is not None:
            path = Path(value).expanduser()
            setattr(getattr(cfg, section), name, str(path if path.is_absolute()
                                                     else (Path(base) / path).absolute()))
    return cfg


def resolve_config(preset: str | None = None, config_file: str | Path | None = None,
                   overrides: Sequence[str] = (), run_dir: str | Path | None = None,
                   resume: bool = False) -> Config:
    """The effective config: a base, then `key.path=value` overrides, validated.

    Base: `config_file` (on top of `preset` when both are given), else `preset`, else, when
    resuming, the run's saved config.yaml (without its `train.stop_step`; its relative paths
    read against the run directory), else the `tiny` preset. Paths given here are read against
    the working directory; all are saved absolute.
    """
    if config_file is not None:
        cfg = load_config(config_file, base=get_preset(preset) if preset else None)
    elif preset is not None:
        cfg = get_preset(preset)
    else:
        cfg = get_preset(DEFAULT_PRESET)
        saved_dir = Path(run_dir or default_run_dir(cfg))
        if resume and (saved_dir / CONFIG_FILE).is_file():
            cfg = absolute_paths(load_config(saved_dir / CONFIG_FILE), saved_dir)
            cfg.train.stop_step = None  # a planned stop belongs to the invocation that asked
    cfg = apply_overrides(cfg, list(overrides))
    return absolute_paths(cfg, Path.cwd())


def check_batch_split(cfg: Config, world_size: int) -> None:
    """The global batch must split into whole micro-batches on every data-parallel rank;
    checked before any data is prepared."""
    t, p = cfg.train, cfg.parallel
    model_parallel = p.tp * p.pp * p.sp
    if world_size % model_parallel:
        raise ConfigError(
            f"parallel.tp={p.tp} x parallel.pp={p.pp} x parallel.sp={p.sp} = {model_parallel} "
            f"must divide the world size {world_size}")
    dp = world_size // model_parallel
    per_round = t.micro_batch_size * dp
    if t.global_batch_size % per_round:
        raise ConfigError(
            f"train.global_batch_size={t.global_batch_size} must be a multiple of "
            f"train.micro_batch_size={t.micro_batch_size} x {dp} data-parallel ranks "
            f"= {per_round}")


def check_new_run_dir(run_dir: Path) -> None:
    """Refuse a run directory that holds checkpoints; leftovers of a failed start are fine."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: exists and is not a directory")
    if list_checkpoints(run_dir / CHECKPOINTS_DIR):
        raise RunDirError(
            f"{run_dir} already holds a run: pass --resume to continue it, or --run-dir "
            "with a new directory to start another")


def check_resumable(run_dir: Path, cfg: Config) -> tuple[bool, list[str]]:
    """(whether there is a checkpoint to resume from, settings changed since the saved run).

    Raises if the model shape or the training data differ from the saved run's.
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: exists and is not a directory")
    has_checkpoint = bool(list_checkpoints(run_dir / CHECKPOINTS_DIR))
    saved_path = run_dir / CONFIG_FILE
    if not has_checkpoint or not saved_path.is_file():
        return has_checkpoint, []
    saved = _flatten(absolute_paths(load_config(saved_path), run_dir).to_dict())
    current = _flatten(cfg.to_dict())
    changed = sorted(k for k in saved.keys() | current.keys()
                     if saved.get(k) != current.get(k) and k != "train.stop_step")
    for kind, fields in (
            ("model shape", [k for k in changed if k.startswith("model.")]),
            ("training data", [k for k in changed
                               if k.startswith("data.") and k not in _DATA_FIELDS_FREE])):
        if fields:
            raise ConfigError(
                f"{saved_path}: the run was trained with a different {kind} ("
                + ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in fields)
                + "); a resumed run continues the run it was saved from (start a new run "
                "directory to change it)")
    return has_checkpoint, changed


def build_engine(model, cfg: Config, world_size: int, device) -> Engine:
    """Single process without a strategy: `LocalEngine`; otherwise the parallel engines (which
    take `model` on the meta device, or built)."""
    if world_size == 1 and cfg.parallel.strategy in ("auto", "single"):
        return LocalEngine(model, cfg.train, device)
    from auroragpt.train.parallel_engines import build_parallel_engine

    return build_parallel_engine(model, cfg, device)


def _on_main_rank(fn: Callable[[], object]) -> object:
    """Run `fn` on the main rank only; its RunDirError is raised on every rank alike."""
    result, error = None, None
    if not dist.is_initialized() or dist.get_rank() == 0:
        try:
            result = fn()
        except (RunDirError, RunDirLockedError) as err:
            error = str(err)
    if dist.is_initialized() and dist.get_world_size() > 1:
        box = [(result, error)]
        dist.broadcast_object_list(box, src=0)
        result, error = box[0]
    if error is not None:
        raise RunDirError(error)
    return result


def train(cfg: Config, run_dir: str | Path | None = None, resume: bool = False,
          progress: bool = True, data=None) -> RunSummary:
    """Train `cfg` into `run_dir` (default runs/<cfg.name>); with `resume`, continue its run
    (from step 0 if it has no checkpoint yet).

    `data` defaults to `auroragpt.data.prepare_data(cfg)`; anything with its fields works.
    Joins the distributed job through `auroragpt.distributed.setup()` (single process: no group).
    """
    from auroragpt.distributed import setup

    started = time.monotonic()  # train.max_time counts data preparation too
    info = setup()
    check_batch_split(cfg, info.world_size)
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(cfg)
    lock = RunDirLock(run_dir)
    _on_main_rank(lambda: _claim(lock, run_dir))
    try:
        return _train_locked(cfg, run_dir, resume, progress, data, info, started)
    finally:
        if info.is_main:
            lock.release()


def _claim(lock: RunDirLock, run_dir: Path) -> None:
    try:
        lock.acquire()
    except OSError as err:
        raise RunDirError(f"{run_dir}: cannot write the run directory ({err.strerror})") from None


def _train_locked(cfg: Config, run_dir: Path, resume: bool, progress: bool, data, info,
                  started: float) -> RunSummary:
    if resume:
        resume, changed = check_resumable(run_dir, cfg)
        if info.is_main and changed:
            print(f"resuming with changed settings: {', '.join(changed)}", file=sys.stderr)
        if info.is_main and not resume:
            print(f"{run_dir}: no checkpoint yet, starting at step 0", file=sys.stderr)
    else:
        check_new_run_dir(run_dir)
    barrier()  # every rank has checked before rank 0 writes anything

    if data is None:
        from auroragpt.data import prepare_data

        data = prepare_data(cfg, rank=info.rank, world_size=info.world_size, progress=progress)
    if info.device.type == "cpu":
        threads, why = choose_cpu_threads(cfg.train.cpu_threads)
        if info.is_main:
            print(f"cpu threads: {threads} ({why})", file=sys.stderr)
    seed_everything(cfg.train.seed)  # identical initial weights on every rank
    if info.world_size == 1 and cfg.parallel.strategy in ("auto", "single"):
        model = build_model(cfg.model, info.device)
    else:  # a parallel engine allocates and initialises each rank's own shards only
        with torch.device("meta"):
            model = Transformer(cfg.model)
    engine = build_engine(model, cfg, info.world_size, info.device)
    trainer = Trainer(cfg, engine, data, run_dir, info.device, world_size=info.world_size,
                      is_main=info.is_main, progress=progress, started=started)
    if resume:
        warn = ((lambda message: print(f"warning: {message}", file=sys.stderr))
                if info.is_main else (lambda message: None))
        trainer.restore(load_latest_valid(run_dir / CHECKPOINTS_DIR, warn=warn,
                                          read_model=not engine.sharded_state))
    if info.is_main:
        write_run_files(run_dir, cfg, getattr(data, "tokenizer", None))
    barrier()
    return trainer.fit()


def write_run_files(run_dir: Path, cfg: Config, tokenizer) -> None:
    """RUN_DIR/config.yaml (the effective config) and RUN_DIR/tokenizer.model."""
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / CONFIG_FILE)
    if tokenizer is not None:
        with atomic_path(run_dir / TOKENIZER_FILE) as tmp:
            shutil.copyfile(tokenizer.model_path, tmp)


def _flatten(data: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict) and prefix + key != "data.builtin":
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat
