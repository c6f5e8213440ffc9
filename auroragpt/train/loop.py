"""The training loop of one run: steps, metrics, validation, samples, checkpoints.

The `Trainer` owns the order of events and the bookkeeping; the arithmetic of a step
(forward, backward, clipping, the update, and whatever parallelism does to them) belongs to
the `Engine` it is given. Everything a step depends on (weights, optimizer moments, the step
number that fixes the learning rate, the data position and every RNG) is in a checkpoint, so
a resumed run continues exactly where the interrupted one stopped: on CPU, bit for bit.
SIGTERM, SIGINT and `train.max_time` end the loop after a step with a checkpoint
(`stopping.py`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from safetensors import SafetensorError
from torch.distributed.checkpoint.api import CheckpointException
from tqdm.auto import tqdm

from auroragpt.checkpoint import MODEL_FILE, STATE_FILE, Checkpoint, CheckpointError, layout
from auroragpt.checkpoint.state import write_checkpoint_files
from auroragpt.checkpoint.weights import check_state_dict
from auroragpt.config import Config, count_parameters, flops_per_token
from auroragpt.train.engine import Engine, StepResult, resolve_dtype
from auroragpt.train.metrics import JsonlLog, device_name, peak_tflops, throughput
from auroragpt.train.optim import lr_at
from auroragpt.train.plots import plot_run
from auroragpt.train.rng import rng_state, set_rng_state
from auroragpt.train.samples import format_samples, generate_samples, sample_prompts
from auroragpt.train.stopping import StopRequests
from auroragpt.train.tracking import MetricsLog

METRICS_FILE = "metrics.jsonl"
SAMPLES_FILE = "samples.jsonl"
TRAINER_STATE_FORMAT = 1  # bump when trainer_state.pt changes shape
PLOT_INTERVAL_S = 300.0  # plots are redrawn at checkpoints at most this often, and at the end


class TrainingError(RuntimeError):
    """Training cannot go on (diverged, out of data); the message says what to change."""


@dataclass
class RunSummary:
    run_dir: Path
    first_step: int  # step this invocation started after (0 for a fresh run)
    last_step: int  # step it ended at
    tokens_seen: int  # training tokens consumed by the run so far, all ranks
    session_tokens: int  # training tokens of this invocation's steps
    loss: float | None  # training loss of the last step
    val_loss: float | None  # last validation loss
    step_seconds: float  # time spent in training steps by this invocation
    wall_seconds: float  # time of this invocation's loop, with evaluation, samples, saving
    checkpoint: Path | None  # the last checkpoint written
    stopped_by: str | None = None  # why the run stopped before its end step (None: it did not)

    @property
    def tokens_per_s(self) -> float:
        return self.session_tokens / self.step_seconds if self.step_seconds else 0.0

    def __str__(self) -> str:
        if self.last_step == self.first_step:
            return (f"nothing to train: the run in {self.run_dir} is already at step "
                    f"{self.last_step} (raise train.max_steps to continue it)")
        val = f", validation {self.val_loss:.4f}" if self.val_loss is not None else ""
        loss = f"{self.loss:.4f}" if self.loss is not None else "n/a"
        finished = (f"stopped by {self.stopped_by} after step {self.last_step}, with a "
                    "checkpoint; continue with --resume" if self.stopped_by
                    else f"finished step {self.last_step}")
        return "\n".join([
            f"{finished} ({self.tokens_seen:,} tokens seen)",
            f"  loss {loss}{val}",
            f"  {self.wall_seconds:.1f} s this session, {self.tokens_per_s:,.0f} tokens/s "
            "in training steps",
            f"  run directory: {self.run_dir}",
            f"  checkpoint:    {self.checkpoint}" if self.checkpoint else "  no checkpoint",
            f"  metrics:       {self.run_dir / METRICS_FILE} (plots: loss.png, throughput.png)",
        ])


@dataclass
class _Window:
    """Training-step time since the last metrics line, for its throughput figures."""

    seconds: float = 0.0
    steps: int = 0

    def add(self, seconds: float) -> None:
        self.seconds += seconds
        self.steps += 1

    def reset(self) -> None:
        self.seconds, self.steps = 0.0, 0


@dataclass
class _Logs:
    """The main rank's open JSONL files."""

    metrics: MetricsLog
    samples: JsonlLog

    def close(self) -> None:
        self.metrics.close()
        self.samples.close()


