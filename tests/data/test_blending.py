"""Blends against megatron-core: the greedy helper, the flat BlendedDataset, and our corpus
hierarchy against its definition."""

from __future__ import annotations

import numpy as np
import pytest
from megatron_ref import gpt_config, megatron_blend

from auroragpt.data import build_blending_indices, open_blend, parse_file_list
from auroragpt.data.blending import normalize


@pytest.mark.parametrize("seed", range(40))
def test_greedy_equals_megatron_helper(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    raw = [rng.random(n), rng.pareto(1.0, n) + 1e-3, rng.integers(1, 4, n).astype(float)][seed % 3]
    weights = normalize(raw)  # equal weights (third kind) exercise exact ties
    size = int(rng.integers(0, 30_000))
    expected = megatron_blend(weights, size)
    actual = build_blending_indices(weights, size)
    for a, e in zip(actual, expected, strict=True):
        assert a.dtype == e.dtype
        np.testing.assert_array_equal(a, e)


@pytest.mark.parametrize("weights", [[1.0, 0.0], [1.0, -2.0], [], [float("nan")]])
def test_bad_blend_weights(weights):
    from auroragpt.data import DataError

    with pytest.raises(DataError):
        build_blending_indices(weights, 10)


def _list_text(prefixes, weights, corpora=None):
    corpora = corpora or [None] * len(prefixes)
    return "".join(f"{w} {p}{'' if c is None else ' ' + c}\n"
                   for w, p, c in zip(weights, prefixes, corpora, strict=True))


@pytest.mark.parametrize("split,split_name,size", [("100,0,0", "train", 4000),
                                                   ("90,8,2", "valid", 600)])
def test_flat_list_equals_megatron_blended_dataset(gloo_group, corpus_files, tmp_path, split,
                                                   split_name, size):
    _assert_flat_blend_equals_megatron(corpus_files, [0.3, 1.7, 0.2, 0.9, 0.05, 0.6], split,
                                       split_name, size, tmp_path)


def test_rounding_excess_and_repeated_prefixes_equal_megatron(gloo_group, corpus_files,
                                                              tmp_path):
    """Forty tiny lines (one prefix listed over and over) each round up to a whole sample, so
    the blend holds 20% more than asked and the greedy asks the heavy file for more than it
    was built for: megatron-core serves that from the file's epoch, and so must we."""
    prefixes = [corpus_files[1]] + [corpus_files[0]] * 20 + [corpus_files[2]] * 20
    weights = [100.0] + [0.01] * 40
    parsed = parse_file_list(_list_text(prefixes, weights), "list")
    assert len(parsed.corpora) == 41  # a repeated prefix stays a dataset of its own
    _assert_flat_blend_equals_megatron(prefixes, weights, "100,0,0", "train", 200, tmp_path)


def test_grouped_list_with_rounding_excess_builds(corpus_files, tmp_path):
    """The same excess with files grouped into corpora: corpora follow megatron's greedy."""
    prefixes = [corpus_files[1], corpus_files[3]] + [corpus_files[0], corpus_files[2]] * 20
    weights = [60.0, 40.0] + [0.01] * 40
    corpora = ["heavy", "heavy"] + ["light"] * 40
    ds = open_blend(parse_file_list(_list_text(prefixes, weights, corpora), "list"), 16, 200, 3,
                    tmp_path, progress=False)
    w = normalize(weights)
    size = sum(int(np.ceil(200 * x)) for x in w.tolist())
    expected, _ = megatron_blend(normalize([w[:2].sum(), w[2:].sum()]), size)
    np.testing.assert_array_equal(ds.corpus_index, expected)
    assert any(f.pooled > f.built for f in ds.plan.files)  # the case this test is about
    pairs = ds.file_index.astype(np.int64) * 10**9 + ds.file_sample
    assert np.unique(pairs).size == pairs.size


def _assert_flat_blend_equals_megatron(prefixes, weights, split, split_name, size, tmp_path):
    from megatron.core.datasets.blended_megatron_dataset_builder import (
        BlendedMegatronDatasetBuilder,
    )
    from megatron.core.datasets.gpt_dataset import GPTDataset as MegatronGPT

    which = ["train", "valid", "test"].index(split_name)
    sizes = [0, 0, 0]
    sizes[which] = size
    config = gpt_config(16, 5, split, blend=(prefixes, weights), cache=str(tmp_path / "m"))
    ref = BlendedMegatronDatasetBuilder(MegatronGPT, sizes, lambda: True, config).build()[which]
    ours = open_blend(parse_file_list(_list_text(prefixes, weights), "list"), 16, size, 5,
                      tmp_path / "ours", split=split, split_name=split_name, progress=False)
    assert len(ours) == len(ref)
    np.testing.assert_array_equal(ours.corpus_index, ref.dataset_index)
    np.testing.assert_array_equal(ours.file_sample, ref.dataset_sample_index)
    for k in range(len(ref)):
        expected = ref[k]
        sample = ours[k]
        np.testing.assert_array_equal(sample["tokens"][:-1], expected["tokens"].numpy())
        np.testing.assert_array_equal(sample["tokens"][1:], expected["labels"].numpy())
        assert sample["corpus_id"] == int(expected["dataset_id"])


def test_corpus_hierarchy(corpus_files, tmp_path):
    """Corpora follow Megatron's greedy on summed weights; files fill each corpus."""
    weights = [0.3, 1.7, 0.2, 0.9, 0.05, 0.6]
    corpora = ["web", "code", "web", "books", "code", "web"]
    file_list = parse_file_list(_list_text(corpus_files, weights, corpora), "list")
    ds = open_blend(file_list, 16, 3000, 11, tmp_path, progress=False)
    plan = ds.plan
    assert plan.corpora == ["web", "code", "books"]
    w = normalize(weights)
    corpus_weights = [w[[0, 2, 5]].sum(), w[[1, 4]].sum(), w[3]]
    size = sum(int(np.ceil(3000 * x)) for x in w.tolist())
    expected, _ = megatron_blend(normalize(corpus_weights), size)
    np.testing.assert_array_equal(ds.corpus_index, expected)
    # every (file, sample) is drawn at most once, from the right corpus, within what was built
    pairs = ds.file_index.astype(np.int64) * 10**9 + ds.file_sample
    assert np.unique(pairs).size == pairs.size
    file_corpus = np.array([plan.corpora.index(c) for c in corpora])
    np.testing.assert_array_equal(file_corpus[ds.file_index], ds.corpus_index)
    built = np.array([f.built for f in plan.files])
    assert np.all(ds.file_sample < built[ds.file_index])
    for row, target in zip(ds.report, normalize(corpus_weights), strict=True):
        assert abs(row["realised"] - target) < 1.0 / len(ds) + 1e-12
    tokens = ds[123]["tokens"]
    assert tokens.shape == (17,) and tokens.dtype == np.int64


def test_corpus_drawn_beyond_its_samples_is_named(corpus_files):
    """The fused greedy stops where a corpus runs out, and the error gives Megatron's count."""
    from auroragpt.data import DataError
    from auroragpt.data.blended import blend_assignment, plan_blend

    text = "".join(f"{i + 1} {p} c{i % 2}\n" for i, p in enumerate(corpus_files))
    plan = plan_blend(parse_file_list(text, "list"), 16, 400, 7)
    for f in plan.files:
        if f.corpus_id == 1:
            f.pooled = 3  # far fewer samples than the greedy gives corpus c1
    drawn = int(np.bincount(megatron_blend(np.array(plan.corpus_weights), plan.size)[0])[1])
    with pytest.raises(DataError, match=rf"draws {drawn} samples from corpus 'c1', which "
                                        rf"holds {3 * sum(f.corpus_id == 1 for f in plan.files)}"):
        blend_assignment(plan)


def test_thousands_of_files_at_a_small_validation_size(corpus_files):
    """The reported case: a 2419-line list (Dolma-like skewed weights, grouped into corpora)
    and a 20,000-sample validation split. The blend rounds up by about a thousand samples;
    corpora of few heavy files are asked for more than they were built for, and still get
    them, with corpus counts equal to megatron-core's greedy on the corpus weights."""
    from auroragpt.data.blended import blend_assignment, plan_blend

    rng = np.random.default_rng(0)
    weights = rng.pareto(1.2, 2419) + 1e-3
    corpora = [f"c{min(i // 40, 9)}" if w < 5 else "heavy" for i, w in enumerate(weights)]
    prefixes = [corpus_files[i % len(corpus_files)] for i in range(2419)]
    plan = plan_blend(parse_file_list(_list_text(prefixes, weights.tolist(), corpora), "list"),
                      16, 20_000, 1, split="0,100,0", split_name="valid")
    assert plan.size > 20_000 + 900
    blend = blend_assignment(plan)
    assert any(f.pooled > f.built for f in plan.files)
    expected = np.bincount(megatron_blend(np.array(plan.corpus_weights), plan.size)[0])
    np.testing.assert_array_equal(blend["counts"], expected)
