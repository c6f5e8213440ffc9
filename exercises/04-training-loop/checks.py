"""Checks of exercise 04: accumulated steps against one big-batch step of the library's model in
float64, and FLOPs/MFU against auroragpt.config.flops_per_token on random configs and files."""

import copy
import json
import random

import numpy as np
import torch
import torch.nn.functional as F

from auroragpt import config as library
from auroragpt.config import ModelConfig
from auroragpt.exercise_checker.checking import CheckFailed, check, expect_close, is_close
from auroragpt.model import build_model

FORBIDDEN = {
    "auroragpt.config.flops_per_token": "it is the reference of the checks; count the FLOPs yourself",
    "auroragpt.config.count_parameters": "it is a reference of the checks; count the weights yourself",
}

TINY = ModelConfig(dim=16, n_layers=2, n_heads=2, n_kv_heads=1, vocab_size=32, multiple_of=8,
                   max_seq_len=8)
BATCH, SEQ = 4, 6  # global batch of 4 sequences of 6 inputs (+1 for the shifted targets)

# ----------------------------------------------------------------------------------------------
# Part A
# ----------------------------------------------------------------------------------------------


def _model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(TINY).double()


def _batch(seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, TINY.vocab_size, (BATCH, SEQ + 1), generator=generator)


def _big_batch_step(model, optimizer, tokens) -> float:
    """The reference: the whole batch in one forward and backward pass."""
    optimizer.zero_grad(set_to_none=True)
    logits = model(tokens[:, :-1])  # (B, T, V)
    loss = F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())
    loss.backward()
    optimizer.step()
    return loss.item()


def _micro_losses(model, tokens, micro_batch_size) -> list[float]:
    with torch.no_grad():
        return [F.cross_entropy(model(m[:, :-1]).flatten(0, 1), m[:, 1:].flatten()).item()
                for m in tokens.split(micro_batch_size)]


def _compare_updates(learner_model, reference_model, start_model, n_micro: int, what: str):
    """Fail with the kind of mismatch: a scale of n_micro, or the parameter that moved most."""
    start = torch.cat([p.detach().flatten() for p in start_model.parameters()])
    got = torch.cat([p.detach().flatten() for p in learner_model.parameters()]) - start
    want = torch.cat([p.detach().flatten() for p in reference_model.parameters()]) - start
    if is_close(got, want, atol=1e-10, rtol=1e-7):
        return
    if not got.abs().max() > 0:
        raise CheckFailed(f"{what}: the parameters did not change (is optimizer.step() called?)")
    ratio = float(got @ want / (want @ want))
    if n_micro > 1 and is_close(got, ratio * want, atol=1e-10, rtol=1e-6):
        if abs(ratio - n_micro) < 1e-3 * n_micro:
            raise CheckFailed(f"{what}: the update is {n_micro}x too large: the gradients of the "
                              f"{n_micro} micro-batches add up, so each must count 1/{n_micro}")
        raise CheckFailed(f"{what}: the update points the right way but is {ratio:.3g} times "
                          "the size of the big-batch update")
    gaps = {name: float((mine - theirs).detach().abs().max())
            for (name, mine), theirs in zip(learner_model.named_parameters(),
                                            reference_model.parameters(), strict=True)}
    worst = max(gaps, key=gaps.get)
    raise CheckFailed(f"{what}: the parameters after the step differ from one big-batch step, "
                      f"most in {worst} (by {gaps[worst]:.3g})")


