"""`auroragpt doctor` pieces; the multi-rank run is in test_multiprocess.py."""

import importlib.metadata

import pytest
import torch

from auroragpt.cli import main
from auroragpt.distributed.doctor import AllReduceResult, library_versions, parse_size


@pytest.mark.parametrize("text, size", [
    ("4K", 4096), ("1M", 1 << 20), ("256MiB", 256 << 20), ("2g", 2 << 30), ("1000", 1000),
    ("64KB", 65536),
])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "K", "-1M", "1.5M", "0"])
def test_bad_sizes(text):
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


def test_bandwidth_follows_the_nccl_tests_convention():
    result = AllReduceResult(size_bytes=1 << 20, latency_s=1e-3, world_size=4, correct=True)
    assert result.algbw_gbps == pytest.approx((1 << 20) / 1e-3 / 1e9)
    assert result.busbw_gbps == pytest.approx(result.algbw_gbps * 2 * 3 / 4)


def test_versions_come_from_the_installed_packages():
    versions = library_versions()
    assert versions["torch"].startswith(torch.__version__)
    assert versions["deepspeed"] == importlib.metadata.version("deepspeed")
    assert versions["mpi4py"].startswith(importlib.metadata.version("mpi4py"))


def test_single_process_doctor(clean_environ, capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "job: 1 rank(s), launcher single" in out
    assert "all-reduce: skipped" in out
