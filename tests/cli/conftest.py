"""Fixtures for the command-line tests: prepared debug data and one trained run, made once."""

from __future__ import annotations

import pytest

from auroragpt.config import apply_overrides, get_preset

QUIET = ["train.sample_every=0", "train.eval_every=0", "train.cpu_threads=1"]


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("data-cache")


@pytest.fixture(scope="session")
def debug_data(data_cache):
    """The debug preset's tokenizer and datasets, prepared into the session's cache."""
    from auroragpt.data import prepare_data

    cfg = apply_overrides(get_preset("debug"), [f"data.cache_dir={data_cache}",
                                                "train.max_steps=8", *QUIET])
    return prepare_data(cfg, progress=False)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, data_cache, debug_data):
    """A debug run of 2 steps with checkpoints at steps 1 and 2 (copy before changing it)."""
    from auroragpt.train import train

    cfg = apply_overrides(get_preset("debug"), [
        f"data.cache_dir={data_cache}", "train.max_steps=2", "train.save_every=1",
        "train.keep_last=0", *QUIET])
    run = tmp_path_factory.mktemp("trained") / "run"
    train(cfg, run, progress=False, data=debug_data)
    return run
