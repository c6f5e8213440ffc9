"""`auroragpt launch --machine mpich` from a PBS node file, across the hosts of the fake cluster.

2 hosts x 2 ranks train the debug preset with each host's index cache on its own node-local
disk. References: a single process with the same global batch and a shared cache (the
losses, the samples, the index files), the placement Hydra documents for `-ppn 2` (ranks 0-1
on the first host, 2-3 on the second), and the all-reduce formula n (n + 1) / 2.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
import torch
from fake_cluster import LAUNCH
from multiprocess_helpers import PYTHON, child_env

from auroragpt.data.cache import bundle_complete, read_bundle

STEPS, STOP = 3, 2  # the 2 x 2 run stops after step 2 and resumes for step 3
OVERRIDES = [f"train.max_steps={STEPS}", "train.micro_batch_size=2", "train.eval_every=0",
             "train.sample_every=0", "train.log_every=1", "train.cpu_threads=1"]


def train_args(run_dir: Path, *overrides: str) -> list[str]:
    return ["train", "--preset", "debug", "--no-progress", "--run-dir", str(run_dir),
            *OVERRIDES, *overrides]


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def build_log(cache: Path) -> list[dict]:
    return [json.loads(line) for line in
            (cache / "indices" / "build-index.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One process, one shared cache: metrics and the cache directory."""
    root = tmp_path_factory.mktemp("one-process")
    done = subprocess.run([PYTHON, "-m", "auroragpt.cli",
                           *train_args(root / "run", f"data.cache_dir={root / 'cache'}")],
                          env=child_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return metrics(root / "run"), root / "cache"


@pytest.fixture(scope="module")
def two_hosts(fake_cluster, tmp_path_factory):
    """The 2 x 2 run: fresh until step STOP, then resumed; both launches' output."""
    root = tmp_path_factory.mktemp("two-hosts")
    nodefile = fake_cluster.job_nodefile(root, 2)
    cache = fake_cluster.node_local / "cache"
    run_dir = root / "run"
    common = [*LAUNCH, "--ppn", "2", "--", PYTHON, "-m", "auroragpt.cli"]
    fresh = fake_cluster.run_job([*common, *train_args(run_dir, f"data.cache_dir={cache}",
                                                       f"train.stop_step={STOP}")],
                                 nodefile, timeout=600)
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    fresh_logs = {host: build_log(fake_cluster.disk(host) / "cache")
                  for host in fake_cluster.hosts[:2]}
    resumed = fake_cluster.run_job([*common, "train", "--run-dir", str(run_dir), "--resume",
                                    "--no-progress"], nodefile, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return run_dir, fresh, resumed, fresh_logs


def test_two_hosts_write_the_losses_of_one_process(reference, two_hosts):
    want, _ = reference
    run_dir, fresh, resumed, _ = two_hosts
    got = metrics(run_dir)
    assert [r["step"] for r in got] == [r["step"] for r in want] == list(range(1, STEPS + 1))
    for key in ("loss", "grad_norm"):
        torch.testing.assert_close(torch.tensor([r[key] for r in got]),
                                   torch.tensor([r[key] for r in want]), rtol=1e-5, atol=0,
                                   msg=key)
    assert "2 node(s)" in fresh.stderr and "= 4 rank(s)" in fresh.stderr
    assert "x 4 data-parallel" in fresh.stdout
    # the resumed launch continued rank 0's checkpoint of step STOP on the same layout
    assert f"resuming after step {STOP}" in resumed.stdout
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("global_step*")) == \
        [f"global_step{STOP}", f"global_step{STEPS}"]


def test_each_host_builds_its_node_local_cache_once(fake_cluster, two_hosts):
    _, _, _, fresh_logs = two_hosts
    first, second = fake_cluster.hosts[:2]
    for host, ranks in ((first, {0, 1}), (second, {2, 3})):
        records = [r for r in fresh_logs[host] if r["split"] == "train"]
        # both ranks of this host, and only they, opened the index in this cache
        assert sorted(r["rank"] for r in records) == sorted(ranks)
        # the host's ranks built every unit exactly once between them
        assert sum(r["built_here"] for r in records) == records[0]["units"]
        assert {r["missing"] for r in records} <= {0, records[0]["units"]}
        # the resumed job found everything built
        resumed = [r for r in build_log(fake_cluster.disk(host) / "cache")[len(fresh_logs[host]):]
                   if r["split"] == "train"]
        assert sorted(r["rank"] for r in resumed) == sorted(ranks)
        assert all(r["missing"] == 0 and r["built_here"] == 0 for r in resumed)


def cache_contents(cache: Path) -> dict[str, list[str]]:
    """Digests of what decides the samples, keyed independently of the cache's own path
    (file names hash the absolute paths of their inputs): the tokenizer, each corpus's
    tokens (.bin/.idx) and the index arrays (blend-*, gpt-*)."""
    contents: dict[str, list[str]] = {}
    for path in sorted(cache.rglob("*")):
        kind = path.parent.name
        if kind in ("tokenizers", "corpora") and path.suffix in (".model", ".bin", ".idx"):
            key, digest = f"{kind}/{path.stem.rsplit('-', 1)[0]}{path.suffix}", \
                hashlib.sha256(path.read_bytes()).hexdigest()
        elif kind == "indices" and path.suffix == ".agb":
            assert bundle_complete(path), path
            arrays, _ = read_bundle(path)
            key = f"indices/{path.name.split('-')[0]}"
            digest = hashlib.sha256(b"".join(name.encode() + arrays[name].tobytes()
                                             for name in sorted(arrays))).hexdigest()
        else:
            continue
        contents.setdefault(key, []).append(digest)
    return {key: sorted(digests) for key, digests in contents.items()}


def test_node_local_caches_hold_what_a_shared_cache_holds(fake_cluster, reference, two_hosts):
    """Whole files only (no partial, lock or temporary file left), and the same tokenizer,
    tokens and index arrays as a single process's shared cache: the ranks read the samples
    the single process read."""
    _, shared = reference
    want = cache_contents(shared)
    assert {"indices/blend", "indices/gpt"} <= want.keys()
    assert [k for k in want if k.startswith("tokenizers/")]
    for host in fake_cluster.hosts[:2]:
        cache = fake_cluster.disk(host) / "cache"
        assert not [p for p in cache.rglob("*") if ".tmp" in p.name or p.suffix == ".lock"]
        assert cache_contents(cache) == want, host
    assert not (fake_cluster.disk(fake_cluster.hosts[2]) / "cache").exists()  # not in the job


def test_doctor_across_hosts(fake_cluster, tmp_path):
    """Every rank's setup() as the doctor's table shows it, and all-reduce over the bridge."""
    nodefile = fake_cluster.job_nodefile(tmp_path, 2)
    result = fake_cluster.run_job([*LAUNCH, "--ppn", "2", "--", PYTHON, "-m", "auroragpt.cli",
                                   "doctor", "--sizes", "4K,64K", "--iters", "3"], nodefile)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    first, second = fake_cluster.hosts[:2]
    assert "job: 4 rank(s), launcher pmi, backend gloo" in out
    assert "hosts: 2" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("  rank ")]
    assert rows == [["rank", "0", first, "node", "0/2", "local", "0/2", "cpu"],
                    ["rank", "1", first, "node", "0/2", "local", "1/2", "cpu"],
                    ["rank", "2", second, "node", "1/2", "local", "0/2", "cpu"],
                    ["rank", "3", second, "node", "1/2", "local", "1/2", "cpu"]]
    hosts = [line.split() for line in out.splitlines() if line.startswith("  host ")]
    assert hosts == [["host", first, "node", "0", "ranks", "0-1", "devices", "cpu", "x2"],
                     ["host", second, "node", "1", "ranks", "2-3", "devices", "cpu", "x2"]]
    for scope in ("all 4 ranks", "across 2 hosts"):
        table = out.split(f"all-reduce ({scope}")[1].split("\n\n")[0]
        checks = [line.split()[-1] for line in table.splitlines()[2:]]
        assert checks == ["ok", "ok"], table
