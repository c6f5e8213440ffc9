"""The `auroragpt eval`, `export-hf` and `import-hf` commands, through the real entry point."""

from __future__ import annotations

import json

import pytest

from auroragpt.cli import main

pytest.importorskip("auroragpt.corpora")

FAST = ["--no-val", "--probes", "2", "--max-new-tokens", "6", "--no-progress", "--device", "cpu"]


def test_eval_writes_contract_files_and_prints_the_table(make_run, capsys):
    run = make_run(steps=(5, 10))
    assert main(["eval", str(run), *FAST]) == 0
    printed = capsys.readouterr().out
    assert "| step | tokens seen |" in printed and "summary.md" in printed
    for name in ("summary.md", "summary.csv", "results.jsonl"):
        assert (run / "eval" / name).is_file()
    assert main(["eval", str(run), "--steps", "10", *FAST]) == 0  # already done: skipped
    rows = [json.loads(x) for x in (run / "eval" / "results.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [5, 10]


def test_export_then_import(make_run, tmp_path, capsys):
    run = make_run(steps=(4,))
    out = tmp_path / "hf"
    assert main(["export-hf", str(run / "checkpoints" / "global_step4"), str(out)]) == 0
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "tokenizer.model", "generation_config.json"} <= {p.name for p in out.iterdir()}
    assert main(["import-hf", str(out), str(tmp_path / "back")]) == 0
    assert {"model.safetensors", "config.yaml", "tokenizer.model"} <= {
        p.name for p in (tmp_path / "back").iterdir()}

    assert main(["export-hf", str(run), str(out)]) == 2  # exists: refused, named
    assert "not empty" in capsys.readouterr().err
    assert main(["export-hf", str(run), str(out), "--force"]) == 0


def test_errors_name_the_path(tmp_path, capsys):
    missing = tmp_path / "no-such-run"
    assert main(["eval", str(missing), *FAST]) == 2
    assert str(missing) in capsys.readouterr().err
    assert main(["import-hf", str(tmp_path), str(tmp_path / "out")]) == 2
    assert "config.json" in capsys.readouterr().err
