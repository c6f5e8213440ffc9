"""Pipeline parallelism against one plain process, and its refusals.

Multi-rank runs train the debug model for 10 steps under torchrun (gloo) with the strategy
tests' batch (16 sequences, micro-batches of 4, clipping at 0.5, so some steps clip) and must
reproduce the one-process reference: its losses, gradient norms and final weights. The split
itself is checked by chaining every rank's stages in one process (and, split over two
tensor-parallel ranks, in each of them): the plain model's logits and gradients. Built on the
meta device, a rank allocates only its own stages, with one process's initial weights
(`pp_init_worker.py`), and checkpoints resume at another pipeline degree.
"""

from pathlib import Path

import pytest
import torch
from multiprocess_helpers import auroragpt_command, child_env
from safetensors.torch import load_file
from test_model_parallel import TP_WEIGHT_ATOL, split_run
from test_strategies import (
    LOSS_RTOL,
    OVERRIDES,
    SAVE,
    WEIGHT_ATOL,
    assert_same_training,
    assert_same_weights,
    launcher_for,
    reference,
)

from auroragpt.config import ConfigError, ParallelConfig, apply_overrides, get_preset
from auroragpt.model import Transformer, build_model
from auroragpt.parallel import ParallelDims, pp
from auroragpt.parallel.parallelize import check_layout
from auroragpt.train.engine import next_token_loss

FOUR_LAYERS = "model.n_layers=4"  # interleaved: 2 ranks x 2 virtual stages x 1 layer
TP2_X_PP2 = ("parallel.tp=2", "parallel.pp=2")
STAGES_WORKER = Path(__file__).with_name("stages_worker.py")
PP_INIT_WORKER = Path(__file__).with_name("pp_init_worker.py")


def pipeline_run(runs, nproc: int, *extra: str, strategy: str = "ddp") -> dict:
    return runs.get("torchrun", nproc, strategy, *OVERRIDES, *extra)


def assert_same_run(got: dict, ref: dict, weight_atol: float = WEIGHT_ATOL) -> None:
    """Losses, gradient norms and final weights (all of the reference's names) as `ref`'s."""
    torch.testing.assert_close(torch.tensor(got["losses"]), torch.tensor(ref["losses"]),
                               rtol=LOSS_RTOL, atol=0)
    torch.testing.assert_close(torch.tensor(got["grad_norms"]),
                               torch.tensor(ref["grad_norms"]), rtol=1e-4, atol=0)
    weights = load_file(str(got["dir"] / "final.safetensors"))
    expected = load_file(str(ref["dir"] / "final.safetensors"))
    assert sorted(weights) == sorted(expected)
    for name, tensor in expected.items():
        torch.testing.assert_close(weights[name], tensor, atol=weight_atol, rtol=0, msg=name)


@pytest.mark.parametrize("schedule", ["1f1b", "gpipe"])
def test_two_stages_match_one_process(runs, schedule):
    got = pipeline_run(runs, 2, "parallel.pp=2", f"parallel.pp_schedule={schedule}")
    assert_same_run(got, reference(runs))


@pytest.mark.slow
def test_compiled_stages_match_one_process(runs):
    """train.compile=true compiles each block of a stage, as it does without pipelining."""
    assert_same_run(pipeline_run(runs, 2, "parallel.pp=2", "train.compile=true"),
                    reference(runs))


@pytest.mark.parametrize("strategy", ["ddp", pytest.param("fsdp", marks=pytest.mark.slow)])
def test_pp2_x_dp2_on_four_ranks_matches_one_process(runs, strategy):
    got = pipeline_run(runs, 4, "parallel.pp=2", strategy=strategy)
    assert_same_run(got, reference(runs))


def test_schedules_agree_with_each_other_and_interleaved_with_one_process(runs):
    """Interleaved 1F1B (2 ranks x 2 virtual stages) on a 4-layer model against its own
    one-process reference, and against GPipe and 1F1B on the same model."""
    ref = runs.get("python", 1, "single", *SAVE, *OVERRIDES, FOUR_LAYERS)
    runs_by_schedule = {s: pipeline_run(runs, 2, "parallel.pp=2", FOUR_LAYERS,
                                        f"parallel.pp_schedule={s}")
                        for s in ("interleaved", "gpipe")}
    for got in runs_by_schedule.values():
        assert_same_run(got, ref)
    torch.testing.assert_close(torch.tensor(runs_by_schedule["interleaved"]["losses"]),
                               torch.tensor(runs_by_schedule["gpipe"]["losses"]),
                               rtol=1e-6, atol=0)
    assert ref["losses"][-1] < ref["losses"][0] - 0.1  # the comparison covers real learning


