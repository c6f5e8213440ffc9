"""Built-in corpora that need no download: the Python standard library and generated science.

    >>> from auroragpt.corpora import get_corpus
    >>> doc = next(get_corpus("arithmetic").documents(seed=0))
    >>> probe = get_corpus("arithmetic").probes(1)[0]   # Probe(corpus, prompt, answer)

`CORPORA` maps each name to its corpus:

- `stdlib`: the running Python's standard-library source files;
- `arithmetic`, `units`, `chemistry`, `timeseries`, `graphs`, `sequences`: procedurally
  generated "structured science mapped to narrative" documents, endless and deterministic for
  a seed, each with held-out probes (see `base` for the conventions);
- `numbers`: drill sheets of three number skills, probed one by one (the skills the tiny
  demo learns).

`mixed_text` interleaves several corpora, e.g. to train a shared tokenizer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from auroragpt.corpora.arithmetic import ArithmeticCorpus
from auroragpt.corpora.base import Corpus, Probe
from auroragpt.corpora.chemistry import ChemistryCorpus
from auroragpt.corpora.graphs import GraphsCorpus
from auroragpt.corpora.numbers import NumbersCorpus
from auroragpt.corpora.sequences import SequencesCorpus
from auroragpt.corpora.stdlib import StdlibCorpus
from auroragpt.corpora.timeseries import TimeSeriesCorpus
from auroragpt.corpora.units import UnitsCorpus

__all__ = ["CORPORA", "Corpus", "Probe", "get_corpus", "mixed_text"]

CORPORA: dict[str, Corpus] = {
    corpus.name: corpus
    for corpus in (
        StdlibCorpus(),
        ArithmeticCorpus(),
        UnitsCorpus(),
        ChemistryCorpus(),
        TimeSeriesCorpus(),
        GraphsCorpus(),
        SequencesCorpus(),
        NumbersCorpus(),
    )
}


def get_corpus(name: str) -> Corpus:
    """The built-in corpus called `name`."""
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}: expected one of {', '.join(CORPORA)}")
    return CORPORA[name]


def mixed_text(names: Iterable[str], chars_per_corpus: int, seed: int = 0) -> Iterator[str]:
    """Documents of several corpora, one from each in turn, `chars_per_corpus` from each.

    Each corpus contributes `corpus.documents(seed, chars_per_corpus)`; a corpus that runs
    out (a small standard library) simply drops out of the rotation.
    """
    streams = [get_corpus(name).documents(seed, chars_per_corpus) for name in names]
    while streams:
        for stream in list(streams):
            document = next(stream, None)
            if document is None:
                streams.remove(stream)
            else:
                yield document