class Trainer:
    """Runs `cfg.train` on an engine over prepared data, writing into `run_dir`.

    `data` follows `auroragpt.data.PreparedData`: `train` and `valid` datasets (`valid` may be
    None), `tokenizer` (None: no samples) and `corpus_names`. Only the main rank writes files
    and prints; every rank runs the same steps and collectives.
    """

    def __init__(self, cfg: Config, engine: Engine, data, run_dir: Path, device: torch.device,
                 world_size: int = 1, is_main: bool = True, progress: bool = True,
                 started: float | None = None):
        self.cfg = cfg
        self.engine = engine
        self.data = data
        self.run_dir = Path(run_dir)
        self.device = device
        self.world_size = world_size
        self.is_main = is_main
        self.progress = progress and is_main
        self.step = 0  # optimizer steps completed
        self.consumed_samples = 0  # global samples consumed (the data position)
        self.last_checkpoint: Path | None = None
        self.started = started if started is not None else time.monotonic()  # for max_time
        self._rng_to_restore: dict | None = None  # applied just before the first step
        self._last_plot = time.perf_counter()  # plots are redrawn at most every PLOT_INTERVAL_S
        self.dtype = resolve_dtype(cfg.train.dtype, device)
        self.flops_per_token = flops_per_token(cfg.model)
        self.peak = peak_tflops(device, self.dtype, cfg.train.peak_tflops)
        tokenizer = getattr(data, "tokenizer", None)
        self.prompts = sample_prompts(data.corpus_names) if tokenizer is not None else []

    @property
    def checkpoints_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    @property
    def tokens_per_step(self) -> int:
        return self.cfg.train.global_batch_size * self.cfg.model.max_seq_len

    # ------------------------------------------------------------------------------------------
    # State
    # ------------------------------------------------------------------------------------------

    def restore(self, checkpoint: Checkpoint) -> None:
        """Continue from a loaded checkpoint: weights, optimizer, step, data position, RNG.

        A sharded engine reads its own shards only; the others read model.safetensors and the
        optimizer state in trainer_state.pt, and a pipeline its optimizer shards besides.
        """
        state = checkpoint.trainer_state
        if not isinstance(state, dict) or state.get("format") != TRAINER_STATE_FORMAT:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise CheckpointError(
                f"{checkpoint.path / STATE_FILE}: format {found!r}, this version reads format "
                f"{TRAINER_STATE_FORMAT}")
        if not self.engine.sharded_state:
            check_state_dict(self.cfg.model, checkpoint.model_state,
                             str(checkpoint.path / MODEL_FILE))
            self.engine.load_model_state_dict(checkpoint.model_state)
            self.engine.load_optimizer_state_dict(state["optimizer"])
        # whatever `save` had the engine write with save_sharded: everything for FSDP and ZeRO,
        # each rank's optimizer state for a pipeline, nothing for one process
        self.engine.load_sharded(checkpoint.path)
        self.step = state["step"]
        self.consumed_samples = state["consumed_samples"]
        # NOTE: not set here: whatever runs between now and the first step (building the data
        # loader draws from torch's global generator) would move it away from the saved state.
        self._rng_to_restore = state["rng"]
        self.last_checkpoint = checkpoint.path

    def save(self) -> Path:
        """Collective: write checkpoint global_step{step}; rank 0 commits it.

        Each rank hashes the files it wrote; a failed write (a full disk) on any rank abandons
        this checkpoint on all of them, leaving the previous one as `latest`.
        """
        root = self.checkpoints_dir
        staging = layout.staging_dir(root, self.step)
        if self.is_main:
            layout.begin_checkpoint(root, self.step)
        barrier()
        checksums: dict[str, str] = {}
        error = None
        try:
            checksums.update(self.engine.save_sharded(staging))
            consolidated = not self.engine.sharded_state or self.cfg.train.save_consolidated
            model_state = self.engine.model_state_dict() if consolidated else None
            trainer_state = {
                "format": TRAINER_STATE_FORMAT,
                "step": self.step,
                "consumed_samples": self.consumed_samples,
                "optimizer": self.engine.optimizer_state_dict(),
                "rng": rng_state(self.device),
            }
            if self.is_main:
                tokenizer = getattr(self.data, "tokenizer", None)
                checksums.update(write_checkpoint_files(
                    staging, self.step, trainer_state, self.cfg, model_state,
                    tokenizer.model_path if tokenizer is not None else None))
        except _WRITE_ERRORS as err:
            error = f"{staging}: writing the checkpoint of step {self.step} failed ({err})"
        checksums, error = _gather_checksums(checksums, error)
        path = root / layout.step_dir_name(self.step)
        if self.is_main:
            if error is None:
                path = layout.commit_checkpoint(staging, checksums, self.cfg.train.keep_last)
            else:
                layout.abandon_checkpoint(staging)
        barrier()
        if error is not None:
            kept = f"; {self.last_checkpoint.name} is still the latest checkpoint" \
                if self.last_checkpoint else ""
            raise CheckpointError(error.splitlines()[0] + kept)
        self.last_checkpoint = path
        return path

    # ------------------------------------------------------------------------------------------
    # The loop
    # ------------------------------------------------------------------------------------------

    def fit(self) -> RunSummary:
        """Train from the current step to `train.stop_step` or `train.max_steps`."""
        from auroragpt.data import GlobalBatchLoader
        from auroragpt.distributed import StragglerMonitor, Watchdog

        t = self.cfg.train
        end = t.stop_step or t.max_steps
        first_step = self.step
        loader = GlobalBatchLoader(self.data.train, t.global_batch_size, t.micro_batch_size,
                                   self.engine.dp_rank, self.engine.dp_size,
                                   consumed_samples=self.consumed_samples,
                                   num_workers=self.cfg.data.num_workers)
        batches = iter(loader)
        logs = None
        if self.is_main:
            logs = _Logs(MetricsLog(self.run_dir / METRICS_FILE, t.log_targets(),
                                    resume_step=self.step, name=self.cfg.name,
                                    config=self.cfg.to_dict()),
                         JsonlLog(self.run_dir / SAMPLES_FILE, resume_step=self.step))
            tqdm.write(self.describe())
        bar = tqdm(total=end, initial=self.step, unit="step", disable=not self.progress,
                   dynamic_ncols=True)
        stragglers = StragglerMonitor(every_n=50, threshold=0.2)
        watchdog = Watchdog(t.watchdog_s if self.world_size > 1 else 0)
        window = _Window()
        step_seconds = 0.0
        result = val_loss = stopped_by = None
        start = time.perf_counter()
        if self._rng_to_restore is not None:  # the last thing before the first step
            set_rng_state(self._rng_to_restore, self.device)
            self._rng_to_restore = None
        stops = StopRequests(t.max_time, self.started)
        try:
            watchdog.start()
            stops.__enter__()
            while self.step < end:
                t0 = time.perf_counter()
                micro_batches = next(batches, None)
                if micro_batches is None:
                    raise TrainingError(
                        f"the training data ran out after {self.consumed_samples} samples "
                        f"(step {self.step}); it was prepared for train.max_steps={t.max_steps}"
                    )
                self._check_token_ids(micro_batches)
                result = self.engine.train_step([mb["tokens"] for mb in micro_batches],
                                                lr_at(self.step, t))
                seconds = time.perf_counter() - t0
                self.step += 1
                self.consumed_samples = loader.consumed_samples
                window.add(seconds)
                step_seconds += seconds
                for slow in stragglers.record(self.step, seconds):
                    if self.is_main:
                        tqdm.write(str(slow))
                bar.update(1)
                bar.set_postfix(loss=f"{result.loss:.3f}",
                                tok_s=f"{self.tokens_per_step / seconds:,.0f}", refresh=False)
                stopped_by = stops.reason(seconds, self.device) if self.step < end else None
                val_loss = self._after_step(result, window, logs, last=self.step == end,
                                            val_loss=val_loss, save=stopped_by is not None)
                watchdog.beat(self.step)
                if stopped_by is not None:
                    if self.is_main:
                        tqdm.write(f"stopping after step {self.step}: {stopped_by}")
                    break
        finally:
            stops.__exit__()
            watchdog.stop()
            bar.close()
            if logs is not None:
                logs.close()
        if self.is_main:
            plot_run(self.run_dir)
        return RunSummary(run_dir=self.run_dir, first_step=first_step, last_step=self.step,
                          tokens_seen=self.consumed_samples * self.cfg.model.max_seq_len,
                          session_tokens=(self.step - first_step) * self.tokens_per_step,
                          loss=result.loss if result else None, val_loss=val_loss,
                          step_seconds=step_seconds, wall_seconds=time.perf_counter() - start,
                          checkpoint=self.last_checkpoint, stopped_by=stopped_by)

    def _check_token_ids(self, micro_batches: list[dict]) -> None:
        """Refuse token ids the embedding has no row for, naming the corpus and its files
        (an index error deep inside the model would name neither)."""
        vocab = self.cfg.model.vocab_size
        for mb in micro_batches:
            tokens = mb["tokens"]  # (mb, S + 1)
            bad = (tokens >= vocab) | (tokens < 0)
            if not bool(bad.any()):
                continue
            row = int(bad.any(dim=1).nonzero()[0])
            token = int(tokens[row][bad[row]][0])
            corpus_id = int(mb["corpus_id"][row]) if "corpus_id" in mb else None
            names = list(getattr(self.data, "corpus_names", []))
            corpus = names[corpus_id] if corpus_id is not None and corpus_id < len(names) else "?"
            plan = getattr(self.data.train, "plan", None)
            files = [f.prefix for f in getattr(plan, "files", []) if f.corpus_id == corpus_id]
            raise TrainingError(
                f"token id {token} outside the vocabulary (model.vocab_size={vocab}) in corpus "
                f"{corpus!r}, file {' or '.join(f + '.bin' for f in files) or '?'}: it was "
                "tokenized with another tokenizer, or model.vocab_size is too small")

    def _after_step(self, result: StepResult, window: _Window, logs: _Logs | None, last: bool,
                    val_loss: float | None, save: bool = False) -> float | None:
        """Validation, the metrics line, samples and the checkpoint due after this step
        (`save`: a checkpoint now, whatever the schedule).

        Returns the latest validation loss (`val_loss` if none was computed now).
        """
        t = self.cfg.train
        evaluate = self.data.valid is not None and t.eval_every > 0 and (
            self.step % t.eval_every == 0 or last)
        if evaluate:
            val_loss = self.validation_loss()
        diverged = not math.isfinite(result.loss)
        if self.step % t.log_every == 0 or evaluate or last or diverged:
            record = self._record(result, window.seconds, window.steps)
            if evaluate:
                record["val_loss"] = val_loss
            if logs is not None:
                logs.metrics.write(record)
            window.reset()
        if diverged:
            raise TrainingError(
                f"loss is {result.loss} at step {self.step}: training diverged; lower train.lr "
                f"(now {t.lr}) or train.grad_clip, or resume from an earlier checkpoint"
            )
        if (self.prompts and self.engine.generates_samples and t.sample_every > 0
                and (self.step % t.sample_every == 0 or last)):
            self._write_samples(logs.samples if logs is not None else None)
        if (t.save_every > 0 and self.step % t.save_every == 0) or last or save:
            self.save()
            if self.is_main and time.perf_counter() - self._last_plot > PLOT_INTERVAL_S:
                plot_run(self.run_dir)
                self._last_plot = time.perf_counter()
        return val_loss

    def _record(self, result: StepResult, window_seconds: float, window_steps: int) -> dict:
        rates = throughput(self.tokens_per_step * window_steps, window_seconds,
                           self.flops_per_token, self.world_size, self.peak)
        return {
            "step": self.step,
            "loss": result.loss,
            "lr": lr_at(self.step - 1, self.cfg.train),
            "grad_norm": result.grad_norm,
            "tokens_per_s": rates["tokens_per_s"],
            "step_time_s": window_seconds / window_steps,
            "tflops_per_device": rates["tflops_per_device"],
            "mfu": rates["mfu"],
            "tokens_seen": self.consumed_samples * self.cfg.model.max_seq_len,
        }

    def validation_loss(self) -> float:
        """Mean loss over `eval_batches` micro-batches in all, split over the data-parallel
        ranks: the first validation samples, the same at every evaluation and at any number of
        ranks, so the curve compares like with like."""
        t = self.cfg.train
        valid = self.data.valid
        mb, dp = t.micro_batch_size, self.engine.dp_size
        losses = []
        for b in range(max(1, t.eval_batches // dp)):
            first = (b * dp + self.engine.dp_rank) * mb
            ids = [(first + i) % len(valid) for i in range(mb)]
            tokens = torch.from_numpy(np.stack([valid[k]["tokens"] for k in ids]))  # (mb, S+1)
            losses.append(self.engine.eval_loss(tokens))
        return sum(losses) / len(losses)

    def _write_samples(self, log: JsonlLog | None) -> None:
        # every rank generates: a sharded model's forward is a collective
        records = generate_samples(self.engine.module, self.data.tokenizer, self.prompts,
                                   self.cfg.train.sample_tokens, self.cfg.train.seed,
                                   self.device)
        if log is None:
            return
        for record in records:
            log.write({"step": self.step, **record})
        tqdm.write(format_samples(self.step, records))

    def describe(self) -> str:
        t, m = self.cfg.train, self.cfg.model
        accumulation = t.global_batch_size // (t.micro_batch_size * self.engine.dp_size)
        peak = f"{self.peak:g} TFLOP/s" if self.peak else "unknown (MFU left empty)"
        start = f"resuming after step {self.step}" if self.step else "starting"
        return "\n".join([
            f"run {self.cfg.name}: {start}, {t.stop_step or t.max_steps} steps -> {self.run_dir}",
            f"  model: {count_parameters(m) / 1e6:.2f} M parameters, {m.n_layers} layers, "
            f"dim {m.dim}, seq {m.max_seq_len}, vocab {m.vocab_size}; "
            f"{self.flops_per_token / 1e6:.1f} MFLOP/token",
            f"  batch: {t.global_batch_size} sequences x {m.max_seq_len} tokens = "
            f"{self.tokens_per_step:,} tokens/step; micro-batch {t.micro_batch_size} x "
            f"{accumulation} accumulation x {self.engine.dp_size} data-parallel",
            f"  device: {device_name(self.device)} x {self.world_size}, {self.dtype}, "
            f"peak {peak}",
        ])


# What a full or read-only disk raises from our writers, safetensors' and DCP's.
_WRITE_ERRORS = (OSError, SafetensorError, CheckpointException)


def _gather_checksums(checksums: dict[str, str], error: str | None
                      ) -> tuple[dict[str, str], str | None]:
    """Collective when distributed: every rank's checksums merged, and the first error."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return checksums, error
    gathered: list = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, (checksums, error))
    merged: dict[str, str] = {}
    for rank_sums, _ in gathered:
        merged.update(rank_sums)
    return merged, next((e for _, e in gathered if e is not None), None)


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