@pytest.mark.slow
def test_tiny_preset_as_pp2_x_dp2_matches_one_process(runs):
    """The tiny preset (4 layers, width 256) on 4 ranks: 2 stages x 2 replicas, 3 steps of 16."""
    tiny = ("--preset", "tiny", "--steps", "3", "train.global_batch_size=16",
            "train.micro_batch_size=4")
    ref = runs.get("python", 1, "single", *tiny)
    assert_same_run(runs.get("torchrun", 4, "ddp", *tiny, "parallel.pp=2"), ref)


def test_tp2_x_pp2_on_four_ranks_matches_one_process(runs):
    """Two stages, each split over two tensor-parallel ranks (1F1B): one process's run."""
    got = runs.get("torchrun", 4, "ddp", *SAVE, *OVERRIDES, *TP2_X_PP2)
    assert_same_run(got, reference(runs), weight_atol=TP_WEIGHT_ATOL)


@pytest.mark.slow
@pytest.mark.parametrize("extra", [("train.activation_checkpointing=selective",),
                                   (FOUR_LAYERS, "parallel.pp_schedule=interleaved"),
                                   ("train.compile=true",)],
                         ids=["selective-checkpointing", "interleaved", "compiled"])
def test_tp2_x_pp2_variants_match_one_process(runs, extra):
    ref = runs.get("python", 1, "single", *SAVE, *OVERRIDES,
                   *(x for x in extra if x.startswith("model.")))
    got = runs.get("torchrun", 4, "ddp", *OVERRIDES, *TP2_X_PP2, *extra)
    assert_same_run(got, ref, weight_atol=TP_WEIGHT_ATOL)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_tp2_x_pp2_x_dp2_on_eight_ranks_matches_one_process(runs, strategy):
    got = runs.get("torchrun", 8, strategy, *OVERRIDES, *TP2_X_PP2)
    assert_same_run(got, reference(runs), weight_atol=TP_WEIGHT_ATOL)


@pytest.mark.slow
@pytest.mark.parametrize("nproc, layout", [(4, TP2_X_PP2), (2, ("parallel.pp=2",))],
                         ids=["same-layout", "pp2-alone"])
def test_resume_a_tp2_x_pp2_run(runs, nproc, layout):
    """Steps 6-10 after resuming the TP2 x PP2 checkpoint (at its layout, or with the tensor
    split undone) equal the uninterrupted reference's."""
    saved = runs.get("torchrun", 4, "ddp", *SAVE, *OVERRIDES, *TP2_X_PP2)
    resumed = runs.get("torchrun", nproc, "ddp", "--resume", str(saved["dir"] / "checkpoint"),
                       "--resume-step", "5", *OVERRIDES, *layout)
    ref = reference(runs)
    torch.testing.assert_close(torch.tensor(resumed["losses"]),
                               torch.tensor(ref["losses"][5:]), rtol=LOSS_RTOL, atol=0)
    assert_same_weights(resumed["dir"] / "final.safetensors", ref["dir"] / "final.safetensors",
                        TP_WEIGHT_ATOL)


@pytest.mark.slow
def test_resume_a_pipeline_run_from_its_checkpoint(runs):
    """Steps 6-10 after resuming a PP=2 checkpoint equal the uninterrupted reference's."""
    saved = runs.get("torchrun", 2, "ddp", *SAVE, *OVERRIDES, "parallel.pp=2")
    resumed = runs.get("torchrun", 2, "ddp", "--resume", str(saved["dir"] / "checkpoint"),
                       "--resume-step", "5", *OVERRIDES, "parallel.pp=2")
    ref = reference(runs)
    torch.testing.assert_close(torch.tensor(resumed["losses"]),
                               torch.tensor(ref["losses"][5:]), rtol=1e-6, atol=0)
    assert_same_weights(resumed["dir"] / "final.safetensors", ref["dir"] / "final.safetensors")


@pytest.mark.parametrize("saved, resumed", [
    ((2, "ddp", ("parallel.pp=2",)), (1, "fsdp", ())),
    ((2, "fsdp", ()), (2, "ddp", ("parallel.pp=2",))),
], ids=["pp2-to-one-process", "dp2-to-pp2"])
def test_resume_at_another_pipeline_degree(runs, saved, resumed):
    """A PP=2 checkpoint resumed in one process, and a two-rank FSDP (pp=1) checkpoint resumed
    as two pipeline stages: steps 6-10 equal the uninterrupted reference's. Both go through
    the sharded checkpoint (torch distributed checkpoint, plain-model names), which a plain
    ddp run does not write."""
    (saved_on, saved_strategy, saved_layout), (resumed_on, strategy, layout) = saved, resumed
    first = runs.get(launcher_for(saved_on), saved_on, saved_strategy, *SAVE, *OVERRIDES,
                     *saved_layout)
    second = runs.get(launcher_for(resumed_on), resumed_on, strategy, "--resume",
                      str(first["dir"] / "checkpoint"), "--resume-step", "5", *OVERRIDES,
                      *layout)
    assert_same_training(second, reference(runs), first_step=5)


# ----------------------------------------------------------------------------------------------
# The split, in process
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pp_degree, virtual", [(2, 1), (2, 2), (4, 1)])
def test_chained_stages_give_the_plain_model_logits_and_gradients(pp_degree, virtual):
    cfg = get_preset("debug").model
    cfg.n_layers = 4
    torch.manual_seed(0)
    model = build_model(cfg)
    plain = build_model(cfg)
    plain.load_state_dict(model.state_dict())
    tokens = torch.randint(0, cfg.vocab_size, (3, 17))

    ranks = [pp.split_model(model, r, pp_degree, virtual) for r in range(pp_degree)]
    stages = sorted((i, s) for rank in ranks for i, s in zip(rank.indices, rank.stages,
                                                             strict=True))
    assert [i for i, _ in stages] == list(range(pp_degree * virtual))
    hidden = tokens[:, :-1]
    for _, stage in stages:
        hidden = stage(hidden)
    next_token_loss(hidden, tokens).backward()
    expected = plain(tokens[:, :-1])
    next_token_loss(expected, tokens).backward()
    torch.testing.assert_close(hidden, expected, rtol=0, atol=0)

    names = [name for rank in ranks for name in rank.local.state_dict()]
    assert sorted(names) == sorted(plain.state_dict())  # each weight on exactly one rank
    plain_grads = dict(plain.named_parameters())
    for rank in ranks:
        for name, param in rank.local.named_parameters():
            torch.testing.assert_close(param.grad, plain_grads[name].grad, rtol=0, atol=0)


def test_stages_materialised_alone_hold_the_plain_models_weights_and_compute_it():
    """Each rank's stages (2 ranks x 2 virtual stages) split on the meta device, then allocated
    and initialised alone after the seed of a whole model built in one process: its weights bit
    for bit, and chained, its logits (the rotary tables were built too)."""
    cfg = get_preset("debug").model
    cfg.n_layers = 4
    torch.manual_seed(0)
    plain = build_model(cfg)
    tokens = torch.randint(0, cfg.vocab_size, (2, 16))
    ranks = []
    for rank in range(2):
        with torch.device("meta"):
            model = Transformer(cfg)
        ranks.append(pp.split_model(model, rank, 2, 2))
        torch.manual_seed(0)
        pp.materialize_stages(ranks[-1], torch.device("cpu"))
    weights = plain.state_dict()
    for rank in ranks:
        for name, tensor in rank.local.state_dict().items():
            assert torch.equal(tensor, weights[name]), name
    hidden = tokens
    for _, stage in sorted((i, s) for rank in ranks
                           for i, s in zip(rank.indices, rank.stages, strict=True)):
        hidden = stage(hidden)
    torch.testing.assert_close(hidden, plain(tokens), rtol=0, atol=0)


def test_tensor_parallel_stages_chained_give_the_plain_model_logits_and_gradients(tmp_path):
    """4 layers as 2 ranks x 2 virtual stages, each split over 2 tensor-parallel ranks: the
    stages pass sequence slices (B, T / 2, dim) on and still compute the plain model."""
    got = split_run(tmp_path, 2, worker=STAGES_WORKER)
    assert got["names_match"]
    assert got["boundary_shape"] == [2, get_preset("debug").model.max_seq_len // 2,
                                     get_preset("debug").model.dim]
    assert got["logits_max_diff"] < 1e-5
    assert got["grad_max_diff"] < 1e-4 * got["grad_max"]
    assert got["loss"] == pytest.approx(got["ref_loss"], rel=1e-6)


