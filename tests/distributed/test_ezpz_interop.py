"""Interop with ALCF's ezpz: under torchrun and under mpiexec, 2 CPU ranks, our
`auroragpt.distributed.setup()` and ezpz agree on rank, local rank, world size, device type
and backend.

Skipped where ALCF's ezpz is not installed. NOTE: it cannot be installed from the package
index: `ezpz-ai` (0.9.0) is an empty package that requires `ezpz`, and the index's `ezpz`
(0.1.2) is an unrelated image-cropping tool. ALCF's ezpz installs from its repository
(`pip install --no-deps "git+https://github.com/saforem2/ezpz"` into the frameworks env, plus
the light dependencies it imports), see docs/distributed.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from multiprocess_helpers import MPIEXEC, PYTHON, TORCHRUN, child_env, run

WORKER = Path(__file__).with_name("ezpz_worker.py")


def _alcf_ezpz():
    try:
        import ezpz
    except ImportError:
        pytest.skip("ALCF's ezpz is not installed (not on the package index; see docstring)")
    if not hasattr(ezpz, "setup_torch"):
        pytest.skip(f"the installed ezpz ({ezpz.__file__}) is not ALCF's ezpz")


def _agreements(proc) -> list[dict]:
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line[5:]) for line in proc.stdout.splitlines() if line.startswith("EZPZ ")]
    assert len(lines) == 2, proc.stdout
    return lines


@pytest.mark.parametrize("launcher", ["torchrun", "mpiexec"])
def test_setup_and_ezpz_agree(launcher):
    _alcf_ezpz()
    if launcher == "torchrun":
        argv = [*TORCHRUN, "--nproc-per-node", "2", str(WORKER)]
    else:
        argv = [MPIEXEC, "-n", "2", PYTHON, str(WORKER)]
    results = _agreements(run(argv, env=child_env()))
    assert sorted(r["ours"]["rank"] for r in results) == [0, 1]
    for result in results:
        assert result["ours"] == result["theirs"]
        assert result["ours"]["world_size"] == 2
        assert (result["ours"]["device_type"], result["ours"]["backend"]) == ("cpu", "gloo")
