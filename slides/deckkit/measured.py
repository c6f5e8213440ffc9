"""Our own measured numbers, read from what the benchmark scripts write under benchmarks/.

Every reader returns an empty result when the benchmark has not been run yet, so a deck
still renders on a fresh clone and says so on the slide.
"""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA_INDEX_JSON = REPO / "benchmarks" / "data_index.json"


def index_build_times(path: Path = DATA_INDEX_JSON) -> dict[str, float]:
    """Label -> seconds to build the blended index, as measured by benchmarks/data_index.py."""
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    rows = data["results"] if isinstance(data, dict) else data
    return {f"{row['name']} (ours, {row.get('machine', 'this machine')})": float(row["seconds"])
            for row in rows}