# ----------------------------------------------------------------------------------------------
# Initialisation: each rank allocates its own stages only, with one process's weights
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("nproc, overrides", [
    (2, ("parallel.strategy=ddp", "parallel.pp=2")),
    (2, ("parallel.strategy=ddp", "parallel.pp=2", FOUR_LAYERS,
         "parallel.pp_schedule=interleaved")),
    (4, ("parallel.strategy=ddp", *TP2_X_PP2)),
    pytest.param(4, ("parallel.strategy=fsdp", "parallel.pp=2"), marks=pytest.mark.slow),
], ids=["pp2", "pp2-interleaved", "tp2-x-pp2", "pp2-x-fsdp2"])
def test_a_pipeline_rank_allocates_only_its_stages_with_the_plain_models_weights(
        tmp_path, nproc, overrides):
    """Built on the meta device: every parameter a rank does not hold is still on the meta
    device afterwards, and the ones it holds are the plain model's initial weights (drawn in
    one process after the same seed), bit for bit."""
    got = split_run(tmp_path, nproc, *overrides, worker=PP_INIT_WORKER)
    names = set(got["names"])
    held = [set(rank["held"]) for rank in got["ranks"]]
    assert set().union(*held) == names
    for rank, held_names in zip(got["ranks"], held, strict=True):
        assert held_names < names  # a proper part of the model
        assert set(rank["still_meta"]) == names - held_names
        assert rank["init_max_diff"] == 0.0
        if "parallel.strategy=ddp" in overrides:  # FSDP divides (and pads) it further
            assert rank["allocated"] == rank["planned"]


# ----------------------------------------------------------------------------------------------
# Refusals, before any work
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides, message", [
    (["parallel.pp=4"], r"model.n_layers=2 must be divisible by parallel.pp = 4"),
    (["parallel.pp=2", "parallel.pp_schedule=interleaved"],
     r"model.n_layers=2 must be divisible by parallel.pp x parallel.pp_virtual_stages = 4"),
    (["parallel.pp_schedule=interleaved"], r"interleaved needs parallel.pp > 1"),
    (["parallel.pp_schedule=zb"], r"parallel.pp_schedule='zb': expected one of gpipe, 1f1b"),
])
def test_bad_pipeline_configs_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(get_preset("debug"), overrides)


@pytest.mark.parametrize("world, overrides, message", [
    (4, ("parallel.strategy=ddp", "parallel.sp=2", "parallel.pp=2"),
     r"parallel.sp=2 with parallel.pp=2 is not supported"),
    (2, ("parallel.strategy=zero1", "parallel.pp=2"),
     r"parallel.pp=2 composes with ddp or fsdp .* got parallel.strategy='zero1'"),
])
def test_layouts_pipelines_do_not_compose_with_are_refused(world, overrides, message):
    cfg = apply_overrides(get_preset("debug"), list(overrides))
    with pytest.raises(ConfigError, match=message):
        check_layout(cfg, ParallelDims.from_config(cfg.parallel, world))


def test_degrees_not_multiplying_to_the_world_size_are_refused():
    with pytest.raises(ConfigError, match=r"parallel.pp=2 x parallel.sp=1 = 2 must divide the world size 3"):
        ParallelDims.from_config(ParallelConfig(strategy="ddp", pp=2), 3)


def test_tied_embeddings_across_stages_are_refused():
    cfg = get_preset("debug").model
    cfg.tie_embeddings = True
    with pytest.raises(ConfigError, match="tie_embeddings=true shares one weight"):
        pp.split_model(build_model(cfg, "meta"), 0, 2)


@pytest.mark.parametrize("schedule, n_micro, message", [
    ("1f1b", 1, r"needs at least parallel.pp=2 micro-batches per step"),
    ("interleaved", 3, r"needs a multiple of parallel.pp=2"),
])
def test_too_few_micro_batches_are_refused(schedule, n_micro, message):
    parallel = ParallelConfig(strategy="ddp", pp=2, pp_schedule=schedule)
    with pytest.raises(ConfigError, match=message):
        pp.check_micro_batches(parallel, n_micro)


def test_train_on_one_process_with_pp_fails_with_the_degree(tmp_path):
    """`auroragpt train` refuses parallel.pp=2 in one process before preparing any data."""
    import subprocess

    proc = subprocess.run([*auroragpt_command("python", 1), "train", "--preset", "debug",
                           "--run-dir", str(tmp_path / "run"), "parallel.pp=2",
                           "data.cache_dir=" + str(tmp_path / "cache")],
                          env=child_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "parallel.pp=2 x parallel.sp=1 = 2 must divide the world size 1" in proc.stderr
    assert not (tmp_path / "cache").exists()
