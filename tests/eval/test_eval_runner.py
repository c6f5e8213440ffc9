"""`evaluate(run_dir)`: one row per checkpoint, incremental and resumable, files and plots."""

from __future__ import annotations

import csv
import json

import pytest

from auroragpt.checkpoint import CheckpointError
from auroragpt.corpora import get_corpus
from auroragpt.eval.runner import EvalSettings, evaluate

pytest.importorskip("auroragpt.corpora")


def _settings(**overrides):
    # NOTE: no validation here: these runs are written by hand, without prepared data.
    base = dict(probes_per_corpus=3, max_new_tokens=8, validation=False)
    return EvalSettings(**{**base, **overrides})


def _rows(run):
    return [json.loads(line) for line in (run / "eval" / "results.jsonl").read_text().splitlines()]


def test_rows_files_and_plots(make_run):
    run = make_run(steps=(5, 10))
    rows = evaluate(run, settings=_settings(), progress=False)
    assert [r["step"] for r in rows] == [5, 10] == [r["step"] for r in _rows(run)]
    assert [r["tokens_seen"] for r in rows] == [5000, 10000]  # from metrics.jsonl
    first = rows[0]
    corpora = {name for name, w in _builtin(run).items() if w > 0}
    skills = {f"{name}/{skill}" for name in corpora for skill in get_corpus(name).skills}
    assert set(first["probes"]) == corpora | skills  # each drilled skill scored on its own
    assert all(0.0 <= p["accuracy"] <= 1.0 for p in first["probes"].values())
    assert first["generations"][0]["prompt"] == "def "
    assert set(first["repetition"]) == {"greedy", "sampled"}

    out = run / "eval"
    with open(out / "summary.csv") as f:
        table = list(csv.DictReader(f))
    assert [int(r["step"]) for r in table] == [5, 10]
    assert "probe_acc/mean" in table[0] and "greedy/rep_4" in table[0]
    summary = (out / "summary.md").read_text()
    assert "## Generations across steps" in summary and "**step 10**" in summary
    for png in ("probe_accuracy.png", "repetition.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({png})" in summary


def _builtin(run):
    import yaml

    return yaml.safe_load((run / "config.yaml").read_text())["data"]["builtin"]


def test_incremental_resumable_and_force(make_run):
    run = make_run(steps=(5, 10))
    evaluate(run, steps=[5], settings=_settings(), progress=False)
    first = _rows(run)
    assert [r["step"] for r in first] == [5]

    # a new checkpoint (here: one not yet evaluated) adds a row; step 5 is not redone
    evaluate(run, settings=_settings(), progress=False)
    second = _rows(run)
    assert [r["step"] for r in second] == [5, 10]
    assert second[0] == first[0]

    # --force redoes it; the redone row measures the same (evaluation is deterministic)
    evaluate(run, steps=[5], settings=_settings(), force=True, progress=False)
    third = _rows(run)
    assert third[0]["evaluated_at"] > first[0]["evaluated_at"]
    assert third[1] == second[1]
    same = lambda r: {k: v for k, v in r.items() if k not in ("evaluated_at", "eval_seconds")}  # noqa: E731
    assert same(third[0]) == same(first[0])

    # other settings: rows are not comparable, so both steps are evaluated again
    evaluate(run, settings=_settings(max_new_tokens=6), progress=False)
    assert all(r["settings"]["max_new_tokens"] == 6 for r in _rows(run))


def test_unknown_step_is_named(make_run):
    run = make_run(steps=(5,))
    with pytest.raises(CheckpointError, match=r"\[7\].*have \[5\]"):
        evaluate(run, steps=[7], settings=_settings(), progress=False)


@pytest.fixture(scope="module")
def prepared_debug(tmp_path_factory):
    """The debug preset's data, prepared once (small corpora) in a private cache."""
    from auroragpt.config import get_preset
    from auroragpt.data import prepare_data

    cfg = get_preset("debug")
    cfg.data.cache_dir = str(tmp_path_factory.mktemp("data-cache"))
    cfg.data.builtin_chars = 120_000
    cfg.data.split = "80,20,0"  # small corpora: a fifth of the documents for validation
    return cfg, prepare_data(cfg, progress=False)


def test_validation_loss_per_corpus_on_the_runs_own_data(make_run, prepared_debug):
    import copy
    import math

    cfg, prepared = prepared_debug
    run = make_run(steps=(5,), cfg=copy.deepcopy(cfg), tokenizer=prepared.tokenizer.model_path)
    (row,) = evaluate(run, settings=_settings(validation=True, val_samples_per_corpus=2),
                      progress=False)
    val = row["val"]
    assert set(val) == set(prepared.corpus_names) | {"corpus_mean"}
    corpora = {k: v for k, v in val.items() if k != "corpus_mean"}
    assert all(v["tokens"] == 2 * cfg.model.max_seq_len for v in corpora.values())
    for values in val.values():
        assert values["ppl"] == pytest.approx(math.exp(values["loss"]))
    assert val["corpus_mean"]["loss"] == pytest.approx(
        sum(v["loss"] for v in corpora.values()) / len(corpora))
    assert row["val_ppl"] == pytest.approx(math.exp(row["val_loss"]))
    assert (run / "eval" / "val_loss.png").is_file()
