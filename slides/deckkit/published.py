"""Published numbers the decks compare against, each with where it comes from."""

from __future__ import annotations

# Aurora at ALCF, whole-system totals (ALCF's Aurora system overview).
AURORA_SYSTEM = {
    "racks": 166,
    "nodes": 10_624,
    "CPUs (Intel Xeon CPU Max)": 21_248,
    "GPUs (Intel Data Center GPU Max)": 63_744,
    "NICs (HPE Slingshot 11)": 84_992,
}
AURORA_MEMORY_PB = {"HBM": 8, "DDR5": 10}

# Building the blended-dataset index for the 2,419-file Dolma data-file list on one Aurora
# node: Megatron-LM's builder versus ALCF's rewrite. Values read off the AuroraGPT talk's
# charts "Time spent building BlendableDataset" / "Time spent building GPTDataset" (one node).
DOLMA_FILES = 2_419
PUBLISHED_INDEX_BUILD_S = {
    "Megatron-LM (talk's chart, 1 Aurora node)": 2_668.0,
    "ALCF rewrite (talk's chart, 1 Aurora node)": 71.0,
}
