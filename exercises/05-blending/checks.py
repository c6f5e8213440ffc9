"""Checks of exercise 05 against megatron-core's compiled dataset helpers, on random inputs."""

import ast
import glob
import importlib.machinery
import importlib.util
import os

import numpy as np

from auroragpt.exercise_checker.checking import CheckFailed, check

_BY_HAND = "the point is to write the greedy loop and the packing yourself"
FORBIDDEN = {
    "auroragpt.data.build_blending_indices": f"it is the library's answer; {_BY_HAND}",
    "auroragpt.data.blending.build_blending_indices": f"it is the library's answer; {_BY_HAND}",
    "auroragpt.data.kernels.greedy_blend": f"it is the library's answer; {_BY_HAND}",
    "auroragpt.data.gpt.build_sample_indices": f"it is the library's answer; {_BY_HAND}",
}
# Modules a learner's file may not import (or name for importlib): each holds the answer.
SHORTCUTS = ("megatron", "auroragpt.data", "helpers_cpp")


def _megatron_helpers():
    """megatron-core's C++ dataset helpers (`megatron/core/datasets/helpers_cpp*.so`).

    NOTE: loaded straight from the shared library: importing it the usual way runs
    `megatron.core.__init__`, which pulls in the whole training stack (seconds, and warnings
    about missing GPU extensions) for two pure functions.
    """
    spec = importlib.util.find_spec("megatron")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("megatron-core is not installed: pip install 'auroragpt[dev]'")
    pattern = os.path.join(list(spec.submodule_search_locations)[0], "core", "datasets",
                           "helpers_cpp*")
    libraries = [p for p in glob.glob(pattern) if p.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))]
    if not libraries:
        raise RuntimeError(f"megatron-core's compiled helpers not found ({pattern})")
    loader = importlib.machinery.ExtensionFileLoader("helpers_cpp", libraries[0])
    module = importlib.util.module_from_spec(
        importlib.util.spec_from_file_location("helpers_cpp", libraries[0], loader=loader))
    loader.exec_module(module)
    return module


MEGATRON = _megatron_helpers()


def _as_int_array(value, what: str, length: int | None = None, ndim: int = 1) -> np.ndarray:
    if value is None:
        raise CheckFailed(f"{what}: your function returned None (is a `return` missing?)")
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.integer):
        raise CheckFailed(f"{what}: expected an integer array, got dtype {array.dtype}")
    if array.ndim != ndim or (length is not None and array.shape[0] != length):
        expected = f"({length},)" if ndim == 1 else f"({length}, 2)"
        raise CheckFailed(f"{what}: shape {array.shape}, expected {expected}")
    return array


def _blend_cases(seed: int):
    rng = np.random.default_rng(seed)
    yield [1.0, 1.0, 1.0], 30  # exact ties everywhere
    yield [0.2, 0.8], 1  # a single sample
    for n_datasets, size in [(2, 50), (5, 997), (8, 4000)]:
        weights = rng.dirichlet(np.ones(n_datasets)) * rng.uniform(0.5, 50)  # not normalised
        yield weights.tolist(), size


@check("blending_indices matches megatron-core's build_blending_indices on random weights",
       hint="normalise the weights first; use max(i, 1), not i; a tie goes to the lowest "
            "dataset number; dataset_sample_index counts the samples taken from that dataset "
            "before this one.")
def blending_matches_megatron(ctx):
    blending_indices = ctx.function("blending_indices")
    for weights, size in _blend_cases(ctx.seed):
        result = blending_indices(list(weights), size)
        if not isinstance(result, tuple) or len(result) != 2:
            raise CheckFailed("return a tuple (dataset_index, dataset_sample_index)")
        what = f"{len(weights)} datasets, {size} sample{'s' if size != 1 else ''}"
        got_dataset = _as_int_array(result[0], f"dataset_index ({what})", size)
        got_sample = _as_int_array(result[1], f"dataset_sample_index ({what})", size)
        w = np.asarray(weights, dtype=np.float64)
        dataset = np.zeros(size, dtype=np.int16)
        sample = np.zeros(size, dtype=np.int64)
        MEGATRON.build_blending_indices(dataset, sample, w / w.sum(), len(w), size, False)
        for name, got, want in [("dataset_index", got_dataset, dataset),
                                ("dataset_sample_index", got_sample, sample)]:
            wrong = np.flatnonzero(got != want)
            if wrong.size:
                i = int(wrong[0])
                raise CheckFailed(f"{name} ({what}): {wrong.size} of {size} entries differ, the "
                                  f"first at sample {i}, where you have {int(got[i])}")


