"""Fixtures for the distributed-runtime tests."""

import pytest
from multiprocess_helpers import LAUNCHER_VARS


@pytest.fixture
def clean_environ(monkeypatch):
    """os.environ without launcher or scheduler variables, restored afterwards."""
    for name in LAUNCHER_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch
