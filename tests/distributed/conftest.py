"""Fixtures for the distributed-runtime tests."""

import pytest
from distributed_helpers import LAUNCHER_VARS


@pytest.fixture
def clean_environ(monkeypatch):
    """os.environ without launcher or scheduler variables, restored afterwards."""
    for name in LAUNCHER_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# The fake cluster of scripts/fake_cluster.sh, shared by tests/distributed/test_multihost_*.py.
from fake_cluster import fake_cluster  # noqa: E402,F401
