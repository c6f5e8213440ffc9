"""The planner's arithmetic against measurement and hand counts.

- Training-state bytes against `PeakStateBytes` measured on CPU ranks by the strategy tests'
  runs (the same runs, shared through the `runs` fixture, so they cost nothing extra there).
- Activation bytes against what autograd really saves: saved-tensor hooks sum the distinct
  storages a forward pass keeps for backward, in fp32, under bf16 autocast and with bf16
  weights.
- Parameter counts, FLOPs and the "what fits" answers against independent hand counts.
"""

from dataclasses import replace

import pytest
import torch
from multiprocess_helpers import auroragpt_command, run
from test_strategies import OVERRIDES, SAVE, reference

from auroragpt.config import ConfigError, ModelConfig, count_parameters, get_preset
from auroragpt.model import build_model
from auroragpt.parallel import planner
from auroragpt.parallel.machines import MACHINES
from auroragpt.train.engine import next_token_loss

# ----------------------------------------------------------------------------------------------
# Training state against measured bytes
# ----------------------------------------------------------------------------------------------

# (launcher, ranks, strategy) of runs the strategy tests make anyway; DeepSpeed keeps a few
# bucket-sized buffers the per-parameter model rounds away, hence its looser tolerance.
MEASURED = [
    ("torchrun", 2, "ddp", 1e-3),
    ("python", 1, "fsdp", 1e-3),
    ("torchrun", 2, "fsdp", 1e-3),
    ("mpiexec", 2, "zero1", 0.05),
    ("python", 1, "zero3", 0.05),
    ("torchrun", 2, "zero3", 0.05),
]


def planned_state(strategy: str, dp: int, precision: str = "fp32") -> float:
    model = get_preset("debug").model
    memory = planner.state_bytes(model, strategy, precision, dp, planner.device_params(model))
    return sum(memory.values())


def test_plain_model_state_equals_measurement(runs):
    measured = reference(runs)["state_bytes"][0]
    assert planned_state("single", 1) == pytest.approx(measured, rel=1e-4)


@pytest.mark.parametrize("launcher, ranks, strategy, tolerance", MEASURED)
def test_state_bytes_per_rank_agree_with_measurement(runs, launcher, ranks, strategy, tolerance):
    measured = runs.get(launcher, ranks, strategy, *SAVE, *OVERRIDES)["state_bytes"]
    for nbytes in measured:
        assert planned_state(strategy, ranks) == pytest.approx(nbytes, rel=tolerance)


@pytest.mark.parametrize("strategy", ["ddp", pytest.param("fsdp", marks=pytest.mark.slow)])
def test_pipeline_stage_state_agrees_with_measurement(runs, strategy):
    """PP2 x DP2 on 4 ranks (the pipeline tests' runs): each stage's share of the model, its
    optimizer, and the two receive buffers of its PipelineStage."""
    measured = runs.get("torchrun", 4, strategy, *OVERRIDES, "parallel.pp=2")["state_bytes"]
    model = get_preset("debug").model
    tokens = 4 * model.max_seq_len  # one micro-batch
    for rank, nbytes in enumerate(measured):  # ranks 0-1: stage 0, ranks 2-3: stage 1
        params = planner.device_params(model, pp=2, first=rank < 2, last=rank >= 2)
        planned = (sum(planner.state_bytes(model, strategy, "fp32", 2, params).values())
                   + planner.pipeline_buffer_bytes(model, tokens, "fp32"))
        assert planned == pytest.approx(nbytes, rel=1e-3), rank


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["fsdp", "zero1", "zero3"])
def test_bf16_state_bytes_agree_with_measurement(runs, strategy):
    measured = runs.get("torchrun", 2, strategy, *OVERRIDES, "train.dtype=bf16")["state_bytes"]
    tolerance = 1e-3 if strategy == "fsdp" else 0.05
    for nbytes in measured:
        assert planned_state(strategy, 2, "bf16") == pytest.approx(nbytes, rel=tolerance)


# ----------------------------------------------------------------------------------------------
# Activations against saved-tensor hooks
# ----------------------------------------------------------------------------------------------

TINY = ModelConfig(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=128, multiple_of=16,
                   max_seq_len=32)


def saved_bytes(regime: str, with_head: bool) -> int:
    """Distinct storages autograd keeps from one forward (parameters, buffers, token ids and
    scalars excluded)."""
    torch.manual_seed(0)
    model = build_model(TINY)
    if regime == "bf16":
        model.to(torch.bfloat16)
    if not with_head:
        model.norm = model.output = None
    tokens = torch.randint(0, TINY.vocab_size, (2, TINY.max_seq_len + 1))
    hidden = model.tok_embeddings(tokens[:, :-1]).detach().requires_grad_()
    model.tok_embeddings = None
    owned = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in owned and t.dtype != torch.int64 and t.dim() > 0:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), \
            torch.autocast("cpu", torch.bfloat16, enabled=regime == "autocast"):
        out = model(hidden)
        if with_head:
            next_token_loss(out, tokens)
    return sum(saved.values())


