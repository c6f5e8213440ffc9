"""GlobalBatchLoader: rank-count independence, exact resume, DataLoader workers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from auroragpt.data import GlobalBatchLoader, open_blend, parse_file_list


@pytest.fixture(scope="module")
def blend(corpus_files, tmp_path_factory):
    text = "".join(f"{i + 1} {p} c{i % 2}\n" for i, p in enumerate(corpus_files))
    return open_blend(parse_file_list(text, "list"), 16, 400, 9,
                      tmp_path_factory.mktemp("cache"), progress=False)


def _steps(loader, count):
    out = []
    for step, micro_batches in zip(range(count), loader, strict=False):
        del step
        out.append(micro_batches)
    return out


def _global_tokens(dataset, step, global_batch):
    """The reference: global samples [step * G, (step + 1) * G) read straight from the dataset."""
    return np.stack([dataset[k]["tokens"] for k in range(step * global_batch,
                                                         (step + 1) * global_batch)])


@pytest.mark.parametrize("dp_size", [1, 2, 4])
def test_global_order_is_independent_of_rank_count(blend, dp_size):
    global_batch, micro = 16, 2
    per_rank = [_steps(GlobalBatchLoader(blend, global_batch, micro, r, dp_size), 3)
                for r in range(dp_size)]
    for step in range(3):
        tokens = torch.cat([mb["tokens"] for r in range(dp_size) for mb in per_rank[r][step]])
        corpus = torch.cat([mb["corpus_id"] for r in range(dp_size) for mb in per_rank[r][step]])
        np.testing.assert_array_equal(tokens.numpy(), _global_tokens(blend, step, global_batch))
        assert corpus.tolist() == [blend[k]["corpus_id"] for k in
                                   range(step * global_batch, (step + 1) * global_batch)]
        assert all(mb["tokens"].shape == (micro, 17) and mb["tokens"].dtype == torch.long
                   for mb in per_rank[0][step])


def test_resume_gives_the_uninterrupted_batches(blend):
    full = GlobalBatchLoader(blend, 8, 4, 1, 2)
    uninterrupted = _steps(full, 6)
    first = GlobalBatchLoader(blend, 8, 4, 1, 2)
    _steps(first, 4)
    assert first.consumed_samples == 32
    resumed = _steps(GlobalBatchLoader(blend, 8, 4, 1, 2, consumed_samples=first.consumed_samples), 2)
    for a, b in zip(resumed, uninterrupted[4:], strict=True):
        for x, y in zip(a, b, strict=True):
            assert torch.equal(x["tokens"], y["tokens"])


def test_workers_read_the_same_batches(blend):
    plain = _steps(GlobalBatchLoader(blend, 8, 2, 0, 1), 3)
    workers = _steps(GlobalBatchLoader(blend, 8, 2, 0, 1, num_workers=2), 3)
    for a, b in zip(plain, workers, strict=True):
        for x, y in zip(a, b, strict=True):
            assert torch.equal(x["tokens"], y["tokens"])
            assert torch.equal(x["corpus_id"], y["corpus_id"])


def test_iterates_as_far_as_the_dataset_allows(blend):
    loader = GlobalBatchLoader(blend, 64, 8, 0, 1)
    assert len(loader) == len(blend) // 64 == len(_steps(loader, 10_000))


def test_bad_batch_geometry(blend):
    with pytest.raises(ValueError, match="multiple of micro_batch_size"):
        GlobalBatchLoader(blend, 10, 4, 0, 1)
    with pytest.raises(ValueError, match="dp_rank"):
        GlobalBatchLoader(blend, 8, 2, 2, 2)
