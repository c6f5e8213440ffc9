"""`evaluate(run_dir)`: one row of measurements per checkpoint, kept in RUN_DIR/eval/.

For every checkpoint (or the requested steps) a row records tokens seen, the validation loss
training logs for it (`val_loss`, blend-weighted, and `val_ppl`), loss and perplexity per corpus
(with their plain mean, `corpus_mean`), held-out probe accuracy per corpus, greedy and sampled generations for
a fixed set of prompts, and their repetition scores. Rows live in `results.jsonl` keyed by
step; a step already there (with the same settings) is not evaluated again, so re-running after
more checkpoints appear only adds rows. After each new row the table, the summary and the plots
are rewritten (see `auroragpt.eval.report`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from auroragpt.checkpoint import (
    CheckpointError,
    StepDir,
    list_checkpoints,
    read_config,
    tokenizer_path,
)
from auroragpt.config import Config
from auroragpt.eval.loading import logged_tokens_seen, model_from_checkpoint, tokens_seen
from auroragpt.eval.metrics import repetition_scores
from auroragpt.eval.probes import load_probes, score_probes
from auroragpt.eval.report import read_results, write_report, write_results
from auroragpt.eval.validation import (
    ValidationData,
    blend_loss,
    corpus_nll,
    prepare_validation,
    select_samples,
    validation_table,
)
from auroragpt.generation import complete

FREE_PROMPTS = ["def "]  # always generated from: code from a blank page shows loops best
MAX_DEFAULT_PROMPT_CHARS = 160  # longer probe prompts (whole code chunks) make poor headings


@dataclass
class EvalSettings:
    """What an evaluation measures; rows made with other settings are evaluated again."""

    probes_per_corpus: int = 32  # held-out probes scored per built-in corpus
    probe_seed: int = 0  # which probes (the same at every step)
    val_samples_per_corpus: int = 16  # validation sequences scored per corpus
    prompts: list[str] | None = None  # generation prompts; None = FREE_PROMPTS + a short probe prompt per corpus
    max_new_tokens: int = 64  # tokens generated per prompt
    temperature: float = 0.8  # for the sampled generations (the greedy ones use 0)
    top_k: int | None = 40  # for the sampled generations
    sample_seed: int = 0  # sampling seed, the same at every step
    batch_size: int = 16  # sequences per forward pass
    validation: bool = True  # compute validation loss (needs the run's data)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class _RunContext:
    """Everything shared by the checkpoints of a run: tokenizer, data, probes, prompts."""

    tokenizer: object
    corpus_names: list[str]
    probes: list
    prompts: list[str]
    valid: ValidationData | None = None  # None when validation is off
    val_indices: list[int] = field(default_factory=list)  # per-corpus samples of valid


def eval_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "eval"


def evaluate(run_dir: str | Path, steps: list[int] | None = None,
             settings: EvalSettings | None = None, force: bool = False,
             device: torch.device | str = "cpu", progress: bool = True) -> list[dict]:
    """Evaluate the run's checkpoints (all, or `steps`) and return every row, oldest first.

    Steps already in RUN_DIR/eval/results.jsonl with the same settings are skipped unless
    `force`. The report files are rewritten after each new row, so an interrupted evaluation
    keeps what it finished.
    """
    run_dir = Path(run_dir)
    settings = settings or EvalSettings()
    out = eval_dir(run_dir)
    rows = {row["step"]: row for row in read_results(out / "results.jsonl")}
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints and not rows:
        raise CheckpointError(f"{run_dir}/checkpoints: no complete global_step* checkpoint yet")
    todo = [c for c in _select(checkpoints, steps)
            if force or c.step not in rows or rows[c.step].get("settings") != settings.as_dict()]
    logged = logged_tokens_seen(run_dir)
    context: _RunContext | None = None
    context_key = None
    for ckpt in tqdm(todo, desc="checkpoints", disable=not progress):
        cfg = read_config(ckpt.path)
        key = (_file_digest(tokenizer_path(ckpt.path)), json.dumps(dataclasses.asdict(cfg.data)))
        if key != context_key:  # NOTE: once per run, unless the data or tokenizer changed
            context, context_key = _prepare(ckpt, cfg, settings, progress), key
        rows[ckpt.step] = evaluate_checkpoint(run_dir, ckpt, cfg, context, settings,
                                              tokens_seen(ckpt.step, cfg, logged), device,
                                              progress)
        write_results(rows.values(), out / "results.jsonl")
        write_report(run_dir, sorted(rows.values(), key=lambda r: r["step"]))
    ordered = sorted(rows.values(), key=lambda r: r["step"])
    if not todo:
        write_report(run_dir, ordered)
    return ordered


def _select(checkpoints: list[StepDir], steps: list[int] | None) -> list[StepDir]:
    if steps is None:
        return checkpoints
    have = {c.step: c for c in checkpoints}
    missing = sorted(set(steps) - set(have))
    if missing:
        raise CheckpointError(f"no checkpoint for steps {missing} (have {sorted(have)})")
    return [have[s] for s in sorted(set(steps))]


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _prepare(ckpt: StepDir, cfg: Config, settings: EvalSettings,
             progress: bool) -> _RunContext:
    from auroragpt.tokenizer import Tokenizer

    tokenizer = Tokenizer.load(tokenizer_path(ckpt.path))
    valid, corpus_names = None, _builtin_names(cfg)
    if settings.validation:
        valid = prepare_validation(cfg, _stable_tokenizer_path(ckpt.path),
                                   settings.val_samples_per_corpus, progress)
        corpus_names = valid.corpus_names
    probes = load_probes(_builtin_names(cfg), settings.probes_per_corpus, settings.probe_seed)
    prompts = settings.prompts
    if prompts is None:
        first_per_corpus: dict[str, str] = {}
        for probe in probes:
            if len(probe.prompt) <= MAX_DEFAULT_PROMPT_CHARS:
                first_per_corpus.setdefault(probe.corpus, probe.prompt)
        prompts = FREE_PROMPTS + list(first_per_corpus.values())
    prompts = list(dict.fromkeys(prompts))  # each prompt once, in order
    indices = (select_samples(valid.per_corpus, len(corpus_names),
                              settings.val_samples_per_corpus) if valid is not None else [])
    return _RunContext(tokenizer, corpus_names, probes, prompts, valid, indices)


def _stable_tokenizer_path(ckpt_dir: Path) -> Path:
    """The run's tokenizer.model when it is the checkpoint's, else the checkpoint's.

    NOTE: the data cache keys tokenized corpora by the tokenizer's path, so one path for the
    whole run lets later evaluations reuse what the first one tokenized.
    """
    own = tokenizer_path(ckpt_dir)
    run_level = ckpt_dir.parent.parent / "tokenizer.model"
    if run_level.is_file() and run_level.read_bytes() == own.read_bytes():
        return run_level
    return own


def _builtin_names(cfg: Config) -> list[str]:
    """Built-in corpora this run trained on (none when it read a data-file-list)."""
    if cfg.data.file_list is not None:
        return []
    return [name for name, weight in cfg.data.builtin.items() if weight > 0]


def evaluate_checkpoint(run_dir: Path, ckpt: StepDir, cfg: Config, context: _RunContext,
                        settings: EvalSettings, tokens: int, device: torch.device | str = "cpu",
                        progress: bool = False) -> dict:
    """The row of one checkpoint (see the module docstring)."""
    start = time.perf_counter()
    model = model_from_checkpoint(ckpt.path, device)
    tok = context.tokenizer
    row: dict = {
        "step": ckpt.step,
        "tokens_seen": tokens,
        "checkpoint": str(ckpt.path.relative_to(run_dir)),
    }
    if context.valid is not None:
        blend = blend_loss(model, context.valid, settings.batch_size, progress)
        row["val_loss"], row["val_ppl"] = blend["loss"], blend["ppl"]
        nll, count = corpus_nll(model, context.valid.per_corpus, context.val_indices,
                                len(context.corpus_names), settings.batch_size, progress)
        row["val"] = validation_table(nll, count, context.corpus_names)
    row["probes"] = score_probes(model, tok, context.probes, settings.batch_size)

    greedy = complete(model, tok, context.prompts, settings.max_new_tokens, temperature=0.0,
                      batch_size=settings.batch_size)
    sampled = complete(model, tok, context.prompts, settings.max_new_tokens,
                       temperature=settings.temperature, top_k=settings.top_k,
                       seed=settings.sample_seed, batch_size=settings.batch_size)
    row["repetition"] = {"greedy": repetition_scores([c.ids for c in greedy]),
                         "sampled": repetition_scores([c.ids for c in sampled])}
    row["generations"] = [
        {"prompt": prompt, "greedy": g.text(tok), "sampled": s.text(tok)}
        for prompt, g, s in zip(context.prompts, greedy, sampled, strict=True)
    ]
    row["settings"] = settings.as_dict()
    row["evaluated_at"] = time.time_ns()  # when this row was made (tells a redo from a skip)
    row["eval_seconds"] = round(time.perf_counter() - start, 3)
    return row
