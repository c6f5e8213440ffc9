"""Index building for a Dolma-shaped data-file-list: ours vs megatron-core, cold and warm.

    python benchmarks/data_index.py --fraction 0.01            # 1/100 of Dolma, both sides
    python benchmarks/data_index.py --fraction 0.001 0.003 0.01  # a scale curve

The generator writes 2419 files in 12 corpora shaped like Dolma v1.7 (token shares, file
counts and mean document lengths per source, log-normal file sizes) at a fraction of its ~2T
tokens: real `.idx` files with every document length, and sparse `.bin` files of the right
size (index building never reads tokens). The list weights are the files' token shares, with
books and Wikipedia upsampled 2x as ALCF's lists do. Each measurement runs in its own process
so that its peak RSS is its own, after `sync` and a 1 s pause; "cold" starts from an empty
cache, "warm" finds it full. Both sides build the same request: `--samples-ratio` x tokens / seq_length train samples.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DOLMA_TOKENS = 2.0e12
# name, share of tokens, files, mean document tokens, list upsampling
DOLMA_SHAPE = [
    ("cc_en_head", 0.25, 612, 900, 1.0),
    ("cc_en_middle", 0.25, 612, 800, 1.0),
    ("cc_en_tail", 0.15, 500, 700, 1.0),
    ("c4", 0.06, 171, 450, 1.0),
    ("starcoder", 0.12, 200, 1800, 1.0),
    ("reddit", 0.04, 78, 250, 1.0),
    ("pes2o", 0.03, 26, 4500, 1.0),
    ("math", 0.03, 40, 6000, 1.0),
    ("falcon", 0.05, 150, 700, 1.0),
    ("books", 0.003, 3, 80000, 2.0),
    ("wiki", 0.002, 2, 700, 2.0),
    ("misc", 0.015, 25, 600, 1.0),
]


def generate(root: Path, fraction: float, seed: int = 0) -> Path:
    """Write the Dolma-shaped corpus and its list under `root` (reused if already there)."""
    from auroragpt.atomic import atomic_write_text
    from auroragpt.data.indexed import write_index

    listing = root / "dolma.txt"
    if listing.exists():
        return listing
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = []
    for name, share, files, mean_doc, upsample in DOLMA_SHAPE:
        sizes = rng.lognormal(0.0, 0.6, files)
        file_tokens = (sizes / sizes.sum() * share * DOLMA_TOKENS * fraction).astype(np.int64)
        for i, tokens in enumerate(file_tokens):
            prefix = root / name / f"{name}-{i:04d}_text_document"
            prefix.parent.mkdir(exist_ok=True)
            count = max(1, int(tokens // mean_doc))
            lengths = rng.geometric(1.0 / mean_doc, count).astype(np.int32)
            write_index(f"{prefix}.idx", np.uint16, lengths)
            with open(f"{prefix}.bin", "wb") as f:
                f.truncate(int(lengths.sum(dtype=np.int64)) * 2)  # sparse: no blocks written
            weight = lengths.sum(dtype=np.int64) / (DOLMA_TOKENS * fraction) * upsample
            lines.append(f"{weight:.10g} {prefix} {name}\n")
    atomic_write_text(listing, "".join(lines))
    return listing


def list_stats(listing: Path) -> dict:
    from auroragpt.data.file_list import read_file_list
    from auroragpt.data.indexed import read_index

    file_list = read_file_list(listing)
    docs = tokens = 0
    for entry in file_list.entries:
        _, count, _, lengths, _, _ = read_index(Path(entry.prefix + ".idx"))
        docs += count
        tokens += int(lengths.sum(dtype=np.int64))
    return {"files": len(file_list.entries), "corpora": len(file_list.corpora),
            "documents": docs, "tokens": tokens}


# ---------------------------------------------------------------------------------------------
# The measured builds (each runs as `data_index.py _run SIDE ...` in a fresh process)
# ---------------------------------------------------------------------------------------------


def run_ours(listing: str, cache: str, seq_length: int, samples: int, seed: int,
             workers: int) -> float:
    from auroragpt.data.blended import open_blend
    from auroragpt.data.file_list import read_file_list

    start = time.perf_counter()
    dataset = open_blend(read_file_list(listing), seq_length, samples, seed, cache,
                         workers=workers, progress=False)
    assert len(dataset) >= samples
    return time.perf_counter() - start


def run_megatron(listing: str, cache: str, seq_length: int, samples: int, seed: int) -> float:
    import torch.distributed as dist
    from megatron.core.datasets.blended_megatron_dataset_builder import (
        BlendedMegatronDatasetBuilder,
    )
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig

    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(29500 + os.getpid() % 2000))
    dist.init_process_group("gloo", rank=0, world_size=1)  # its blend calls get_rank()

    class Tokenizer:  # what GPTDatasetConfig reads of a tokenizer
        vocab_size, eod, pad = 32000, 2, 32000
        unique_identifiers = {"class": "Llama", "vocab_size": 32000}

    rows = [line.split() for line in Path(listing).read_text().splitlines() if line.strip()]
    config = GPTDatasetConfig(
        random_seed=seed, sequence_length=seq_length,
        blend=([r[1] for r in rows], [float(r[0]) for r in rows]), split="100,0,0",
        tokenizer=Tokenizer(), reset_position_ids=False, reset_attention_mask=False,
        eod_mask_loss=False, path_to_cache=cache, mmap_bin_files=True)
    start = time.perf_counter()
    dataset = BlendedMegatronDatasetBuilder(GPTDataset, [samples, 0, 0], lambda: True,
                                            config).build()[0]
    assert len(dataset) >= samples
    return time.perf_counter() - start


def measure_once(side: str, listing: Path, cache: Path, args, cold: bool) -> dict:
    """Run one build in a fresh process; its build time, wall time and peak RSS."""
    if cold and cache.exists():
        shutil.rmtree(cache)
    # NOTE: neither side fsyncs its cache files. Flush what earlier runs left (dirty pages,
    # deleted files) so that their writeback does not land inside this measurement.
    os.sync()
    time.sleep(1.0)
    command = [sys.executable, __file__, "_run", side, str(listing), str(cache),
               str(args.seq_length), str(args.samples), str(args.seed), str(args.workers)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"{side} {'cold' if cold else 'warm'} build failed:\n{done.stderr.strip()}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(side=side, state="cold" if cold else "warm", process_s=wall)
    return result


def measure(side: str, listing: Path, cache: Path, args, cold: bool) -> dict:
    """The run with the median build time of `args.repeats`, with every run's times."""
    runs = [measure_once(side, listing, cache, args, cold) for _ in range(args.repeats)]
    result = sorted(runs, key=lambda r: r["build_s"])[len(runs) // 2]
    return {**result, "build_s_runs": [r["build_s"] for r in runs],
            "process_s_runs": [r["process_s"] for r in runs]}


def child(argv: list[str]) -> None:
    side, listing, cache, seq_length, samples, seed, workers = argv
    seq_length, samples, seed, workers = int(seq_length), int(samples), int(seed), int(workers)
    if side == "ours":
        build_s = run_ours(listing, cache, seq_length, samples, seed, workers)
    else:
        build_s = run_megatron(listing, cache, seq_length, samples, seed)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"build_s": build_s, "peak_rss_mb": own}))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_run":
        child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fraction", type=float, nargs="+", default=[0.01],
                        help="fractions of Dolma's 2T tokens (several give a scale curve)")
    parser.add_argument("--workdir", default="/tmp/auroragpt-dolma-bench")
    parser.add_argument("--seq-length", type=int, default=4096)
    parser.add_argument("--samples-ratio", type=float, default=0.9,
                        help="train samples = ratio * tokens / seq_length")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="our builder threads (megatron-core builds in one thread)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each measurement; the median is reported")
    parser.add_argument("--skip-megatron", action="store_true")
    args = parser.parse_args()
    rows = []
    for fraction in args.fraction:
        root = Path(args.workdir) / f"dolma-{fraction:g}"
        start = time.perf_counter()
        listing = generate(root, fraction)
        stats = list_stats(listing)
        print(f"\n1/{1 / fraction:.0f} of Dolma: {stats['files']} files, {stats['corpora']} "
              f"corpora, {stats['documents']:,} documents, {stats['tokens'] / 1e9:.1f} G tokens "
              f"(generated/read in {time.perf_counter() - start:.1f} s)")
        args.samples = int(args.samples_ratio * stats["tokens"] / args.seq_length)
        sides = ["ours"] + ([] if args.skip_megatron else ["megatron"])
        results = {}
        for side in sides:
            cache = root / f"cache-{side}"
            for cold in (True, False):
                result = measure(side, listing, cache, args, cold)
                results[(side, result["state"])] = result
                print(f"  {side:>8} {result['state']}: build {result['build_s']:7.2f} s, "
                      f"process {result['process_s']:7.2f} s, peak RSS "
                      f"{result['peak_rss_mb']:6.0f} MB", flush=True)
        row = {"fraction": fraction, "samples": args.samples, "workers": args.workers,
               "repeats": args.repeats, "load_average": os.getloadavg()[0], **stats,
               **{f"{s}_{state}": r for (s, state), r in results.items()}}
        if not args.skip_megatron:
            for state in ("cold", "warm"):
                ours, theirs = results[("ours", state)], results[("megatron", state)]
                row[f"speedup_{state}_build"] = theirs["build_s"] / ours["build_s"]
                row[f"speedup_{state}_process"] = theirs["process_s"] / ours["process_s"]
                print(f"  {state}: {row[f'speedup_{state}_build']:.1f}x faster build, "
                      f"{row[f'speedup_{state}_process']:.1f}x faster process")
        rows.append(row)
        with open(Path(args.workdir) / "results.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
    if not args.skip_megatron:
        print(f"plot: {plot_rows(rows, Path(args.workdir) / 'results.png')}")


def plot_rows(rows: list[dict], path: Path) -> Path:
    """Build seconds against documents, both sides, cold and warm, with the cold ratio."""
    from matplotlib.figure import Figure

    from auroragpt.atomic import atomic_path

    rows = sorted(rows, key=lambda r: r["documents"])
    docs = [r["documents"] / 1e6 for r in rows]
    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    for side, color in (("megatron", "tab:gray"), ("ours", "tab:blue")):
        label = "megatron-core" if side == "megatron" else "auroragpt"
        for state, style in (("cold", "o-"), ("warm", "s--")):
            ax.plot(docs, [r[f"{side}_{state}"]["build_s"] for r in rows], style, color=color,
                    label=f"{label}, {state}")
    for x, r in zip(docs, rows, strict=True):
        ax.annotate(f"{r['speedup_cold_build']:.1f}x", (x, r["ours_cold"]["build_s"]),
                    textcoords="offset points", xytext=(0, -14), ha="center", fontsize=8)
    ax.set(xscale="log", yscale="log", xlabel="documents in the list (2419 files)",
           ylabel="build seconds (median)",
           title="Blended index build, Dolma-shaped list: cold ratio under each point")
    ax.set_xticks(docs, [f"{d:.1f} M\n(1/{1 / r['fraction']:.0f})" for d, r in zip(docs, rows,
                                                                                  strict=True)])
    ax.xaxis.set_minor_formatter("")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path


if __name__ == "__main__":
    main()
