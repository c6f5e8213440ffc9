"""Fixtures for the training tests: the debug preset's data, prepared once per session."""

from __future__ import annotations

import pytest

from auroragpt.config import apply_overrides, get_preset

# Enough prepared samples for every test run here (max_steps * global_batch_size of the debug
# preset); the runs themselves use fewer steps.
DATA_STEPS = 24


def debug_config(cache_dir, *overrides: str):
    """The debug preset with quiet defaults for tests, plus `overrides`."""
    return apply_overrides(get_preset("debug"), [
        f"data.cache_dir={cache_dir}", "train.sample_every=0", "train.log_every=1",
        "train.cpu_threads=1",
        *overrides,
    ])


@pytest.fixture
def make_config(data_cache):
    """`make_config(*overrides)`: the debug test config over the session's data cache."""
    return lambda *overrides: debug_config(data_cache, *overrides)


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("data-cache")


@pytest.fixture(scope="session")
def debug_data(data_cache):
    """Tokenizer + train/valid datasets of the built-in corpora, as `auroragpt train` prepares."""
    from auroragpt.data import prepare_data

    cfg = debug_config(data_cache, f"train.max_steps={DATA_STEPS}")
    return prepare_data(cfg, progress=False)
