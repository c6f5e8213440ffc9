"""Resume restores every global RNG exactly: nothing draws from them after the restore.

Reference: an uninterrupted run of the same config. Its torch, NumPy and Python generator
states (live at the end of training, and saved in the last checkpoint) must equal those of a
run stopped after step 2 and resumed in the same process.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from auroragpt.checkpoint import load_checkpoint
from auroragpt.train import train


def _global_rng() -> tuple:
    return torch.get_rng_state(), np.random.get_state(legacy=False), random.getstate()


def _assert_same_rng(a: tuple, b: tuple) -> None:
    assert torch.equal(a[0], b[0]), "torch generator differs"
    assert a[1]["state"]["pos"] == b[1]["state"]["pos"]
    assert np.array_equal(a[1]["state"]["key"], b[1]["state"]["key"]), "numpy generator differs"
    assert a[2] == b[2], "python generator differs"


def test_resumed_rng_equals_uninterrupted(tmp_path, make_config, debug_data):
    common = ["train.max_steps=4", "train.eval_every=0", "train.save_every=2",
              "data.num_workers=0"]
    train(make_config(*common), tmp_path / "whole", progress=False, data=debug_data)
    whole = _global_rng()

    train(make_config(*common, "train.stop_step=2"), tmp_path / "parts", progress=False,
          data=debug_data)
    torch.manual_seed(999), np.random.seed(999), random.seed(999)  # the resume must not care
    summary = train(make_config(*common), tmp_path / "parts", resume=True, progress=False,
                    data=debug_data)
    assert summary.first_step == 2 and summary.last_step == 4
    _assert_same_rng(_global_rng(), whole)

    saved = [load_checkpoint(d / "checkpoints" / "global_step4").trainer_state["rng"]
             for d in (tmp_path / "whole", tmp_path / "parts")]
    assert torch.equal(saved[0]["torch"], saved[1]["torch"])
    assert torch.equal(saved[0]["numpy"]["key"], saved[1]["numpy"]["key"])
    assert saved[0]["python"] == saved[1]["python"]
