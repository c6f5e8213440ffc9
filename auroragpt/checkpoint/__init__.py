"""Checkpoints: one owner of the on-disk layout, for training and evaluation alike.

    from auroragpt.checkpoint import resolve_checkpoint, read_model_weights
    cfg, weights = read_model_weights(resolve_checkpoint("runs/tiny"))   # verified, finite

- `layout`: file names, `latest`, checksums (`verify_checkpoint`), staging, commit, pruning;
- `safe_load`: readers that never unpickle anything but plain data (torch files, DCP
  metadata, DeepSpeed files);
- `sharded`: resumable sharded state, each rank its own shards (DCP for FSDP and any DTensor
  state; DeepSpeed ZeRO);
- `consolidate`: full weights from a live sharded model or from shards on disk, on request;
- `state`: the trainer's checkpoint (write its files, load the newest valid one);
- `weights`: a checkpoint's config and model weights, verified and checked.

Imports point down only: `train` and `eval` use this package; it uses `config` and `model`.
"""

from auroragpt.checkpoint.layout import (
    CHECKPOINTS_DIR,
    CHECKSUMS_FILE,
    CONFIG_FILE,
    LATEST_FILE,
    MODEL_FILE,
    STATE_FILE,
    TOKENIZER_FILE,
    CheckpointError,
    StepDir,
    checkpoint_step,
    list_checkpoints,
    read_latest,
    resolve_checkpoint,
    step_dir_name,
    verify_checkpoint,
)
from auroragpt.checkpoint.state import (
    Checkpoint,
    load_checkpoint,
    load_latest_valid,
    save_checkpoint,
)
from auroragpt.checkpoint.weights import (
    check_state_dict,
    read_config,
    read_model_weights,
    tokenizer_path,
)

__all__ = [
    "CHECKPOINTS_DIR",
    "CHECKSUMS_FILE",
    "CONFIG_FILE",
    "LATEST_FILE",
    "MODEL_FILE",
    "STATE_FILE",
    "TOKENIZER_FILE",
    "Checkpoint",
    "CheckpointError",
    "StepDir",
    "check_state_dict",
    "checkpoint_step",
    "list_checkpoints",
    "load_checkpoint",
    "load_latest_valid",
    "read_config",
    "read_latest",
    "read_model_weights",
    "resolve_checkpoint",
    "save_checkpoint",
    "step_dir_name",
    "tokenizer_path",
    "verify_checkpoint",
]
