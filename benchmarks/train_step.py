"""Training and generation speed of our Transformer next to `transformers`' LlamaForCausalLM.

Same shape, same weights (converted with auroragpt.eval.hf), same batch, same device, same
process. Training: one step is forward, the same next-token loss, backward and AdamW; ours
and theirs alternate step by step so both see the same machine load, and the median step
time is reported (fp32; `--bf16` adds both models under CPU bf16 autocast, as extra rows).
Generation: greedy decoding with a KV cache, alternating runs, median: our
`auroragpt.generation.generate_tokens` as it runs by default (eager) and with `compile=True`, their
`generate(do_sample=False)` as it runs by default (eager, dynamic cache) and with a static
cache and a compiled forward; compilations are timed apart, in the first call.

    python benchmarks/train_step.py                      # debug, tiny and small shapes
    python benchmarks/train_step.py --sizes tiny --steps 20 --threads 2 --bf16

Prints one table per task and appends the rows to benchmarks/train_step.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
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


def bench_training(ours, theirs, tokens: torch.Tensor, steps: int, warmup: int = 2,
                   bf16: bool = False):
    """Median seconds per training step of each model, steps interleaved (bf16: both under
    CPU bf16 autocast; the weights and AdamW stay fp32)."""
    runs = []
    for model, hf in ((ours, False), (theirs, True)):
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step(model=model, hf=hf, optimizer=optimizer):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = loss_of(model, tokens, hf)
            loss.backward()
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
    """Median seconds to greedily generate `new_tokens`, for each of: ours eager, ours
    compiled, theirs as `generate` runs by default (dynamic cache, eager), theirs with a static
    cache and its compiled forward (transformers' `compile_config`, on CPU by opt-in); the
    seconds of the two first compiled calls (compilation included); and whether all four
    produced the same tokens (they hold the same weights, so they should)."""
    import transformers

    from auroragpt.generation import generate_tokens

    ours.eval()
    theirs.eval()
    compile_config = transformers.CompileConfig(fullgraph=True, dynamic=False, mode="default")
    compile_config._compile_all_devices = True  # transformers compiles on GPUs only, unless told
    theirs_kwargs = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                         pad_token_id=0)
    runs = [
        lambda: generate_tokens(ours, prompt, new_tokens, temperature=0),
        lambda: generate_tokens(ours, prompt, new_tokens, temperature=0, compile=True),
        lambda: theirs.generate(prompt, **theirs_kwargs),
        lambda: theirs.generate(prompt, cache_implementation="static",
                                compile_config=compile_config, **theirs_kwargs),
    ]
    outputs, compile_s = {}, []
    for i in (1, 3):
        start = time.perf_counter()
        outputs[i] = runs[i]()
        compile_s.append(time.perf_counter() - start)
    outputs |= {i: runs[i]() for i in (0, 2)}  # warm-up of the eager runs
    same = all(torch.equal(outputs[0], out) for out in outputs.values())
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for i, run in enumerate(runs):
            times[i].append(timed(run))
    return [statistics.median(t) for t in times], compile_s, same


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
    parser.add_argument("--bf16", action="store_true",
                        help="also time training of both models under CPU bf16 autocast")
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
        (g_ours, g_compiled, g_theirs, g_theirs_compiled), compile_s, same = bench_generation(
            ours, theirs, prompt, args.gen_tokens, args.gen_repeats)
        gen_tokens = args.gen_batch * args.gen_tokens
        row = {
            "size": name, "dim": cfg.dim, "n_layers": cfg.n_layers, "seq": cfg.max_seq_len,
            "vocab": cfg.vocab_size, "batch": args.batch, "max_logit_diff": diff,
            "hf_attention": theirs.config._attn_implementation, "threads": args.threads,
            "train_tokens_per_s_ours": tokens_per_step / t_ours,
            "train_tokens_per_s_hf": tokens_per_step / t_theirs,
            "train_ratio": t_theirs / t_ours,
            "gen_tokens_per_s_ours": gen_tokens / g_ours,
            "gen_tokens_per_s_ours_compiled": gen_tokens / g_compiled,
            "gen_tokens_per_s_hf": gen_tokens / g_theirs,
            "gen_tokens_per_s_hf_compiled": gen_tokens / g_theirs_compiled,
            "gen_ratio": g_theirs / g_ours, "gen_ratio_compiled": g_theirs / g_compiled,
            "gen_ratio_both_compiled": g_theirs_compiled / g_compiled,
            "gen_compile_s": compile_s[0], "gen_compile_s_hf": compile_s[1],
            "gen_same_tokens": same,
            "machine": machine, "load_average": os.getloadavg()[0],
            "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        if args.bf16:
            b_ours, b_theirs = bench_training(ours.train(), theirs.train(), tokens, args.steps,
                                              bf16=True)
            row.update(train_bf16_tokens_per_s_ours=tokens_per_step / b_ours,
                       train_bf16_tokens_per_s_hf=tokens_per_step / b_theirs,
                       train_bf16_ratio=b_theirs / b_ours)
        rows.append(row)
        print(f"{name}: logits max |diff| {diff:.1e}, HF attention {row['hf_attention']}, "
              f"load average {row['load_average']:.2f}", flush=True)

    print("\nTraining, fp32, both eager:\n| size | dim x layers, seq | tok/s ours | tok/s HF | "
          "ratio |\n|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['size']} | {r['dim']} x {r['n_layers']}, {r['seq']} | "
              f"{r['train_tokens_per_s_ours']:,.0f} | {r['train_tokens_per_s_hf']:,.0f} | "
              f"{r['train_ratio']:.2f} |")
    print("\nGeneration, tok/s (compile seconds), ratios ours / HF:\n| size | ours eager | HF "
          "generate | ratio | ours compiled | ratio | HF static + compiled | compiled ratio | "
          "same tokens |\n|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['size']} | {r['gen_tokens_per_s_ours']:,.0f} | "
              f"{r['gen_tokens_per_s_hf']:,.0f} | {r['gen_ratio']:.2f} | "
              f"{r['gen_tokens_per_s_ours_compiled']:,.0f} ({r['gen_compile_s']:.0f} s) | "
              f"{r['gen_ratio_compiled']:.2f} | {r['gen_tokens_per_s_hf_compiled']:,.0f} "
              f"({r['gen_compile_s_hf']:.0f} s) | {r['gen_ratio_both_compiled']:.2f} | "
              f"{'yes' if r['gen_same_tokens'] else 'no'} |")
    if args.bf16:
        print("\nbf16 autocast training (extra information; the ratio above is fp32):")
        print("| size | train tok/s ours | train tok/s HF | ratio |\n|---|---:|---:|---:|")
        for r in rows:
            print(f"| {r['size']} | {r['train_bf16_tokens_per_s_ours']:,.0f} | "
                  f"{r['train_bf16_tokens_per_s_hf']:,.0f} | {r['train_bf16_ratio']:.2f} |")
    with open(args.out, "a") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
