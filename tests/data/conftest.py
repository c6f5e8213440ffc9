"""Fixtures for the data tests: tiny corpora written by megatron-core's own builder."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

warnings.filterwarnings("ignore", message=".*Transformer Engine.*")


def pytest_configure(config):
    # megatron-core warns at import that the optional NVIDIA kernels are absent (CPU here).
    config.addinivalue_line("filterwarnings", "ignore:.*Transformer Engine.*:UserWarning")


def random_documents(rng: np.random.Generator, count: int, vocab: int = 500,
                     mean_length: int = 40) -> list[np.ndarray]:
    """Documents of skewed lengths (some empty), each ending in EOD id 0."""
    lengths = rng.geometric(1.0 / mean_length, size=count)
    lengths[rng.random(count) < 0.05] = 0
    return [np.append(rng.integers(1, vocab, n), 0).astype(np.int64) for n in lengths]


def write_with_megatron(prefix: str, documents: list[np.ndarray], dtype=np.uint16) -> None:
    """A .bin/.idx pair written by megatron-core's IndexedDatasetBuilder (the reference)."""
    import torch
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    builder = IndexedDatasetBuilder(prefix + ".bin", dtype=dtype)
    for doc in documents:
        builder.add_item(torch.from_numpy(doc))
        builder.end_document()
    builder.finalize(prefix + ".idx")


@pytest.fixture(scope="module")
def gloo_group():
    """megatron-core's blended path calls torch.distributed.get_rank(): one gloo rank, torn
    down after the module so later tests in the same worker start without a process group."""
    import torch.distributed as dist

    created = not dist.is_initialized()
    if created:
        dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield
    if created:
        dist.destroy_process_group()


@pytest.fixture(scope="session")
def corpus_files(tmp_path_factory) -> list[str]:
    """Six small Megatron-written corpora of different sizes (prefixes)."""
    root = tmp_path_factory.mktemp("corpora")
    rng = np.random.default_rng(2024)
    prefixes = []
    for i, count in enumerate([120, 300, 80, 200, 60, 150]):
        prefix = str(root / f"file{i}")
        write_with_megatron(prefix, random_documents(rng, count))
        prefixes.append(prefix)
    return prefixes
