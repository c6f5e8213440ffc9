"""What every built-in corpus provides, and the machinery shared by the generated ones.

A corpus streams training documents and hands out held-out probes:

- `documents(seed, max_chars)` is a deterministic generator of whole documents;
- `probes(n, seed)` returns `Probe(corpus, prompt, answer)` items whose prompt never appears in
  any training document; a model that learned the corpus's skill continues `prompt` with
  `answer` under greedy decoding.

Generated corpora are built from *items*: one structured problem (a sum, a map of towns, a
compound) with a canonical `key` and a few `Fact`s, each a prompt/answer pair that documents
write out verbatim as `prompt + answer`. Whether an item is held out is a function of its key
alone (a stable hash), so the split is the same for every seed and every document.

Surface conventions every probe follows, so that tokenization is the same in documents and
at evaluation time: a prompt never ends in whitespace, an answer starts with a single space,
and in documents `prompt + answer` is followed by a newline.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, Protocol, TypeVar

# One item in HOLDOUT_MODULUS is probe-only (never written into a training document).
HOLDOUT_MODULUS = 10
# Rejection sampling gives up after this many draws in a row from the wrong side of the split.
_MAX_DRAWS = 10_000


@dataclass(frozen=True)
class Probe:
    """A held-out question: the model should continue `prompt` with exactly `answer`."""

    corpus: str
    prompt: str
    answer: str
    skill: str = ""  # a named skill of the corpus this probe tests ("" = the corpus as a whole)


@dataclass(frozen=True)
class Fact:
    """A prompt/answer pair as it appears in documents (`prompt + answer`, then a newline)."""

    prompt: str
    answer: str

    @property
    def text(self) -> str:
        return self.prompt + self.answer


class Item(Protocol):
    """One structured problem: its canonical identity and the facts it teaches."""

    @property
    def key(self) -> str: ...

    @property
    def facts(self) -> Sequence[Fact]: ...


ItemT = TypeVar("ItemT", bound=Item)


def is_held_out(corpus: str, key: str) -> bool:
    """True for the probe-only items of `corpus`: a stable hash of the key, independent of seed."""
    digest = hashlib.blake2b(f"{corpus}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % HOLDOUT_MODULUS == 0


def take_chars(documents: Iterator[str], max_chars: int | None) -> Iterator[str]:
    """Whole documents until at least `max_chars` characters were yielded (None: all of them)."""
    total = 0
    for document in documents:
        if max_chars is not None and total >= max_chars:
            return
        total += len(document)
        yield document


def check_max_chars(max_chars: int | None) -> None:
    if max_chars is not None and (not isinstance(max_chars, int) or max_chars < 0):
        raise ValueError(f"max_chars={max_chars!r} must be a non-negative integer or None")


class Corpus(ABC):
    """A named source of training documents and held-out probes."""

    name: str
    description: str
    # A skill the documents drill, by name: a narrower item sampler whose held-out probes
    # (`skill_probes`) evaluation scores on their own, besides the corpus's mix.
    skills: ClassVar[dict[str, Callable[[random.Random], Item]]] = {}

    @abstractmethod
    def documents(self, seed: int = 0, max_chars: int | None = None) -> Iterator[str]:
        """Deterministic stream of whole documents; stops once `max_chars` were yielded.

        Documents are never cut, so the total may exceed `max_chars` by less than one document.
        """

    @abstractmethod
    def probes(self, n: int, seed: int = 0) -> list[Probe]:
        """`n` distinct held-out probes; `probes(k, s)` is a prefix of `probes(n, s)` for k < n."""

    def __repr__(self) -> str:
        return f"<corpus {self.name}: {self.description}>"


class GeneratedCorpus(Corpus, Generic[ItemT]):
    """A corpus of procedurally generated documents, each written around random items.

    Subclasses define `sample_item(rng)` (one problem from the corpus's distribution) and
    `write_document(rng, draw)`, which calls `draw()` for each training item it needs, or
    `draw(sample)` to draw from a narrower distribution `sample(rng) -> item`. With
    `max_chars=None` the stream is endless.

    `skills` (see `Corpus`) names some of those narrower distributions.
    """

    @abstractmethod
    def sample_item(self, rng: random.Random) -> ItemT:
        """One random item; held-out or not is decided afterwards from its key."""

    @abstractmethod
    def write_document(self, rng: random.Random, draw: Callable[..., ItemT]) -> str:
        """One document; every item in it must come from `draw` (training items only)."""

    def documents(self, seed: int = 0, max_chars: int | None = None) -> Iterator[str]:
        check_max_chars(max_chars)
        return take_chars(self._endless_documents(seed), max_chars)

    def probes(self, n: int, seed: int = 0) -> list[Probe]:
        return self._probes(n, f"{self.name}/probes/{seed}")

    def skill_probes(self, skill: str, n: int, seed: int = 0) -> list[Probe]:
        """`n` distinct held-out probes of one of `skills` (a prefix property as `probes`)."""
        if skill not in self.skills:
            raise ValueError(f"corpus {self.name!r} has no skill {skill!r}: expected one of "
                             f"{', '.join(self.skills) or 'none'}")
        return self._probes(n, f"{self.name}/skill/{skill}/{seed}", skill)

    def _probes(self, n: int, stream: str, skill: str = "") -> list[Probe]:
        if n < 0:
            raise ValueError(f"n={n} must be >= 0")
        rng = random.Random(stream)
        sample = self.skills[skill] if skill else None
        probes: list[Probe] = []
        seen: set[str] = set()
        repeats = 0
        while len(probes) < n:
            fact = rng.choice(self._draw(rng, True, sample).facts)
            if fact.prompt in seen:
                repeats += 1
                if repeats > _MAX_DRAWS:
                    raise ValueError(
                        f"corpus {self.name!r} has fewer than {n} distinct held-out probes"
                    )
                continue
            repeats = 0
            seen.add(fact.prompt)
            probes.append(Probe(self.name, fact.prompt, fact.answer, skill))
        return probes

    def _endless_documents(self, seed: int) -> Iterator[str]:
        for index in itertools.count():
            # NOTE: a fresh generator per document (str seeds hash with SHA-512, stable across
            # runs and platforms) makes document i independent of how documents before it
            # were written.
            rng = random.Random(f"{self.name}/documents/{seed}/{index}")
            yield self.write_document(
                rng, lambda sample=None, rng=rng: self._draw(rng, False, sample)
            )

    def _draw(self, rng: random.Random, held_out: bool,
              sample: Callable[[random.Random], ItemT] | None = None) -> ItemT:
        sample = sample or self.sample_item
        for _ in range(_MAX_DRAWS):
            item = sample(rng)
            if is_held_out(self.name, item.key) == held_out:
                return item
        side = "held-out" if held_out else "training"
        raise RuntimeError(f"corpus {self.name!r}: no {side} item in {_MAX_DRAWS} draws")
