"""Our kernels side by side with torch eager, `torch.compile` and liger-kernel, and what they save.

Four parts, in one run (`--parts` picks some):

- `speed` (CUDA/XPU only): forward and forward+backward time of RMSNorm, RoPE, SwiGLU and the
  linear + cross-entropy at the 1b preset's shapes (4 x 2048 tokens, bf16), for ours (Triton),
  torch eager, `torch.compile` of the eager code and liger-kernel; as achieved bandwidth against
  the device's measured copy bandwidth (elementwise kernels) or FLOP rate against a measured
  bf16 matmul (the loss).
- `loss`: peak memory of the loss alone (linear + cross-entropy, forward and backward) at
  vocabulary 32k, 2 x 2048 tokens, width 1024, fp32: eager logits + `F.cross_entropy`, ours
  (chunked; torch on a CPU, Triton on a GPU), `torch.compile` of eager, liger-kernel (GPU).
- `step`: peak memory of a whole training step (forward, loss, backward, AdamW) of our model
  and of transformers' `LlamaForCausalLM` with the same shape (width 256, 4 layers, vocabulary
  32k, sequence 2048, batch 2), the same weights and batch; checks that the first step's loss
  and gradients agree.
- `mfu` (CUDA/XPU only): model FLOPs utilisation of the 1b preset on one device, bf16,
  `torch.compile` and these kernels.

How memory is measured: every variant runs in a fresh subprocess (nothing cached or fragmented
by the others), builds its inputs and model, runs one warm-up step, and then measures one more.
On a GPU: `max_memory_allocated` minus the allocation before the measured step. On a CPU: the
process's resident-set high-water mark (`VmHWM`, reset through /proc/self/clear_refs just
before) minus its resident set before the step, with glibc told to serve every allocation over
128 KiB by mmap (`MALLOC_MMAP_THRESHOLD_`), so freed tensors leave the resident set at once and
RSS follows the live tensors; Linux only.

    python benchmarks/kernels.py                      # every part this device can run
    python benchmarks/kernels.py --parts loss step    # the memory parts only

Prints one table per part and appends the rows to benchmarks/kernels.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from auroragpt import kernels
from auroragpt.config import ModelConfig
from auroragpt.kernels.traffic import peak_memory

HERE = Path(__file__).resolve().parent
ACCELERATOR = next((d for d in ("cuda", "xpu") if getattr(torch, d, None) is not None
                    and getattr(torch, d).is_available()), None)
DEVICE = torch.device(ACCELERATOR or "cpu")
STEP_MODEL = ModelConfig(dim=256, n_layers=4, n_heads=4, vocab_size=32000, multiple_of=64,
                         max_seq_len=2048)
STEP_BATCH = 2
LOSS_SHAPE = dict(tokens=2 * 2048, dim=1024, vocab=32000)


# ----------------------------------------------------------------------------------------------
# Measuring
# ----------------------------------------------------------------------------------------------


def sync() -> None:
    if ACCELERATOR:
        getattr(torch, ACCELERATOR).synchronize()


def seconds(fn, repeats: int = 20, warmup: int = 3) -> float:
    """Median wall seconds of fn() on the device (synchronised around every call)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def liger():
    """liger-kernel's functional API, or None (it needs its Triton kernels on a GPU)."""
    if not ACCELERATOR:
        return None
    try:
        from liger_kernel.transformers import functional
    except ImportError:
        return None
    return functional


# ----------------------------------------------------------------------------------------------
# Memory of the loss and of a training step, each variant in its own process
# ----------------------------------------------------------------------------------------------


def loss_variants() -> list[str]:
    return ["eager", "ours", "compile"] + (["liger"] if liger() else [])