def _run_and_compare(ctx, micro_batch_size: int, make_optimizer, steps: int = 1,
                     stale_gradients: bool = False):
    train_step = ctx.function("train_step")
    model = _model(ctx.seed)
    mine, reference = copy.deepcopy(model), copy.deepcopy(model)
    my_optimizer, reference_optimizer = make_optimizer(mine), make_optimizer(reference)
    n_micro = BATCH // micro_batch_size
    what = f"micro_batch_size={micro_batch_size}"
    for step in range(steps):
        tokens = _batch(ctx.seed + step)
        before = copy.deepcopy(mine)
        if stale_gradients:
            for p in mine.parameters():
                p.grad = torch.randn_like(p)
        micro = _micro_losses(mine, tokens, micro_batch_size)
        loss = train_step(mine, my_optimizer, tokens, micro_batch_size)
        expected_loss = _big_batch_step(reference, reference_optimizer, tokens)
        _compare_updates(mine, reference, before, n_micro,
                         f"{what}, step {step + 1}" if steps > 1 else what)
        if not isinstance(loss, (float, int)):
            raise CheckFailed(f"{what}: returned {type(loss).__name__}, expected a Python float "
                              "(use .item())")
        if not is_close(loss, expected_loss, atol=1e-10):
            if n_micro > 1 and is_close(loss, sum(micro), atol=1e-10):
                raise CheckFailed(f"{what}: the loss returned is the sum of the micro-batch "
                                  "losses, not the global-batch mean")
            if n_micro > 1 and is_close(loss, micro[-1], atol=1e-10):
                raise CheckFailed(f"{what}: the loss returned is the last micro-batch's only")
            expect_close(loss, expected_loss, f"{what}: the loss returned", atol=1e-10)


def _sgd(model):
    return torch.optim.SGD(model.parameters(), lr=0.5)


def _adamw(model):
    return torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)


@check("one step in micro-batches equals one step on the whole batch (SGD, float64)",
       hint="cross_entropy averages over the tokens of its input; what must each micro-batch "
            "loss be multiplied by so the gradients add up to the mean over the whole batch?")
def accumulation_equals_big_batch(ctx):
    for micro_batch_size in (1, 2, 4):
        _run_and_compare(ctx, micro_batch_size, _sgd)


@check("gradients left over from before the step do not count",
       hint="backward() adds to .grad; something has to empty it first.")
def stale_gradients_cleared(ctx):
    _run_and_compare(ctx, 2, _sgd, stale_gradients=True)


@check("three AdamW steps in micro-batches equal three big-batch steps (float64)",
       hint="one optimizer.step() per global batch, after all micro-batches; clear the "
            "gradients once per step, not once per micro-batch.")
def several_adamw_steps(ctx):
    _run_and_compare(ctx, 2, _adamw, steps=3)


@check("a micro_batch_size that does not divide the batch is refused with ValueError",
       hint="check B % micro_batch_size before doing any work, and raise ValueError with a "
            "message that says what is wrong.")
def refuses_uneven_split(ctx):
    train_step = ctx.function("train_step")
    model = _model(ctx.seed)
    before = [p.detach().clone() for p in model.parameters()]
    try:
        train_step(model, _sgd(model), _batch(ctx.seed), 3)
    except ValueError:
        pass
    else:
        raise CheckFailed("micro_batch_size=3 with a batch of 4 sequences raised no ValueError")
    if any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True)):
        raise CheckFailed("the parameters changed before the ValueError: check first, then work")


# ----------------------------------------------------------------------------------------------
# Part B
# ----------------------------------------------------------------------------------------------


