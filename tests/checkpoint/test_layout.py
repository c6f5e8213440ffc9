"""Checkpoints: round trip, checksums catch a flipped byte, fallback, atomicity, pruning."""

from __future__ import annotations

import fractions
import json

import pytest
import torch

from auroragpt import checkpoint as ckpt
from auroragpt.checkpoint.layout import begin_checkpoint
from auroragpt.config import get_preset


def model_state(seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {"layers.0.attention.wq.weight": torch.randn(4, 4, generator=gen),
            "norm.weight": torch.randn(4, generator=gen)}


def trainer_state(step: int) -> dict:
    return {"format": 1, "step": step, "consumed_samples": 8 * step,
            "optimizer": {"state": {0: {"step": torch.tensor(float(step)),
                                        "exp_avg": torch.ones(3) * step}},
                          "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.95), "params": [0]}]},
            "rng": {"python": (3, tuple(range(625)), None), "torch": torch.get_rng_state()}}


@pytest.fixture
def saved(tmp_path):
    """Checkpoints of steps 1, 2 and 3 under tmp_path/checkpoints."""
    cfg = get_preset("debug")
    directory = tmp_path / "checkpoints"
    for step in (1, 2, 3):
        ckpt.save_checkpoint(directory, step, model_state(step), trainer_state(step), cfg)
    return directory


def flip_byte(path, offset: int = -1) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_round_trip(saved):
    loaded = ckpt.load_checkpoint(saved / "global_step2")
    assert loaded.step == 2
    for name, tensor in model_state(2).items():
        assert torch.equal(loaded.model_state[name], tensor)
    expected = trainer_state(2)
    assert loaded.trainer_state["consumed_samples"] == 16
    assert torch.equal(loaded.trainer_state["optimizer"]["state"][0]["exp_avg"],
                       expected["optimizer"]["state"][0]["exp_avg"])
    assert loaded.trainer_state["rng"]["python"] == expected["rng"]["python"]
    assert (saved / "latest").read_text().strip() == "global_step3"
    listed = json.loads((saved / "global_step2" / "checksums.json").read_text())
    assert set(listed) == {"model.safetensors", "trainer_state.pt", "config.yaml"}


@pytest.mark.parametrize("name", ["model.safetensors", "trainer_state.pt", "config.yaml"])
def test_flipped_byte_is_rejected_naming_the_file(saved, name):
    flip_byte(saved / "global_step3" / name, offset=len((saved / "global_step3" / name).read_bytes()) // 2)
    with pytest.raises(ckpt.CheckpointError, match=rf"{name}: sha256 .* corrupt"):
        ckpt.verify_checkpoint(saved / "global_step3")


def test_corrupt_latest_falls_back_to_previous(saved):
    flip_byte(saved / "global_step3" / "model.safetensors")
    messages = []
    loaded = ckpt.load_latest_valid(saved, warn=messages.append)
    assert loaded.step == 2
    assert "global_step3" in messages[0] and "corrupt" in messages[0]
    assert "falling back to checkpoint global_step2" in messages[-1]


def test_missing_file_and_missing_checksums_are_incomplete(saved):
    (saved / "global_step3" / "trainer_state.pt").unlink()
    with pytest.raises(ckpt.CheckpointError, match="trainer_state.pt: missing"):
        ckpt.verify_checkpoint(saved / "global_step3")
    (saved / "global_step2" / "checksums.json").unlink()
    with pytest.raises(ckpt.CheckpointError, match="checksums.json: missing"):
        ckpt.verify_checkpoint(saved / "global_step2")
    assert ckpt.load_latest_valid(saved, warn=lambda m: None).step == 1


def test_no_valid_checkpoint_lists_every_reason(saved):
    for step in (1, 2, 3):
        flip_byte(saved / f"global_step{step}" / "model.safetensors")
    with pytest.raises(ckpt.CheckpointError, match="no valid checkpoint") as err:
        ckpt.load_latest_valid(saved, warn=lambda m: None)
    assert str(err.value).count("corrupt") == 3


def test_unfinished_save_is_invisible(saved):
    """A crash mid-save leaves only a hidden staging directory: nothing lists or loads it."""
    staging = begin_checkpoint(saved, 4)
    torch.save({"partial": True}, staging / "trainer_state.pt")
    assert [c.path.name for c in ckpt.list_checkpoints(saved)] == [
        "global_step1", "global_step2", "global_step3"]
    assert ckpt.load_latest_valid(saved).step == 3


def test_keep_last_prunes_oldest(tmp_path):
    cfg = get_preset("debug")
    for step in range(1, 6):
        ckpt.save_checkpoint(tmp_path, step, model_state(step), trainer_state(step), cfg,
                             keep_last=2)
    assert [c.path.name for c in ckpt.list_checkpoints(tmp_path)] == ["global_step4", "global_step5"]
    assert ckpt.read_latest(tmp_path).name == "global_step5"


def test_state_is_loaded_without_unpickling_objects(tmp_path):
    """Even with valid checksums, a state holding an arbitrary Python object is refused."""
    state = {**trainer_state(1), "evil": fractions.Fraction(1, 3)}
    ckpt.save_checkpoint(tmp_path, 1, model_state(1), state, get_preset("debug"))
    with pytest.raises(ckpt.CheckpointError, match="trainer_state.pt: holds objects"):
        ckpt.load_checkpoint(tmp_path / "global_step1")


def test_resolve_checkpoint(saved):
    run_dir = saved.parent
    assert ckpt.resolve_checkpoint(run_dir).name == "global_step3"
    assert ckpt.resolve_checkpoint(saved / "global_step1").name == "global_step1"
    with pytest.raises(ckpt.CheckpointError, match="not found"):
        ckpt.resolve_checkpoint(run_dir / "nowhere")
