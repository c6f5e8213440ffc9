"""ParallelDims: degrees against the world size, strategy resolution, and the device mesh."""

import pytest
import torch.distributed as dist

from auroragpt.config import ConfigError, ParallelConfig, apply_overrides, get_preset
from auroragpt.parallel import ParallelDims, resolve_strategy


@pytest.mark.parametrize("strategy, world, expected", [
    ("auto", 1, "single"), ("auto", 8, "ddp"), ("single", 1, "single"), ("zero3", 1, "zero3"),
    ("fsdp", 4, "fsdp"),
])
def test_resolve_strategy(strategy, world, expected):
    assert resolve_strategy(strategy, world) == expected


def test_single_on_several_ranks_is_refused_with_the_alternatives():
    with pytest.raises(ConfigError, match="world size is 2.*ddp, fsdp, zero1"):
        resolve_strategy("single", 2)


@pytest.mark.parametrize("value", ["none", "null", "None", "~"])
def test_strategy_none_or_null_names_the_one_process_strategy(value):
    """`none` reads as YAML null, so it is no strategy name: the error says which one is meant."""
    with pytest.raises(ConfigError, match="parallel.strategy=none: the one-process strategy "
                                          "is called 'single'"):
        apply_overrides(get_preset("debug"), [f"parallel.strategy={value}"])


def test_strategy_none_in_a_yaml_file_is_refused_the_same_way(tmp_path):
    from auroragpt.config import load_config

    for text in ("parallel:\n  strategy: none\n", "parallel:\n  strategy: 'none'\n"):
        (tmp_path / "run.yaml").write_text(text)
        with pytest.raises(ConfigError, match="called 'single'"):
            load_config(tmp_path / "run.yaml")


def test_deepspeed_json_with_a_torch_strategy_is_refused():
    with pytest.raises(ConfigError, match="parallel.deepspeed_config.*zero1, zero2 and zero3"):
        apply_overrides(get_preset("debug"), ["parallel.strategy=fsdp",
                                              "parallel.deepspeed_config=ds.json"])


@pytest.mark.parametrize("strategy, world, tp, replicate, shard", [
    ("ddp", 8, 1, 8, 1),
    ("fsdp", 8, 1, 1, 8),
    ("zero3", 8, 2, 1, 4),  # data parallelism takes what tensor parallelism leaves
    ("auto", 6, 3, 2, 1),
])
def test_data_parallel_degree_is_what_model_parallelism_leaves(strategy, world, tp, replicate,
                                                               shard):
    dims = ParallelDims.from_config(ParallelConfig(strategy=strategy, tp=tp), world)
    assert (dims.dp_replicate, dims.dp_shard, dims.tp) == (replicate, shard, tp)
    assert dims.dp * dims.tp * dims.pp * dims.sp == world


def test_degrees_that_do_not_multiply_to_the_world_size_are_refused():
    with pytest.raises(ConfigError, match=r"dp_shard=2 .* = 4, but the world size is 6"):
        ParallelDims(world_size=6, dp_shard=2, tp=2)
    with pytest.raises(ConfigError, match="parallel.tp=4 x parallel.pp=1 x parallel.sp=1 = 4 "
                                          "must divide the world size 6"):
        ParallelDims.from_config(ParallelConfig(strategy="ddp", tp=4), 6)
    with pytest.raises(ConfigError, match="ParallelDims.tp=0"):
        ParallelDims(world_size=1, tp=0)


def test_enabled_dimensions_are_ordered_outermost_first():
    dims = ParallelDims(world_size=16, dp_replicate=2, dp_shard=2, tp=2, pp=2)
    assert list(dims.enabled()) == ["pp", "dp_replicate", "dp_shard", "tp"]


def test_mesh_on_one_rank_has_a_data_parallel_dimension():
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        mesh = ParallelDims(world_size=1).build_mesh("cpu")
        assert mesh.mesh_dim_names == ("dp_shard",)
        assert mesh["dp_shard"].size() == 1
    finally:
        dist.destroy_process_group()


def test_sequence_parallel_ranks_come_out_of_data_parallelism():
    dims = ParallelDims.from_config(ParallelConfig(strategy="fsdp", tp=2, sp=2), 8)
    assert (dims.dp_shard, dims.sp, dims.tp, dims.dp) == (2, 2, 2, 2)
    assert list(dims.enabled()) == ["dp_shard", "sp", "tp"]