def _random_configs(seed: int, n: int = 12) -> list[ModelConfig]:
    """Shapes like real models': GQA or not, tied or not, with or without a FFN multiplier."""
    rng = random.Random(seed)
    configs = []
    while len(configs) < n:
        n_heads = rng.choice([2, 4, 8, 12, 32])
        head_dim = rng.choice([8, 16, 64, 128])
        cfg = ModelConfig(
            dim=n_heads * head_dim, n_layers=rng.randint(1, 40), n_heads=n_heads,
            n_kv_heads=rng.choice([None, n_heads, max(n_heads // 4, 1), 1]),
            vocab_size=rng.choice([512, 32000, 50257, 128256]),
            multiple_of=rng.choice([16, 256, 1024]),
            ffn_dim_multiplier=rng.choice([None, None, 1.3]),
            max_seq_len=rng.choice([64, 2048, 4096]), tie_embeddings=rng.random() < 0.3)
        cfg.validate()
        configs.append(cfg)
    return configs


def _flops_mistake(got: float, cfg: ModelConfig) -> str | None:
    expected = library.flops_per_token(cfg, cfg.max_seq_len)
    d, L = cfg.dim, cfg.n_layers
    gqa_gap = 6 * L * 2 * d * (cfg.n_heads - cfg.kv_heads) * cfg.head_dim
    mistakes = {
        "the embedding table is counted; a lookup is not a matrix multiplication":
            expected + 6 * cfg.vocab_size * d,
        "the output projection is left out (it is a matmul even when tied to the embedding)":
            expected - 6 * cfg.vocab_size * d,
        "wk and wv are counted with n_heads heads; they have kv_heads (grouped-query attention)":
            expected + gqa_gap,
        "the attention term 12 * n_layers * dim * seq_len is missing":
            expected - 12 * L * d * cfg.max_seq_len,
        "the norms are counted; they are not matrix multiplications":
            expected + 6 * (2 * L + 1) * d,
    }
    for message, wrong in mistakes.items():
        if wrong != expected and abs(got - wrong) <= 1e-9 * abs(wrong):
            return message
    return None


@check("flops_per_token matches auroragpt.config.flops_per_token on random model shapes",
       hint="per layer: wq and wo are dim x (n_heads * head_dim), wk and wv are dim x "
            "(kv_heads * head_dim), w1, w2, w3 are dim x ffn_hidden_dim; then the output layer.")
def flops_match_library(ctx):
    flops_per_token = ctx.function("flops_per_token")
    for cfg in _random_configs(ctx.seed):
        got = flops_per_token(cfg)
        expected = library.flops_per_token(cfg, cfg.max_seq_len)
        if isinstance(got, (int, float)) and (mistake := _flops_mistake(got, cfg)):
            raise CheckFailed(f"for {_describe(cfg)}: {mistake}")
        expect_close(got, expected, f"FLOPs per token for {_describe(cfg)}", atol=0, rtol=1e-12)


def _describe(cfg: ModelConfig) -> str:
    return (f"dim={cfg.dim} n_layers={cfg.n_layers} n_heads={cfg.n_heads} "
            f"n_kv_heads={cfg.n_kv_heads} vocab_size={cfg.vocab_size} "
            f"max_seq_len={cfg.max_seq_len} tie_embeddings={cfg.tie_embeddings}")


def _write_metrics(path, rng: np.random.Generator, log_every: int, steps: int) -> list[dict]:
    """A metrics.jsonl like a training run writes: throughput lines, eval lines, a blank line."""
    records = []
    for step in range(log_every, steps + 1, log_every):
        records.append({"step": step, "loss": float(8 - step / steps),
                        "lr": 3e-4, "grad_norm": float(rng.uniform(0.2, 2.0)),
                        "tokens_per_s": float(rng.uniform(2e4, 9e4)),
                        "step_time_s": float(rng.uniform(0.5, 2.0))})
        if step % (4 * log_every) == 0:
            records.append({"step": step, "val_loss": float(7 - step / steps)})
    with open(path, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
        f.write("\n")
    return records


@check("mfu of a random metrics.jsonl matches the formula with the library's FLOPs per token",
       hint="average tokens_per_s only over lines that have it and whose step is past the "
            "warm-up; peak_tflops is in units of 10**12 FLOP/s per device; return a fraction.")
def mfu_matches_formula(ctx):
    mfu = ctx.function("mfu")
    flops_per_token = ctx.function("flops_per_token")
    rng = np.random.default_rng(ctx.seed)
    for i, cfg in enumerate(_random_configs(ctx.seed + 1, n=3)):
        path = ctx.workdir / f"metrics{i}.jsonl"
        records = _write_metrics(path, rng, log_every=5, steps=100)
        n_devices, peak, warmup = [(1, 312.0, 10), (12, 229.0, 5), (4, 989.0, 20)][i]
        rates = [r["tokens_per_s"] for r in records if "tokens_per_s" in r and r["step"] > warmup]
        flops = library.flops_per_token(cfg, cfg.max_seq_len)
        expected = np.mean(rates) * flops / (n_devices * peak * 1e12)
        got = mfu(str(path), cfg, peak, n_devices, warmup)
        what = f"MFU on {n_devices} device(s) at {peak:g} TFLOP/s, warm-up {warmup} steps"
        if not is_close(flops_per_token(cfg), flops, atol=0, rtol=1e-12):
            raise CheckFailed(f"{what}: make flops_per_token pass first")
        if isinstance(got, (int, float)) and is_close(got, 100 * expected, atol=0, rtol=1e-9):
            raise CheckFailed(f"{what}: you returned a percentage; return a fraction")
        expect_close(got, expected, what, atol=0, rtol=1e-9)
