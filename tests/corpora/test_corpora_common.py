"""Every built-in corpus: registry, determinism, streaming, max_chars, probe hold-out.

The hold-out reference is the documents themselves: no probe's prompt + answer (and, for the
generated corpora, not even the prompt, which identifies the item) occurs in the first
HOLDOUT_CHARS characters of the training documents of several seeds.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import os
import subprocess
import sys

import pytest

from auroragpt.corpora import CORPORA, Probe, get_corpus, mixed_text

NAMES = ["stdlib", "arithmetic", "units", "chemistry", "timeseries", "graphs", "sequences",
         "numbers"]
GENERATED = [name for name in NAMES if name != "stdlib"]
HOLDOUT_CHARS = 400_000
N_PROBES = 60


def test_registry_has_exactly_the_promised_names():
    assert list(CORPORA) == NAMES
    for name, corpus in CORPORA.items():
        assert corpus.name == name and corpus.description
        assert get_corpus(name) is corpus


def test_unknown_corpus_lists_valid_names():
    with pytest.raises(ValueError, match="unknown corpus 'poetry'.*stdlib, arithmetic"):
        get_corpus("poetry")


@pytest.mark.parametrize("name", NAMES)
def test_documents_are_deterministic_and_seeded(name):
    corpus = get_corpus(name)
    first = list(corpus.documents(seed=3, max_chars=30_000))
    assert first == list(corpus.documents(seed=3, max_chars=30_000))
    assert first != list(corpus.documents(seed=4, max_chars=30_000))
    assert all(isinstance(doc, str) and doc.strip() for doc in first)


@pytest.mark.parametrize("name", NAMES)
def test_documents_stream_and_stop_after_max_chars(name):
    corpus = get_corpus(name)
    stream = corpus.documents(seed=0, max_chars=50_000)
    assert inspect.isgenerator(stream)
    docs = list(stream)
    total = sum(map(len, docs))
    # Whole documents until at least max_chars: the last one crossed the limit.
    assert total >= 50_000 and total - len(docs[-1]) < 50_000
    assert list(corpus.documents(seed=0, max_chars=0)) == []
    # A prefix of a longer stream: max_chars only decides where to stop.
    longer = list(corpus.documents(seed=0, max_chars=80_000))
    assert longer[: len(docs)] == docs


@pytest.mark.parametrize("name", GENERATED)
def test_generated_documents_are_narrative_sized_and_endless(name):
    docs = list(itertools.islice(get_corpus(name).documents(seed=1), 300))
    assert len(docs) == 300
    lengths = sorted(map(len, docs))
    assert lengths[0] >= 150 and lengths[-1] <= 5_000
    assert 400 <= lengths[len(lengths) // 2] <= 3_000
    assert all(doc.endswith("\n") for doc in docs)


@pytest.mark.parametrize("name", NAMES)
def test_probes_are_deterministic_distinct_and_well_formed(name):
    corpus = get_corpus(name)
    probes = corpus.probes(N_PROBES, seed=0)
    assert probes == corpus.probes(N_PROBES, seed=0)
    assert corpus.probes(10, seed=0) == probes[:10]
    assert probes != corpus.probes(N_PROBES, seed=1)
    assert corpus.probes(0) == []
    assert len({p.prompt for p in probes}) == N_PROBES
    for probe in probes:
        assert isinstance(probe, Probe) and probe.corpus == name
        # The tokenization convention: the space belongs to the answer.
        assert probe.prompt and not probe.prompt[-1].isspace()
        assert probe.answer.startswith(" ") and not probe.answer.startswith("  ")
        assert "\n" not in probe.answer
    with pytest.raises(dataclasses.FrozenInstanceError):
        probes[0].answer = " 1."


@pytest.mark.parametrize("name", NAMES)
def test_probes_never_appear_in_training_documents(name):
    corpus = get_corpus(name)
    probes = corpus.probes(N_PROBES, seed=0) + corpus.probes(N_PROBES, seed=7)
    for seed in (0, 1):
        text = "".join(corpus.documents(seed=seed, max_chars=HOLDOUT_CHARS))
        for probe in probes:
            assert probe.prompt + probe.answer not in text, (seed, probe)
            if name != "stdlib":
                assert probe.prompt not in text, (seed, probe)


def test_mixed_text_interleaves_corpora():
    names = ["arithmetic", "units", "chemistry"]
    docs = list(mixed_text(names, 20_000, seed=2))
    assert docs == list(mixed_text(names, 20_000, seed=2))
    per_corpus = {name: list(get_corpus(name).documents(2, 20_000)) for name in names}
    # Round-robin: the k-th document of each corpus comes before the (k+1)-th of any.
    expected = [doc for group in itertools.zip_longest(*per_corpus.values()) for doc in group
                if doc is not None]
    assert docs == expected
    assert docs[:3] == [per_corpus[n][0] for n in names]


FINGERPRINT = """
import hashlib
from auroragpt.corpora import CORPORA
for name, corpus in CORPORA.items():
    text = "".join(corpus.documents(seed=5, max_chars=40_000))
    probes = "".join(p.prompt + p.answer for p in corpus.probes(20, seed=5))
    print(name, hashlib.sha256((text + probes).encode()).hexdigest())
"""


def test_same_output_in_every_python_process():
    """Nothing may depend on string hashing (set order), which changes per process."""
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run([sys.executable, "-c", FINGERPRINT], env=env, check=True,
                                capture_output=True, text=True, timeout=300)
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    assert len(outputs[0].splitlines()) == len(NAMES)
