"""Training and generation speed of our Transformer next to `transformers`' LlamaForCausalLM.

Same shape, same weights (converted with auroragpt.eval.hf), same batch, same device, same
process. Training: one step is forward, the same next-token loss, backward and AdamW; ours
and theirs alternate step by step so both see the same machine load, and the median step
time is reported. Generation: greedy decoding with a KV cache (our `Transformer.generate`,
their `generate(do_sample=False)`), alternating runs, median.

    python benchmarks/train_step.py                      # debug, tiny and small shapes
    python benchmarks/train_step.py --sizes tiny --steps 20

Prints one table per task and appends the rows to benchmarks/train_step.jsonl.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from auroragpt.config import ModelConfig, get_preset
from auroragpt.model import build_model

SIZES = {
    "debug": get_preset("debug").model,
    "tiny": get_preset("tiny").model,
    "small": ModelConfig(dim=512, n_layers=8, n_heads=8, n_kv_heads=4, vocab_size=8192,
                         multiple_of=64, max_seq_len=256),
}


def build_pair(cfg: ModelConfig, seed: int = 0):
    """Our model and a LlamaForCausalLM holding the same weights."""
    import transformers

    from auroragpt.eval.hf import hf_config_dict, to_hf_state_dict

    torch.manual_seed(seed)
    ours = build_model(cfg)
    hf_config = transformers.LlamaConfig(**hf_config_dict(cfg, bos_id=None, eos_id=None,
                                                          pad_id=None))
    theirs = transformers.LlamaForCausalLM(hf_config)
    theirs.load_state_dict(to_hf_state_dict(ours.state_dict(), cfg), strict=False)
    return ours, theirs


def loss_of(model, tokens: torch.Tensor, hf: bool) -> torch.Tensor:
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    logits = model(inputs).logits if hf else model(inputs)  # (B, S, V)
    return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())


def timed(fn) -> float:
    """Seconds `fn` takes: CPU time of this thread when torch runs single-threaded, else wall.

    NOTE: with one torch thread every kernel (and autograd's backward) runs on the calling
    thread, so its CPU time is what the work costs on a core of its own, whatever else the
    machine runs; wall time on a shared machine mostly measures the other processes.
    """
    clock = time.thread_time if torch.get_num_threads() == 1 else time.perf_counter
    start = clock()
    fn()
    return clock() - start


def bench_training(ours, theirs, tokens: torch.Tensor, steps: int, warmup: int = 2):
    """Median seconds per training step of each model, steps interleaved."""
    runs = []
    for model, hf in ((ours, False), (theirs, True)):
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step(model=model, hf=hf, optimizer=optimizer):
            loss_of(model, tokens, hf).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        runs.append(step)
    for _ in range(warmup):
        for step in runs:
            step()
    times: list[list[float]] = [[], []]
    for _ in range(steps):
        for i, step in enumerate(runs):
            times[i].append(timed(step))
    return statistics.median(times[0]), statistics.median(times[1])


@torch.no_grad()
def bench_generation(ours, theirs, prompt: torch.Tensor, new_tokens: int, repeats: int):
    """Median seconds to greedily generate `new_tokens` with each model, and whether the
    two produced the same tokens (they hold the same weights, so they should)."""
    ours.eval()
    theirs.eval()

    def run_ours():
        return ours.generate(prompt, new_tokens, temperature=0)

    def run_theirs():
        return theirs.generate(prompt, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                               do_sample=False, use_cache=True, pad_token_id=0)

    same = torch.equal(run_ours(), run_theirs())  # also the warm-up
    times: list[list[float]] = [[], []]
    for _ in range(repeats):
        times[0].append(timed(run_ours))
        times[1].append(timed(run_theirs))
    return statistics.median(times[0]), statistics.median(times[1]), same


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="debug,tiny,small")
    parser.add_argument("--batch", type=int, default=8, help="sequences per training step")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per model")
    parser.add_argument("--gen-batch", type=int, default=1)
    parser.add_argument("--gen-tokens", type=int, default=48)
    parser.add_argument("--gen-repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: timings are this thread's CPU time)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("train_step.jsonl"))
    args = parser.parse_args()

    import transformers

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    clock = "thread CPU time" if args.threads == 1 else "wall time"
    machine = (f"{_cpu_name()}, {args.threads} torch thread(s), {clock}, torch "
               f"{torch.__version__}, transformers {transformers.__version__}")
    print(f"# {machine}")
    rows = []
    for name in args.sizes.split(","):
        cfg = SIZES[name]
        ours, theirs = build_pair(cfg)
        gen = torch.Generator().manual_seed(0)
        tokens = torch.randint(0, cfg.vocab_size, (args.batch, cfg.max_seq_len + 1), generator=gen)
        with torch.no_grad():  # the same weights must give the same logits
            diff = (ours(tokens[:, :-1]) - theirs(tokens[:, :-1]).logits).abs().max().item()
        t_ours, t_theirs = bench_training(ours, theirs, tokens, args.steps)
        tokens_per_step = args.batch * cfg.max_seq_len
        prompt = tokens[:args.gen_batch, :16]
        g_ours, g_theirs, same = bench_generation(ours, theirs, prompt, args.gen_tokens,
                                                  args.gen_repeats)
        gen_tokens = args.gen_batch * args.gen_tokens
        row = {
            "size": name, "dim": cfg.dim, "n_layers": cfg.n_layers, "seq": cfg.max_seq_len,
            "vocab": cfg.vocab_size, "batch": args.batch, "max_logit_diff": diff,
            "hf_attention": theirs.config._attn_implementation,
            "train_tokens_per_s_ours": tokens_per_step / t_ours,
            "train_tokens_per_s_hf": tokens_per_step / t_theirs,
            "train_ratio": t_theirs / t_ours,
            "gen_tokens_per_s_ours": gen_tokens / g_ours,
            "gen_tokens_per_s_hf": gen_tokens / g_theirs,
            "gen_ratio": g_theirs / g_ours, "gen_same_tokens": same,
            "machine": machine, "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        rows.append(row)
        print(f"{name}: logits max |diff| {diff:.1e}, HF attention {row['hf_attention']}")

    print("\n| size | dim x layers, seq | train tok/s ours | train tok/s HF | ratio | "
          "gen tok/s ours | gen tok/s HF | ratio | same tokens |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['size']} | {r['dim']} x {r['n_layers']}, {r['seq']} | "
              f"{r['train_tokens_per_s_ours']:,.0f} | {r['train_tokens_per_s_hf']:,.0f} | "
              f"{r['train_ratio']:.2f} | {r['gen_tokens_per_s_ours']:,.0f} | "
              f"{r['gen_tokens_per_s_hf']:,.0f} | {r['gen_ratio']:.2f} | "
              f"{'yes' if r['gen_same_tokens'] else 'no'} |")
    with open(args.out, "a") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