def run_loss(variant: str, out: Path) -> dict:
    N, D, V = LOSS_SHAPE["tokens"], LOSS_SHAPE["dim"], LOSS_SHAPE["vocab"]
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(N, D, generator=gen).to(DEVICE).requires_grad_()
    weight = (torch.randn(V, D, generator=gen) / D ** 0.5).to(DEVICE).requires_grad_()
    targets = torch.randint(0, V, (N,), generator=gen).to(DEVICE)
    loss_fn = {
        "eager": kernels.linear_cross_entropy_reference,
        "ours": kernels.fused_linear_cross_entropy,
        "compile": torch.compile(kernels.linear_cross_entropy_reference),
        "liger": lambda h, w, t: liger().liger_fused_linear_cross_entropy(h, w, t),
    }[variant]

    def step():
        hidden.grad = weight.grad = None
        loss = loss_fn(hidden, weight, targets)
        loss.backward()
        return loss

    step()  # warm-up (and compilation)
    hidden.grad = weight.grad = None
    with peak_memory(DEVICE) as mem:
        loss = step()
    torch.save({"loss": loss.detach().cpu(), "hidden": hidden.grad.cpu(),
                "weight": weight.grad.cpu()}, out)
    return {"peak_bytes": mem.peak, "total_bytes": mem.total}


def step_variants() -> list[str]:
    return ["transformers", "ours", "ours+ac"]


def run_step(variant: str, out: Path) -> dict:
    """Two AdamW steps; the second is measured; the first's loss and gradients are saved."""
    sys.path.insert(0, str(HERE))
    from train_step import build_pair  # the shared our-model / LlamaForCausalLM builder

    from auroragpt.eval.hf import from_hf_state_dict
    from auroragpt.train.engine import apply_activation_checkpointing

    ours, theirs = build_pair(STEP_MODEL)
    hf = variant == "transformers"
    model = (theirs if hf else ours).to(DEVICE)
    del ours, theirs
    if variant == "ours+ac":
        apply_activation_checkpointing(model)
    gen = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, STEP_MODEL.vocab_size, (STEP_BATCH, STEP_MODEL.max_seq_len + 1),
                           generator=gen).to(DEVICE)
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def loss_of():
        if hf:  # transformers' own loss path: full logits, upcast, cross-entropy
            return model(input_ids=inputs, labels=inputs, shift_labels=targets.contiguous()).loss
        return model(inputs, targets=targets)

    loss = loss_of()
    loss.backward()
    grads = {name: p.grad.detach().cpu() for name, p in model.named_parameters()}
    if hf:
        grads = from_hf_state_dict(grads, STEP_MODEL)
    torch.save({"loss": loss.detach().cpu(), **grads}, out)
    del grads, loss
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    with peak_memory(DEVICE) as mem:
        loss_of().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return {"peak_bytes": mem.peak, "total_bytes": mem.total}


