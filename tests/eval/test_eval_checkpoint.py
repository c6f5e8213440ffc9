"""Finding checkpoints in a run directory, and refusing weights that do not fit the config."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from auroragpt.checkpoint import CheckpointError, list_checkpoints, resolve_checkpoint
from auroragpt.checkpoint.layout import write_checksums
from auroragpt.config import get_preset
from auroragpt.eval import load_model
from auroragpt.eval.loading import logged_tokens_seen, tokens_seen


def test_discovery_skips_staging_and_loading_refuses_incomplete_directories(make_run):
    run = make_run(steps=(5, 10, 20))
    ckpts = run / "checkpoints"
    (ckpts / ".global_step30.tmp").mkdir()  # the trainer's staging directory
    (ckpts / "global_step20" / "trainer_state.pt").write_bytes(b"")  # a file not checksummed
    assert [c.step for c in list_checkpoints(run)] == [5, 10, 20]
    assert resolve_checkpoint(run, 5) == ckpts / "global_step5"
    with pytest.raises(CheckpointError, match=r"no checkpoint for step 7 \(have 5, 10, 20\)"):
        resolve_checkpoint(run, 7)
    with pytest.raises(CheckpointError, match=r"trainer_state.pt: not listed in checksums.json"):
        load_model(run, 20)


def test_latest_pointer_wins_and_checkpoint_dirs_load_directly(make_run):
    run = make_run(steps=(5, 10))
    (run / "checkpoints" / "latest").write_text("global_step5\n")
    assert resolve_checkpoint(run) == run / "checkpoints" / "global_step5"
    (run / "checkpoints" / "latest").unlink()
    assert resolve_checkpoint(run) == run / "checkpoints" / "global_step10"
    model, tokenizer = load_model(run / "checkpoints" / "global_step5")
    expected = load_file(run / "checkpoints" / "global_step5" / "model.safetensors")
    assert torch.equal(model.layers["1"].feed_forward.w2.weight,
                       expected["layers.1.feed_forward.w2.weight"])
    assert not model.training and tokenizer.vocab_size == 512


def test_tokens_seen_logged_else_from_batch_shape(make_run):
    run = make_run(steps=(5,))
    (run / "metrics.jsonl").write_text(json.dumps({"step": 5, "tokens_seen": 777}) + "\n{broken\n")
    cfg = get_preset("debug")
    logged = logged_tokens_seen(run)
    assert tokens_seen(5, cfg, logged) == 777
    assert tokens_seen(6, cfg, logged) == 6 * cfg.train.global_batch_size * cfg.model.max_seq_len


@pytest.mark.parametrize("damage, message", [
    (lambda s: s.pop("layers.0.attention.wk.weight"), "missing.*layers.0.attention.wk"),
    (lambda s: s.update(extra=torch.zeros(1)), "unexpected.*extra"),
    (lambda s: s.update({"norm.weight": torch.ones(3)}), r"norm.weight has shape \(3,\)"),
])
def test_weights_that_do_not_fit_are_refused_by_name(make_run, damage, message):
    run = make_run(steps=(5,))
    path = run / "checkpoints" / "global_step5" / "model.safetensors"
    state = load_file(path)
    damage(state)
    save_file(state, path)
    write_checksums(path.parent)  # intact, only of another shape
    with pytest.raises(CheckpointError, match=message):
        load_model(run, 5)
