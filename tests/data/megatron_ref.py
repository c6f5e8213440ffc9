"""megatron-core 0.16 reference objects built with a minimal config (test-only helpers)."""

from __future__ import annotations

import warnings

import numpy as np

warnings.filterwarnings("ignore", message=".*Transformer Engine.*")


class _Tokenizer:
    """What GPTDatasetConfig needs of a tokenizer: ids for EOD/pad and a vocabulary size."""

    def __init__(self, vocab_size: int = 500):
        self.vocab_size = vocab_size
        self.eod = 0
        self.pad = vocab_size  # never a token id, so Megatron masks nothing
        self.unique_identifiers = {"class": "TestTokenizer", "vocab_size": vocab_size}


def gpt_config(seq_length: int, seed: int, split: str = "100,0,0", blend=None, cache=None,
               vocab_size: int = 500):
    from megatron.core.datasets.gpt_dataset import GPTDatasetConfig

    return GPTDatasetConfig(
        random_seed=seed, sequence_length=seq_length, blend=blend, split=split,
        tokenizer=_Tokenizer(vocab_size), reset_position_ids=False, reset_attention_mask=False,
        eod_mask_loss=False, path_to_cache=cache, mmap_bin_files=True,
    )


def megatron_gpt(prefix: str, seq_length: int, num_samples: int | None, seed: int,
                 cache: str, split: str = "100,0,0", split_name: str = "train"):
    """megatron-core's GPTDataset for one prefix and split, its indices cached in `cache`."""
    from megatron.core.datasets.gpt_dataset import GPTDataset
    from megatron.core.datasets.indexed_dataset import IndexedDataset
    from megatron.core.datasets.utils import Split

    config = gpt_config(seq_length, seed, split, blend=([prefix], None), cache=cache)
    indexed = IndexedDataset(prefix)
    which = Split[split_name]
    bounds = config.split_matrix[which.value]
    n = indexed.sequence_lengths.shape[0]
    beg, end = int(round(bounds[0] * float(n))), int(round(bounds[1] * float(n)))
    documents = np.arange(beg, end, dtype=np.int32)
    return GPTDataset(indexed, prefix, documents, num_samples, which, config)


def megatron_text(dataset, k: int) -> np.ndarray:
    """The seq_length + 1 tokens megatron-core draws for sample k."""
    text, _ = dataset._query_document_sample_shuffle_indices(k)
    return text


def megatron_blend(weights, size: int):
    from megatron.core.datasets import helpers

    dataset_index = np.zeros(size, dtype=np.int16)
    dataset_sample_index = np.zeros(size, dtype=np.int64)
    helpers.build_blending_indices(dataset_index, dataset_sample_index,
                                   np.asarray(weights, np.float64), len(weights), size, False)
    return dataset_index, dataset_sample_index