def in_subprocess(part: str, variant: str, tmp: Path) -> dict:
    """Run one variant in a fresh interpreter; its row, plus the path of its saved results."""
    out = tmp / f"{part}-{variant}.pt"
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")
    proc = subprocess.run([sys.executable, __file__, "--child", part, variant, str(out)],
                          env=env, capture_output=True, text=True)
    if proc.returncode:
        return {"variant": variant, "error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return {"variant": variant, **json.loads(proc.stdout.strip().splitlines()[-1]), "out": out}


def max_difference(a: dict, b: dict) -> tuple[float, float]:
    """(|loss a - loss b|, largest gradient difference relative to the largest gradient)."""
    loss = abs(float(a["loss"]) - float(b["loss"]))
    worst = max((a[k].double() - b[k].double()).abs().max().item()
                / max(b[k].abs().max().item(), 1e-30) for k in b if k != "loss")
    return loss, worst


def memory_part(part: str, variants: list[str], baseline: str, tmp: Path) -> list[dict]:
    rows = [in_subprocess(part, v, tmp) for v in variants]
    base = next(r for r in rows if r["variant"] == baseline)
    reference = torch.load(base["out"]) if "out" in base else None
    for row in rows:
        if "out" not in row or reference is None:
            continue
        row["ratio"] = row["peak_bytes"] / base["peak_bytes"]
        row["loss_diff"], row["grad_rel_diff"] = max_difference(torch.load(row.pop("out")),
                                                               reference)
    base.pop("out", None)
    return rows


# ----------------------------------------------------------------------------------------------
# Speed against the device's ceilings (GPU)
# ----------------------------------------------------------------------------------------------


def ceilings() -> dict[str, float]:
    """Measured copy bandwidth (bytes/s) and bf16 matmul rate (FLOP/s) of this device."""
    x = torch.empty(1 << 29, dtype=torch.bfloat16, device=DEVICE)  # 1 GiB
    y = torch.empty_like(x)
    bandwidth = 2 * x.numel() * x.element_size() / seconds(lambda: y.copy_(x))
    a = torch.randn(8192, 8192, dtype=torch.bfloat16, device=DEVICE)
    flops = 2 * 8192 ** 3 / seconds(lambda: a @ a)
    return {"bandwidth": bandwidth, "flops": flops}


def speed_cases():
    """(name, inputs, {implementation: fn(*inputs)}, bytes forward, bytes forward+backward,
    FLOPs forward+backward or None) at the 1b preset's shapes."""
    bf16, tokens, dim, heads, kv, hd, ffn, vocab = torch.bfloat16, 8192, 2048, 32, 4, 64, 5632, 32000
    B, T = 4, 2048
    lib = liger()

    def make(*shape, dtype=bf16):
        return torch.randn(*shape, device=DEVICE, dtype=dtype).requires_grad_()

    x, w = make(tokens, dim), make(dim)
    rms = {"ours": lambda: kernels.rms_norm(x, w, 1e-5, backend="triton"),
           "eager": lambda: kernels.rms_norm_reference(x, w, 1e-5)}
    rms_c = torch.compile(kernels.rms_norm_reference)
    rms["compile"] = lambda: rms_c(x, w, 1e-5)
    if lib:
        rms["liger"] = lambda: lib.liger_rms_norm(x, w, 1e-5)
    s = x.numel() * 2
    yield "rms_norm", rms, 2 * s, 2 * s + 3 * s, None

    q, k = make(B, T, heads, hd), make(B, T, kv, hd)
    angles = torch.rand(T, hd // 2, device=DEVICE)
    cos, sin = angles.cos(), angles.sin()
    rot_c = torch.compile(kernels.rotate_reference)
    rope = {"ours": lambda: kernels.apply_rotary(q, k, cos, sin, backend="triton"),
            "eager": lambda: (kernels.rotate_reference(q, cos, sin),
                              kernels.rotate_reference(k, cos, sin)),
            "compile": lambda: (rot_c(q, cos, sin), rot_c(k, cos, sin))}
    if lib:  # liger rotates halves of (B, H, T, D) with (1, T, D) tables: the same bytes
        ql, kl = make(B, heads, T, hd), make(B, kv, T, hd)
        cl, sl = torch.cat([cos, cos], -1)[None], torch.cat([sin, sin], -1)[None]
        rope["liger"] = lambda: lib.liger_rope(ql, kl, cl, sl)
    s = (q.numel() + k.numel()) * 2
    yield "rope", rope, 2 * s, 4 * s, None

    g, u = make(tokens, ffn), make(tokens, ffn)
    sw_c = torch.compile(kernels.swiglu_reference)
    sw = {"ours": lambda: kernels.swiglu(g, u, backend="triton"),
          "eager": lambda: kernels.swiglu_reference(g, u),
          "compile": lambda: sw_c(g, u)}
    if lib:
        sw["liger"] = lambda: lib.liger_swiglu(g, u)
    s = g.numel() * 2
    yield "swiglu", sw, 3 * s, 3 * s + 5 * s, None

    h, wo = make(tokens, dim), make(vocab, dim)
    t = torch.randint(0, vocab, (tokens,), device=DEVICE)
    ce_c = torch.compile(kernels.linear_cross_entropy_reference)
    ce = {"ours": lambda: kernels.fused_linear_cross_entropy(h, wo, t, backend="triton"),
          "eager": lambda: kernels.linear_cross_entropy_reference(h, wo, t),
          "compile": lambda: ce_c(h, wo, t)}
    if lib:
        ce["liger"] = lambda: lib.liger_fused_linear_cross_entropy(h, wo, t)
    yield "linear_cross_entropy", ce, None, None, 6 * tokens * dim * vocab


def speed_part() -> list[dict]:
    ceiling = ceilings()
    rows = []
    for name, impls, fwd_bytes, both_bytes, flops in speed_cases():
        for impl, fn in impls.items():
            def both(fn=fn):
                out = fn()
                outs = out if isinstance(out, tuple) else (out,)
                torch.autograd.backward(outs, [torch.ones_like(o) for o in outs])
            try:
                t_fwd, t_both = seconds(fn), seconds(both)
            except Exception as exc:  # noqa: BLE001 - a peer that cannot run gets a row saying so
                rows.append({"op": name, "impl": impl, "error": repr(exc)[:120]})
                continue
            row = {"op": name, "impl": impl, "fwd_ms": t_fwd * 1e3, "fwd_bwd_ms": t_both * 1e3}
            if flops:
                row["tflops"] = flops / t_both / 1e12
                row["of_matmul_peak"] = flops / t_both / ceiling["flops"]
            else:
                row["fwd_gbs"] = fwd_bytes / t_fwd / 1e9
                row["fwd_of_copy_bw"] = fwd_bytes / t_fwd / ceiling["bandwidth"]
                row["fwd_bwd_of_copy_bw"] = both_bytes / t_both / ceiling["bandwidth"]
            rows.append(row)
    rows.append({"op": "ceiling", "copy_gbs": ceiling["bandwidth"] / 1e9,
                 "matmul_tflops": ceiling["flops"] / 1e12})
    return rows


def mfu_part(steps: int = 10) -> list[dict]:
    """Tokens/s and MFU of the 1b preset on one device: bf16, compile, these kernels."""
    from auroragpt.config import flops_per_token, get_preset
    from auroragpt.model import build_model
    from auroragpt.train.engine import LocalEngine
    from auroragpt.train.metrics import peak_tflops, throughput

    cfg = get_preset("1b")
    cfg.train.dtype, cfg.train.compile = "bf16", True
    torch.manual_seed(0)
    engine = LocalEngine(build_model(cfg.model, DEVICE), cfg.train, DEVICE)
    mb, seq = cfg.train.micro_batch_size, cfg.model.max_seq_len
    batch = torch.randint(0, cfg.model.vocab_size, (mb, seq + 1), device=DEVICE)
    per_step = seconds(lambda: engine.train_step([batch], lr=1e-4), repeats=steps, warmup=3)
    peak = peak_tflops(DEVICE, torch.bfloat16)
    return [{"preset": "1b", "micro_batch": mb, "seq": seq, "step_s": per_step,
             **throughput(mb * seq, per_step, flops_per_token(cfg.model, seq), 1, peak)}]


# ----------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n## {title}")
    for row in rows:
        print("  " + "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in row.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["speed", "loss", "step", "mfu"],
                        choices=["speed", "loss", "step", "mfu"])
    parser.add_argument("--threads", type=int, default=2, help="torch threads on a CPU")
    parser.add_argument("--child", nargs=3, metavar=("PART", "VARIANT", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        part, variant, out = args.child
        row = (run_loss if part == "loss" else run_step)(variant, Path(out))
        print(json.dumps(row))
        return

    machine = {"device": (getattr(torch, ACCELERATOR).get_device_name(DEVICE) if ACCELERATOR
                          else platform.processor() or platform.machine()),
               "threads": args.threads, "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        for part in args.parts:
            if part in ("speed", "mfu") and not ACCELERATOR:
                print(f"\n## {part}: skipped, needs a CUDA or XPU device")
                continue
            if part == "loss":
                rows = memory_part("loss", loss_variants(), "eager", Path(tmp))
            elif part == "step":
                rows = memory_part("step", step_variants(), "transformers", Path(tmp))
            else:
                rows = speed_part() if part == "speed" else mfu_part()
            print_table(part, rows)
            with open(HERE / "kernels.jsonl", "a") as f:  # each part as soon as it is done
                for row in rows:
                    f.write(json.dumps({"part": part, **machine, **row}, default=str) + "\n")


if __name__ == "__main__":
    main()
