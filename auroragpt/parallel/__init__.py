"""Parallel training: the model is built plain, then spread over ranks from the outside.

- `ParallelDims`: degrees of each parallel dimension, checked against the world size, and
  the `DeviceMesh` built from them (`dims.py`).
- `parallelize(model, dims, cfg, device)`: every torch-native transformation in one fixed
  order on a meta-built model, then each rank materialises its own shards (`parallelize.py`);
  one module per dimension: `tp.py` (tensor), `sp.py` (sequence, Ulysses), `pp.py`
  (pipeline stages and schedules), `ac.py` (activation checkpointing), `ddp.py`, `fsdp.py`,
  `zero.py` (DeepSpeed).
- `planner.py` + `machines.py`: what fits where, the arithmetic behind `auroragpt plan`;
  `schedule_model.py`: GPipe and 1F1B timelines slot by slot (bubble, micro-batches held).
- Sharded checkpoints of these strategies (and consolidated weights) live in
  `auroragpt.checkpoint` (`sharded.py`, `consolidate.py`), beside this package.
- `tensor_storage_bytes(engine)`, `PeakStateBytes`: measured per-rank bytes of parameters,
  gradients and optimizer state (`memory.py`).

The training engines that drive these strategies step by step live with the training loop
(`auroragpt.train`), which imports this package, never the other way round.
"""

from auroragpt.parallel.dims import SHARDED, STRATEGIES, ParallelDims, resolve_strategy
from auroragpt.parallel.memory import PeakStateBytes, tensor_storage_bytes
from auroragpt.parallel.parallelize import parallelize

__all__ = [
    "PeakStateBytes",
    "SHARDED",
    "STRATEGIES",
    "ParallelDims",
    "parallelize",
    "resolve_strategy",
    "tensor_storage_bytes",
]
