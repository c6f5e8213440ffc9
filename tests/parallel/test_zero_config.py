"""The generated DeepSpeed config, and a user's own (Megatron-DeepSpeed ALCF style) JSON.

DeepSpeed's own config parser is the reference: it checks the batch arithmetic
(train_batch_size = micro x accumulation x data-parallel ranks) and reads every section.
"""

import json
from types import SimpleNamespace

import pytest
import torch

from auroragpt.config import ConfigError, apply_overrides, get_preset
from auroragpt.parallel.zero import deepspeed_config, gradient_accumulation_steps, merge_user_config

deepspeed_runtime_config = pytest.importorskip("deepspeed.runtime.config")


@pytest.fixture
def parse_with_deepspeed(monkeypatch):
    """DeepSpeed's parsed view of a config for `dp` data-parallel ranks.

    NOTE: DeepSpeed asks its comm layer for the rank before it consults the `mpu` that says
    how many data-parallel ranks there are; that one query is answered here so no process
    group is needed.
    """
    monkeypatch.setattr(deepspeed_runtime_config.dist, "get_rank", lambda: 0)

    def parse(config: dict, dp: int):
        return deepspeed_runtime_config.DeepSpeedConfig(
            config, mpu=SimpleNamespace(get_data_parallel_world_size=lambda: dp))

    return parse


def debug_config(*overrides: str):
    return apply_overrides(get_preset("debug"), ["train.global_batch_size=32",
                                                 "train.micro_batch_size=4", *overrides])


@pytest.mark.parametrize("stage, dp, dtype", [(1, 2, torch.float32), (2, 4, torch.bfloat16),
                                              (3, 8, torch.float32)])
def test_generated_config_is_what_deepspeed_reads(parse_with_deepspeed, stage, dp, dtype):
    cfg = debug_config("train.grad_clip=0.7")
    parsed = parse_with_deepspeed(deepspeed_config(cfg, stage, dp, dtype), dp)
    assert parsed.train_batch_size == 32
    assert parsed.train_micro_batch_size_per_gpu == 4
    assert parsed.gradient_accumulation_steps == 32 // (4 * dp)
    assert parsed.zero_optimization_stage == stage
    assert parsed.gradient_clipping == 0.7
    assert parsed.bfloat16_config.enabled == (dtype == torch.bfloat16)
    assert parsed.optimizer_name is None  # the training loop brings its own AdamW


def test_zero3_partitions_every_matrix_and_keeps_norm_weights_whole():
    cfg = debug_config()
    zero = deepspeed_config(cfg, 3, 2, torch.float32)["zero_optimization"]
    dim, smallest_matrix = cfg.model.dim, cfg.model.dim * cfg.model.head_dim * cfg.model.kv_heads
    assert dim < zero["stage3_param_persistence_threshold"] < smallest_matrix


def test_accumulation_steps_and_a_batch_that_does_not_divide():
    assert gradient_accumulation_steps(debug_config(), dp=2) == 4
    with pytest.raises(ConfigError, match="global_batch_size=32 must be a multiple of "
                                          r"train.micro_batch_size=4 x data-parallel ranks=3"):
        gradient_accumulation_steps(debug_config(), dp=3)


def alcf_style_config(**changes) -> dict:
    """Shaped like the JSON Megatron-DeepSpeed's ALCF helpers write for a ZeRO-3 bf16 run."""
    config = {
        "train_batch_size": 32,
        "train_micro_batch_size_per_gpu": 4,
        "gradient_clipping": 1.0,
        "steps_per_print": 1,
        "gradient_accumulation_steps": 4,
        "zero_force_ds_cpu_optimizer": False,
        "zero_allow_untested_optimizer": True,
        "wall_clock_breakdown": False,
        "optimizer": {"type": "AdamW", "params": {"lr": 2e-4, "beta1": 0.9, "beta2": 0.95,
                                                  "eps": 1e-5, "weight_decay": 0.1}},
        "zero_optimization": {
            "stage": 3, "reduce_scatter": False, "stage3_max_live_parameters": 3e9,
            "stage3_max_reuse_distance": 3e9, "stage3_param_persistence_threshold": 1e5,
            "stage3_prefetch_bucket_size": 5e7, "contiguous_gradients": True,
            "overlap_comm": True, "reduce_bucket_size": 90000000, "sub_group_size": 1e9,
            "offload_optimizer": {"device": "none", "buffer_count": 4, "pipeline_read": False,
                                  "pipeline_write": False, "pin_memory": True},
        },
        "communication_data_type": "bf16",
        "fp16": {"enabled": False, "loss_scale": 0, "loss_scale_window": 1000,
                 "hysteresis": 2, "min_loss_scale": 1},
        "bfloat16": {"enabled": True, "loss_scale": 1.0},
        "comms_logger": {"enabled": False, "verbose": False, "debug": False},
        "flops_profiler": {"enabled": True, "profile_step": 2, "module_depth": -1,
                           "top_modules": 1, "detailed": True, "output_file": None},
    }
    config.update(changes)
    return config


def write_json(tmp_path, config) -> str:
    path = tmp_path / "ds_config.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_user_json_keeps_its_tuning_and_drops_the_optimizer(parse_with_deepspeed, tmp_path):
    cfg = debug_config("train.dtype=bf16")
    generated = deepspeed_config(cfg, 3, 2, torch.bfloat16)
    merged, notes = merge_user_config(write_json(tmp_path, alcf_style_config()), generated)

    assert "optimizer" not in merged and any("'optimizer'" in note for note in notes)
    assert any("loss_scale" in note for note in notes)
    assert merged["zero_optimization"]["reduce_bucket_size"] == 90000000  # theirs wins
    assert merged["zero_optimization"]["stage3_max_live_parameters"] == 3e9
    assert merged["flops_profiler"]["enabled"] is True
    parsed = parse_with_deepspeed(merged, dp=2)
    assert parsed.zero_optimization_stage == 3
    assert parsed.bfloat16_config.enabled and not parsed.float16_config.enabled
    assert parsed.gradient_accumulation_steps == 4
    assert parsed.optimizer_name is None


@pytest.mark.parametrize("change, message", [
    ({"train_batch_size": 64}, "train_batch_size=64 disagrees with this run's 32 "
                               r"\(from train.global_batch_size\)"),
    ({"gradient_clipping": 0.5}, r"gradient_clipping=0.5 disagrees .* \(from train.grad_clip\)"),
    ({"zero_optimization": {"stage": 2}}, r"zero_optimization.stage=2 disagrees with this "
                                          r"run's 3 \(from parallel.strategy\)"),
    ({"fp16": {"enabled": True}}, "fp16.enabled=true is not supported"),
    ({"bfloat16": {"enabled": False}}, "bfloat16.enabled=False disagrees with this run's "
                                       r"compute dtype \(bf16"),
])
def test_user_json_that_disagrees_with_the_run_names_file_and_field(tmp_path, change, message):
    generated = deepspeed_config(debug_config(), 3, 2, torch.bfloat16)
    path = write_json(tmp_path, alcf_style_config(**change))
    with pytest.raises(ConfigError, match=f"ds_config.json: {message}"):
        merge_user_config(path, generated)


def test_unreadable_user_json_names_the_file(tmp_path):
    generated = deepspeed_config(debug_config(), 1, 2, torch.float32)
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="broken.json: not valid JSON"):
        merge_user_config(bad, generated)
    with pytest.raises(ConfigError, match="missing.json.*file not found"):
        merge_user_config(tmp_path / "missing.json", generated)
