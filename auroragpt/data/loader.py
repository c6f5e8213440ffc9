"""Global batches: the same sample order on any number of data-parallel ranks, exact resume.

Optimizer step g reads global samples [c, c + global_batch_size) where c is the number of
samples consumed before it. Data-parallel rank r of d takes the r-th contiguous slice of
global_batch_size / d samples and cuts it into micro-batches. Which samples make a step never
depends on d, so a run gives the same losses on 1 or 64 ranks (up to reduction order), and a
run restarted with `consumed_samples=c` sees exactly the batches it would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


class _MicroBatches(Dataset):
    """Micro-batch m of this rank, as collated tensors (what DataLoader workers compute)."""

    def __init__(self, dataset, first_sample: int, global_batch_size: int,
                 micro_batch_size: int, dp_rank: int, dp_size: int):
        self.dataset = dataset
        self.first_sample = first_sample
        self.global_batch_size = global_batch_size
        self.micro_batch_size = micro_batch_size
        self.rank_slice = global_batch_size // dp_size
        self.dp_rank = dp_rank
        self.per_step = self.rank_slice // micro_batch_size

    def sample_ids(self, m: int) -> range:
        step, micro = divmod(m, self.per_step)
        start = (self.first_sample + step * self.global_batch_size
                 + self.dp_rank * self.rank_slice + micro * self.micro_batch_size)
        return range(start, start + self.micro_batch_size)

    def __len__(self) -> int:
        steps = (len(self.dataset) - self.first_sample) // self.global_batch_size
        return max(0, steps) * self.per_step

    def __getitem__(self, m: int) -> dict[str, torch.Tensor]:
        samples = [self.dataset[k] for k in self.sample_ids(m)]
        return {
            "tokens": torch.from_numpy(np.stack([s["tokens"] for s in samples])),  # (mb, S+1)
            "corpus_id": torch.tensor([s["corpus_id"] for s in samples], dtype=torch.long),
        }


class GlobalBatchLoader:
    """Iterate optimizer steps; each yields this rank's micro-batches for that step.

    `consumed_samples` (global) advances by `global_batch_size` per step: store it in a
    checkpoint and pass it back to resume exactly. `num_workers` > 0 reads in DataLoader
    worker processes.
    """

    def __init__(self, dataset, global_batch_size: int, micro_batch_size: int, dp_rank: int = 0,
                 dp_size: int = 1, consumed_samples: int = 0, num_workers: int = 0):
        if global_batch_size % (micro_batch_size * dp_size):
            raise ValueError(
                f"global_batch_size={global_batch_size} must be a multiple of "
                f"micro_batch_size * dp_size = {micro_batch_size} * {dp_size}"
            )
        if not 0 <= dp_rank < dp_size:
            raise ValueError(f"dp_rank={dp_rank} must lie in [0, dp_size={dp_size})")
        if consumed_samples < 0:
            raise ValueError(f"consumed_samples={consumed_samples} must be >= 0")
        self.dataset = dataset
        self.global_batch_size = global_batch_size
        self.micro_batch_size = micro_batch_size
        self.dp_rank, self.dp_size = dp_rank, dp_size
        self.consumed_samples = consumed_samples
        self.num_workers = num_workers

    def __len__(self) -> int:
        """Steps left from the current position."""
        return max(0, (len(self.dataset) - self.consumed_samples) // self.global_batch_size)

    def __iter__(self) -> Iterator[list[dict[str, torch.Tensor]]]:
        micro = _MicroBatches(self.dataset, self.consumed_samples, self.global_batch_size,
                              self.micro_batch_size, self.dp_rank, self.dp_size)
        # NOTE: its own generator: DataLoader draws worker seeds from the one it is given, and
        # a draw from torch's global generator would break exact resume (the trainer restores
        # it from the checkpoint just before the first step).
        loader = DataLoader(micro, batch_size=None, shuffle=False, num_workers=self.num_workers,
                            persistent_workers=False, generator=torch.Generator().manual_seed(0))
        step: list[dict[str, torch.Tensor]] = []
        for batch in loader:
            step.append(batch)
            if len(step) == micro.per_step:
                self.consumed_samples += self.global_batch_size
                yield step
                step = []
