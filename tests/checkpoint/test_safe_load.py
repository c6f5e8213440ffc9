"""No checkpoint file runs code: a payload planted in each kind of file, under valid checksums,
is refused by every reader, and its marker file never appears.

The payload is an object whose `__reduce__` makes unpickling call `open(marker, "w")`: had
any reader unpickled it, the marker would exist.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from auroragpt import checkpoint as ckpt
from auroragpt.checkpoint import sharded
from auroragpt.checkpoint.consolidate import consolidate
from auroragpt.checkpoint.layout import write_checksums
from auroragpt.checkpoint.safe_load import check_torch_files, load_torch_file, read_dcp_metadata
from auroragpt.config import get_preset


class Payload:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "PAYLOAD_RAN"
    yield path
    assert not path.exists(), "a checkpoint reader unpickled the payload"


def _trainer_state() -> dict:
    return {"format": 1, "step": 1, "consumed_samples": 8, "optimizer": {},
            "rng": {"torch": torch.get_rng_state()}}


def _weights() -> dict[str, torch.Tensor]:
    return {"norm.weight": torch.ones(4)}


def test_payload_runs_when_unpickled_plainly(tmp_path, marker):
    """The control: the payload does run under plain pickle, so its absence below means
    something."""
    path = tmp_path / "control.pkl"
    path.write_bytes(pickle.dumps(Payload(tmp_path / "control")))
    pickle.loads(path.read_bytes())
    assert (tmp_path / "control").exists()


def test_trainer_state_payload_is_refused_on_resume(tmp_path, marker):
    root = tmp_path / "checkpoints"
    state = {**_trainer_state(), "evil": Payload(marker)}
    ckpt.save_checkpoint(root, 1, _weights(), state, get_preset("debug"))
    ckpt.verify_checkpoint(root / "global_step1")  # the checksums are valid
    with pytest.raises(ckpt.CheckpointError, match="trainer_state.pt: holds objects other"):
        ckpt.load_checkpoint(root / "global_step1")
    with pytest.raises(ckpt.CheckpointError, match="no valid checkpoint"):
        ckpt.load_latest_valid(root, warn=lambda message: None)


def _dcp_checkpoint(tmp_path: Path) -> Path:
    directory = tmp_path / "global_step1"
    directory.mkdir()
    state = {"model": {"norm.weight": torch.arange(4.0)}, "optim": {"lr": 0.5}}
    checksums = sharded.save_state(state, directory)
    assert set(checksums) == {"distcp/.metadata", "distcp/__0_0.distcp"}
    return directory


def test_dcp_round_trip_reads_through_the_safe_reader(tmp_path):
    directory = _dcp_checkpoint(tmp_path)
    state = {"model": {"norm.weight": torch.zeros(4)}, "optim": {"lr": 0.0}}
    sharded.load_state(state, directory)
    assert torch.equal(state["model"]["norm.weight"], torch.arange(4.0))
    assert state["optim"]["lr"] == 0.5


def test_dcp_metadata_payload_is_refused(tmp_path, marker):
    directory = _dcp_checkpoint(tmp_path)
    (directory / "distcp" / ".metadata").write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(ckpt.CheckpointError, match=r"io.open is not a distributed-checkpoint"):
        read_dcp_metadata(directory / "distcp" / ".metadata")
    state = {"model": {"norm.weight": torch.zeros(4)}}
    with pytest.raises(ckpt.CheckpointError, match=r"\.metadata: refused to unpickle"):
        sharded.load_state(state, directory)
    with pytest.raises(ckpt.CheckpointError, match=r"\.metadata: refused to unpickle"):
        consolidate(directory, ["norm.weight"])


def test_dcp_value_payload_is_refused(tmp_path, marker):
    """A non-tensor value inside a .distcp file, which DCP's default planner would unpickle
    without restriction."""
    directory = tmp_path / "global_step1"
    directory.mkdir()
    sharded.save_state({"model": {"norm.weight": torch.ones(4)}, "extra": Payload(marker)},
                       directory)
    assert not marker.exists()  # saving only pickles it
    state = {"model": {"norm.weight": torch.zeros(4)}, "extra": None}
    with pytest.raises(ckpt.CheckpointError, match="item extra: refused to unpickle"):
        sharded.load_state(state, directory)


def test_deepspeed_state_payload_is_refused_before_deepspeed_reads_it(tmp_path, marker):
    directory = tmp_path / "global_step1"
    shards = directory / "deepspeed" / "state"
    shards.mkdir(parents=True)
    torch.save({"optimizer_state_dict": Payload(marker)},
               shards / "zero_pp_rank_0_mp_rank_00_optim_states.pt")
    torch.save({"module": _weights()}, shards / "mp_rank_00_model_states.pt")
    with pytest.raises(ckpt.CheckpointError, match="optim_states.pt: holds objects other"):
        check_torch_files(shards)
    # resume (the engine is never reached) and consolidation for eval/export
    with pytest.raises(ckpt.CheckpointError, match="optim_states.pt: holds objects other"):
        sharded.load_deepspeed_state(None, directory)
    with pytest.raises(ckpt.CheckpointError, match="optim_states.pt: holds objects other"):
        consolidate(directory, ["norm.weight"])


def test_pytorch_model_bin_payload_is_refused_by_import_hf(tmp_path, marker):
    import json

    from auroragpt.eval.export import import_hf

    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    (hf / "tokenizer.model").write_bytes(b"")
    torch.save({"model.norm.weight": torch.ones(4), "evil": Payload(marker)},
               hf / "pytorch_model.bin")
    with pytest.raises(ckpt.CheckpointError, match="pytorch_model.bin: holds objects other"):
        load_torch_file(hf / "pytorch_model.bin")
    with pytest.raises(Exception) as err:
        import_hf(hf, tmp_path / "out")
    assert not (tmp_path / "out").exists(), err.value


def test_unlisted_file_is_refused_even_if_everything_listed_matches(tmp_path):
    root = tmp_path / "checkpoints"
    ckpt.save_checkpoint(root, 1, _weights(), _trainer_state(), get_preset("debug"))
    (root / "global_step1" / "distcp").mkdir()
    (root / "global_step1" / "distcp" / ".metadata").write_bytes(b"planted")
    with pytest.raises(ckpt.CheckpointError, match=r"distcp/.metadata: not listed"):
        ckpt.verify_checkpoint(root / "global_step1")
    write_checksums(root / "global_step1")  # listed now: verification passes
    ckpt.verify_checkpoint(root / "global_step1")
