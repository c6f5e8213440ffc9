"""The small real training run (and its checkpoint evaluation) that several decks plot.

It is made once with the library's own `train` and `evaluate`, on the CPU, and kept under
`slides/.render/runs/` (git-ignored), so rendering a deck after the first time only reads it.
A lock file makes decks rendered at the same time (parallel tests) wait for one run instead
of starting several. An interrupted run is resumed from its last checkpoint; evaluation is
incremental by design (rows already in eval/results.jsonl are kept).

With AURORAGPT_SMOKE=1 a smaller run is used (its own directory), so tests stay quick.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from auroragpt.eval import EvalSettings, evaluate, list_checkpoints
from auroragpt.train import resolve_config, train

SLIDES = Path(__file__).resolve().parents[1]
RUNS = SLIDES / ".render" / "runs"
# NOTE: relative to slides/, the kernel's working directory: evaluation re-opens the run's
# data through its config.yaml, and a relative path keeps the cache valid if the repo moves.
DATA_CACHE = ".render/data"


@dataclass(frozen=True)
class DemoRun:
    """How big the decks' run is: the debug model, long enough to see curves bend."""

    name: str
    max_steps: int
    save_every: int
    probes_per_corpus: int
    val_samples_per_corpus: int

    def overrides(self) -> list[str]:
        return [f"train.max_steps={self.max_steps}", f"train.save_every={self.save_every}",
                f"train.eval_every={self.save_every}", "train.log_every=5",
                f"train.sample_every={self.save_every}", "train.keep_last=0",
                "train.warmup_steps=10", f"data.cache_dir={DATA_CACHE}"]

    def eval_settings(self) -> EvalSettings:
        return EvalSettings(probes_per_corpus=self.probes_per_corpus,
                            val_samples_per_corpus=self.val_samples_per_corpus,
                            max_new_tokens=32)


FULL = DemoRun("debug-200", max_steps=200, save_every=40, probes_per_corpus=16,
               val_samples_per_corpus=8)
SMOKE = DemoRun("debug-smoke", max_steps=20, save_every=10, probes_per_corpus=4,
                val_samples_per_corpus=2)


def current() -> DemoRun:
    return SMOKE if os.environ.get("AURORAGPT_SMOKE") == "1" else FULL


def demo_run(spec: DemoRun | None = None) -> Path:
    """The run directory of a finished run of `spec` (trained now if missing)."""
    spec = spec or current()
    run_dir = RUNS / spec.name
    with _locked(RUNS / f"{spec.name}.lock"):
        steps = [c.step for c in list_checkpoints(run_dir)] if (run_dir / "checkpoints").is_dir() else []
        if spec.max_steps not in steps:
            if not steps and run_dir.exists():
                shutil.rmtree(run_dir)  # stopped before its first checkpoint: start over
            cfg = resolve_config(preset="debug", overrides=spec.overrides())
            train(cfg, run_dir=run_dir, resume=bool(steps), progress=False)
    return run_dir


def demo_evaluation(spec: DemoRun | None = None) -> tuple[Path, list[dict]]:
    """The run directory and one evaluation row per checkpoint, oldest first."""
    spec = spec or current()
    run_dir = demo_run(spec)
    with _locked(RUNS / f"{spec.name}.eval.lock"):
        rows = evaluate(run_dir, settings=spec.eval_settings(), progress=False)
    return run_dir, rows


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