@pytest.mark.parametrize("regime", ["fp32", "autocast", "bf16"])
def test_block_activations_equal_what_autograd_saves(regime):
    tokens = 2 * TINY.max_seq_len
    planned = TINY.n_layers * planner.layer_activation_bytes(TINY, tokens, regime)
    assert planned == saved_bytes(regime, with_head=False)


@pytest.mark.parametrize("regime", ["fp32", "autocast", "bf16"])
def test_head_activations_equal_what_autograd_saves(regime):
    tokens = 2 * TINY.max_seq_len
    head = saved_bytes(regime, with_head=True) - saved_bytes(regime, with_head=False)
    assert planner.head_activation_bytes(TINY, tokens, regime) == head


def test_activations_follow_korthikanti_shape():
    """Hand count for the 7B shape, bf16 weights: 20 bytes per token and hidden unit, 4 per
    KV unit, 8 per SwiGLU unit, no s^2 term; tensor parallelism divides all of it."""
    m = get_preset("7b").model
    s, b = 4096, 1
    hand = s * b * (20 * 4096 + 4 * 1024 + 8 * 11008 + 8 + 4 * 32)
    assert planner.layer_activation_bytes(m, s * b, "bf16") == hand
    assert planner.layer_activation_bytes(m, 2 * s * b, "bf16") == 2 * hand  # linear in s
    assert planner.layer_activation_bytes(m, s * b, "bf16", shards=4) == hand / 4


# ----------------------------------------------------------------------------------------------
# Parameters, FLOPs, and what fits
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tie", [False, True])
def test_device_params_of_one_device_count_the_whole_model(tie):
    cfg = get_preset("tiny").model
    cfg.tie_embeddings = tie
    assert planner.device_params(cfg).total == count_parameters(cfg)
    measured = sum(p.numel() for p in build_model(cfg, "meta").parameters())
    assert planner.device_params(cfg).total == measured


def test_pipeline_stages_split_the_parameters():
    cfg = get_preset("tiny").model
    first = planner.device_params(cfg, pp=2, first=True, last=False)
    last = planner.device_params(cfg, pp=2, first=False, last=True)
    assert first.total + last.total == count_parameters(cfg)
    # embedding on the first, final norm and output on the last: d * V more than a layer half
    assert last.total - first.total == cfg.dim


def test_one_device_without_communication_runs_at_the_assumed_efficiency():
    cfg = get_preset("125m")
    work = planner.workload_from_config(cfg)
    plan = planner.make_plan(work, planner.Layout(1, "single"), MACHINES["h100"],
                             efficiency=0.5)
    m = cfg.model
    n_matmul = count_parameters(m) - m.vocab_size * m.dim - (2 * m.n_layers + 1) * m.dim
    tokens = cfg.train.global_batch_size * m.max_seq_len
    hand = (6 * n_matmul + 12 * m.n_layers * m.dim * m.max_seq_len) * tokens
    assert plan.flops_per_step == pytest.approx(hand)
    assert plan.mfu == pytest.approx(0.5)
    assert plan.step_s == pytest.approx(hand / (989.4e12 * 0.5))


def test_70b_needs_two_aurora_nodes():
    """16 bytes of state per parameter: 70B parameters need more than one node's 12 x 64 GiB,
    and two nodes hold them with activation checkpointing."""
    work = planner.workload_from_config(get_preset("70b"))
    params = count_parameters(work.model)
    assert 16 * params > 12 * 64 * 2**30 * (1 - planner.DEFAULT_HEADROOM)
    plan = planner.min_nodes(work, MACHINES["aurora"])
    assert plan.layout.world == 24 and plan.fits
    assert plan.workload.activation_checkpointing


def test_longest_sequence_is_the_edge_of_fitting():
    cfg = get_preset("7b")
    work, machine = planner.workload_from_config(cfg), MACHINES["aurora"]
    layout = planner.layout_from_config(cfg, 24)
    longest = planner.longest_sequence(work, layout, machine)
    fits = lambda n: planner.make_plan(  # noqa: E731
        replace(work, seq_len=n), layout, machine).fits
    assert longest > 0 and fits(longest) and not fits(longest + 256)


def test_bad_degrees_are_refused_with_the_field():
    work = planner.workload_from_config(get_preset("7b"))
    with pytest.raises(ConfigError, match="model.n_layers=32 must be divisible"):
        planner.make_plan(work, planner.Layout(12, "fsdp", pp=3), MACHINES["aurora"])
    with pytest.raises(ConfigError, match="must divide the number of devices 12"):
        planner.make_plan(work, planner.Layout(12, "fsdp", tp=8), MACHINES["aurora"])


def test_cli_prints_memory_flops_and_the_longest_sequence():
    out = run([*auroragpt_command("python", 1), "plan", "--preset", "7b", "--machine",
               "aurora", "--longest-seq"]).stdout
    for line in ("parameters", "gradients", "optimizer", "activations", "FLOPs per step",
                 "MFU", "longest sequence that fits, checkpointing on"):
        assert line in out
    assert "fits" in out


def test_cli_refuses_an_unknown_machine_with_the_choices(capsys):
    from auroragpt.cli import main

    assert main(["plan", "--preset", "7b", "--machine", "tpu"]) == 2
    assert "unknown machine 'tpu': expected one of aurora, a100-40" in capsys.readouterr().err
