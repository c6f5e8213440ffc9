"""`auroragpt train` (debug preset, 2 checkpoints) then `auroragpt eval` and `export-hf`: the
workflow of the README, with the files the acceptance checks read."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from auroragpt.cli import main
from auroragpt.eval import load_model
from auroragpt.generation import generate_tokens

AURORAGPT = Path(sys.executable).with_name("auroragpt")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("e2e")
    run = root / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [str(AURORAGPT), "train", "--preset", "debug", "--run-dir", str(run), "--no-progress",
         "train.max_steps=2", "train.save_every=1", "train.eval_every=1", "train.sample_every=0",
         f"data.cache_dir={root / 'cache'}", "data.builtin_chars=120000", "data.split=80,20,0"],
        cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return run


@pytest.mark.timeout(900)
def test_train_then_eval(trained_run, capsys):
    assert main(["eval", str(trained_run), "--probes", "2", "--val-samples", "1",
                 "--max-new-tokens", "8", "--no-progress", "--device", "cpu"]) == 0
    assert "| 2 |" in capsys.readouterr().out
    out = trained_run / "eval"
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    metrics = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    seen = {m["step"]: m["tokens_seen"] for m in metrics if "tokens_seen" in m}
    assert [r["tokens_seen"] for r in rows] == [seen[1], seen[2]]
    assert {"arithmetic", "stdlib", "corpus_mean"} <= set(rows[0]["val"])
    # "val loss" is one number: what training logged for the same checkpoint
    logged = {m["step"]: m["val_loss"] for m in metrics if "val_loss" in m}
    assert [r["val_loss"] for r in rows] == pytest.approx([logged[1], logged[2]], rel=1e-5)
    assert rows[1]["val_loss"] != pytest.approx(rows[1]["val"]["corpus_mean"]["loss"], rel=1e-3)
    with open(out / "summary.csv") as f:
        assert len(list(csv.DictReader(f))) == 2
    assert "## Generations across steps" in (out / "summary.md").read_text()
    for png in ("val_loss.png", "probe_accuracy.png", "repetition.png"):
        assert (out / png).is_file()


def test_trained_checkpoint_runs_in_transformers(trained_run, tmp_path, monkeypatch):
    transformers = pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ckpt = trained_run / "checkpoints" / "global_step2"
    assert main(["export-hf", str(ckpt), str(tmp_path / "hf")]) == 0
    hf = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "hf", dtype=torch.float32)
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    ours, tokenizer = load_model(trained_run, 2)
    prompt = "Compute 3 + 4. The answer is"
    ids = [tokenizer.eos_id] + hf_tok(prompt)["input_ids"]
    assert ids[1:] == tokenizer.encode(prompt)
    tokens = torch.tensor([ids])
    expected = generate_tokens(ours, tokens, 12, temperature=0.0, stop_tokens=[tokenizer.eos_id])
    got = hf.generate(tokens, attention_mask=torch.ones_like(tokens), max_new_tokens=12,
                      do_sample=False, eos_token_id=tokenizer.eos_id,
                      pad_token_id=tokenizer.pad_id)
    assert got.tolist() == expected.tolist()
