"""Evaluation workloads on our model next to transformers' LlamaForCausalLM with the same weights.

    python benchmarks/eval_generation.py                  # tiny preset, CPU
    python benchmarks/eval_generation.py --preset 125m --device cuda

Two workloads, each run on both models, same inputs, median of `--reps` timed runs after one
warm-up, ours and theirs alternating:

- greedy generation: a batch of prompts, a fixed number of new tokens, KV cache on both sides
  (ours: `auroragpt.generation.generate_tokens`; theirs: `generate(do_sample=False)` with EOS
  disabled so both produce exactly `--new` tokens). The outputs are checked token-identical before timing.
- scoring: next-token NLL of full-length sequences (forward + fp32 log-softmax), the inner
  loop of validation loss; the NLLs are checked equal (1e-4) before timing.

Weights are random (seeded) and converted with `auroragpt.eval.hf`, fp32.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def paired_medians(ours, theirs, reps: int) -> tuple[float, float]:
    """Median seconds of each, timed alternately so load on a shared machine hits both alike."""
    ours(), theirs()  # warm-up
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(reps):
        for fn, bucket in ((ours, times[0]), (theirs, times[1])):
            start = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--prompt", type=int, default=16, help="prompt tokens")
    parser.add_argument("--new", type=int, default=64, help="generated tokens")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import transformers

    from auroragpt.config import get_preset
    from auroragpt.eval.hf import hf_config_dict, to_hf_state_dict
    from auroragpt.generation import generate_tokens
    from auroragpt.model import build_model

    torch.manual_seed(0)
    cfg = get_preset(args.preset).model
    device = torch.device(args.device)
    ours = build_model(cfg, device).eval()
    hf_cfg = transformers.LlamaConfig(**hf_config_dict(cfg, bos_id=None, eos_id=None, pad_id=0))
    theirs = transformers.LlamaForCausalLM(hf_cfg).to(device).eval()
    theirs.load_state_dict(to_hf_state_dict(ours.state_dict(), cfg), strict=not cfg.tie_embeddings)
    theirs.generation_config.eos_token_id = None
    theirs.generation_config.pad_token_id = 0

    gen = torch.Generator().manual_seed(1)
    prompt = torch.randint(0, cfg.vocab_size, (args.batch, args.prompt), generator=gen).to(device)
    sequences = torch.randint(0, cfg.vocab_size, (args.batch, cfg.max_seq_len + 1),
                              generator=gen).to(device)
    new = min(args.new, cfg.max_seq_len - args.prompt)

    def ours_generate():
        return generate_tokens(ours, prompt, new, temperature=0.0)

    def theirs_generate():
        return theirs.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                               max_new_tokens=new, min_new_tokens=new)

    def nll(logits):
        return F.cross_entropy(logits.float().transpose(1, 2), sequences[:, 1:],
                               reduction="none").sum(1)

    def ours_score():
        return nll(ours(sequences[:, :-1]))

    def theirs_score():
        return nll(theirs(input_ids=sequences[:, :-1]).logits)

    with torch.no_grad():
        assert torch.equal(ours_generate(), theirs_generate()), "greedy outputs differ"
        torch.testing.assert_close(ours_score(), theirs_score(), rtol=1e-4, atol=1e-4)
        rows = [
            ("greedy generate", args.batch * new,
             *paired_medians(ours_generate, theirs_generate, args.reps)),
            ("score (NLL)", args.batch * cfg.max_seq_len,
             *paired_medians(ours_score, theirs_score, args.reps)),
        ]
    print(f"preset {args.preset} ({sum(p.numel() for p in ours.parameters()) / 1e6:.1f}M params), "
          f"device {device}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"transformers {transformers.__version__}; batch {args.batch}, prompt {args.prompt}, "
          f"new {new}, seq {cfg.max_seq_len}")
    print(f"{'workload':<16} {'tokens':>7} {'ours (s)':>9} {'hf (s)':>9} {'ours tok/s':>11} "
          f"{'hf tok/s':>9} {'hf/ours':>8}")
    for name, tokens, ours_s, theirs_s in rows:
        print(f"{name:<16} {tokens:>7} {ours_s:>9.3f} {theirs_s:>9.3f} {tokens / ours_s:>11.0f} "
              f"{tokens / theirs_s:>9.0f} {theirs_s / ours_s:>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
