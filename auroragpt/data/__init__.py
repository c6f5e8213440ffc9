"""The data pipeline: Megatron `.bin/.idx` corpora, GPT sample indices, corpus blends, loaders.

Public names are imported lazily so that index building never pays for importing torch.
"""

from __future__ import annotations

from auroragpt.lazy import lazy_exports

_EXPORTS = {
    "DataError": "auroragpt.data.errors",
    "IndexedDataset": "auroragpt.data.indexed",
    "IndexedDatasetWriter": "auroragpt.data.indexed",
    "GPTDataset": "auroragpt.data.gpt",
    "SampleIndex": "auroragpt.data.gpt",
    "build_sample_index": "auroragpt.data.gpt",
    "build_blending_indices": "auroragpt.data.blending",
    "DataFileList": "auroragpt.data.file_list",
    "read_file_list": "auroragpt.data.file_list",
    "parse_file_list": "auroragpt.data.file_list",
    "BlendedDataset": "auroragpt.data.blended",
    "plan_blend": "auroragpt.data.blended",
    "open_blend": "auroragpt.data.blended",
    "preprocess_files": "auroragpt.data.preprocess",
    "GlobalBatchLoader": "auroragpt.data.loader",
    "PreparedData": "auroragpt.data.prepare",
    "prepare_data": "auroragpt.data.prepare",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports("auroragpt.data", _EXPORTS)
