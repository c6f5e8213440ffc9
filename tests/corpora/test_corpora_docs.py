"""docs/corpora.md: every excerpt marked `<!-- sample: NAME -->` is text the corpus really
generates (it occurs in the first documents of seed 0)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from auroragpt.corpora import get_corpus

DOC = Path(__file__).resolve().parents[2] / "docs" / "corpora.md"
SAMPLE = re.compile(r"<!-- sample: (\w+) -->\n```text\n(.*?)\n```", re.DOTALL)


def test_marked_samples_are_generated_text():
    samples = SAMPLE.findall(DOC.read_text(encoding="utf-8"))
    assert {name for name, _ in samples} >= {"arithmetic", "units", "chemistry", "timeseries",
                                             "graphs", "sequences", "numbers"}
    for name, excerpt in samples:
        text = "".join(itertools.islice(get_corpus(name).documents(seed=0), 10))
        assert excerpt in text, f"docs/corpora.md sample for {name} is out of date"