def _packing_cases(seed: int):
    rng = np.random.default_rng(seed)
    yield [5, 5, 5], 5  # a sample boundary right at a document boundary
    yield [3, 1, 1, 9, 2], 4
    for n_docs, max_len, seq_len in [(20, 30, 8), (200, 500, 64), (50, 3, 16)]:
        yield rng.integers(1, max_len + 1, n_docs).tolist(), seq_len


def _megatron_sample_index(doc_lengths, seq_len) -> np.ndarray:
    sizes = np.asarray(doc_lengths, dtype=np.int32)
    return MEGATRON.build_sample_idx_int64(sizes, np.arange(len(sizes), dtype=np.int32), seq_len,
                                           1, int(sizes.sum()), True, 1)


@check("sample_index matches megatron-core's build_sample_idx on random documents",
       hint="each sample needs seq_len + 1 tokens and shares one with the next, so "
            "(total - 1) // seq_len samples fit; a boundary on the last token of a document "
            "belongs to that document; np.cumsum and np.searchsorted do most of the work.")
def sample_index_matches_megatron(ctx):
    sample_index = ctx.function("sample_index")
    for doc_lengths, seq_len in _packing_cases(ctx.seed):
        expected = _megatron_sample_index(doc_lengths, seq_len)
        what = f"{len(doc_lengths)} documents, {sum(doc_lengths)} tokens, seq_len={seq_len}"
        got = _as_int_array(sample_index(list(doc_lengths), seq_len), what, ndim=2)
        if got.shape != expected.shape:
            raise CheckFailed(f"{what}: shape {got.shape}, expected {len(expected) - 1} samples "
                              f"plus one closing row, each (document, offset)")
        wrong = np.flatnonzero((got != expected).any(axis=1))
        if wrong.size:
            i = int(wrong[0])
            raise CheckFailed(f"{what}: {wrong.size} of {len(got)} rows differ, the first is row {i} "
                              f"(stream position {i * seq_len}), where you have {got[i].tolist()}")


@check("every packed sample holds the seq_len + 1 consecutive tokens of the stream",
       hint="row i and row i + 1 must bracket stream positions i * seq_len .. (i + 1) * seq_len, "
            "both ends included.")
def samples_are_consecutive_tokens(ctx):
    sample_index = ctx.function("sample_index")
    rng = np.random.default_rng(ctx.seed + 1)
    doc_lengths = rng.integers(1, 12, 40).tolist()
    seq_len = 7
    documents = []
    start = 0
    for length in doc_lengths:  # token ids = stream positions, so a sample is easy to recognise
        documents.append(np.arange(start, start + length))
        start += length
    index = _as_int_array(sample_index(doc_lengths, seq_len), "sample_index", ndim=2)
    for i in range(len(index) - 1):
        (first_doc, first_offset), (last_doc, last_offset) = index[i], index[i + 1]
        if not (0 <= first_doc <= last_doc < len(documents)):
            raise CheckFailed(f"rows {i} and {i + 1} do not name documents in order: "
                              f"{index[i].tolist()}, {index[i + 1].tolist()}")
        pieces = [documents[d] for d in range(first_doc, last_doc + 1)]
        pieces[-1] = pieces[-1][: last_offset + 1]
        pieces[0] = pieces[0][first_offset:]
        tokens = np.concatenate(pieces)
        expected = np.arange(i * seq_len, (i + 1) * seq_len + 1)
        if tokens.shape != expected.shape or (tokens != expected).any():
            raise CheckFailed(f"sample {i} read through your index holds stream positions "
                              f"{tokens[0]}..{tokens[-1]} ({len(tokens)} tokens), not "
                              f"{expected[0]}..{expected[-1]}")


@check("your file computes the indices itself (no megatron-core or auroragpt.data import)",
       hint="the checks compare against those libraries; numpy and plain Python are all you need.")
def no_library_shortcut(ctx):
    ctx.function("blending_indices")([1.0], 1)  # a starter's TODO is reported as TODO here too
    ctx.function("sample_index")([3], 2)
    tree = ast.parse(ctx.learner_file.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value] if node.value.startswith(SHORTCUTS) else []
        else:
            continue
        for name in names:
            if name.startswith(SHORTCUTS):
                raise CheckFailed(f"line {node.lineno} of {ctx.learner_file.name} uses {name!r}, "
                                  "which already implements this exercise")
