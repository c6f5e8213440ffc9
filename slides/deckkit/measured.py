"""Our own measured numbers, read from what the benchmark scripts record under benchmarks/.

Every reader returns None when the benchmark has not been recorded yet, so a deck still
renders on a fresh clone and says so on the slide.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Rows appended by `benchmarks/data_index.py` (its results.jsonl), copied into the repository.
DATA_INDEX_RESULTS = REPO / "benchmarks" / "data_index.jsonl"


@dataclass
class IndexBenchmark:
    """Seconds to build the blended index, per implementation, on one measured list."""

    seconds: dict[str, float]  # label -> build seconds
    files: int  # files in the data-file list
    fraction: float  # share of Dolma's tokens the generated list holds
    workers: int  # CPU workers the builders could use


def index_build_benchmark(path: Path = DATA_INDEX_RESULTS) -> IndexBenchmark | None:
    """The largest-scale row recorded by benchmarks/data_index.py (the latest one on ties)."""
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        return None
    row = max(reversed(rows), key=lambda r: r["fraction"])
    sides = [("megatron_cold", "megatron-core, cold"), ("ours_cold", "auroragpt, cold"),
             ("ours_warm", "auroragpt, cached")]
    seconds = {f"{label} (measured here)": row[key]["build_s"]
               for key, label in sides if key in row}
    return IndexBenchmark(seconds=seconds, files=row["files"], fraction=row["fraction"],
                          workers=row["workers"])
