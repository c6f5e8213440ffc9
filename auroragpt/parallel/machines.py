"""The machines `auroragpt plan` knows: one accelerator as torch sees it, and its node.

Figures are public specifications (sources in the comment above `MACHINES`); the one number
no source gives (Aurora's Xe Link bandwidth per tile) is marked as an assumption.
"""

from __future__ import annotations

from dataclasses import dataclass

from auroragpt.config import ConfigError

GiB = 2**30


@dataclass(frozen=True)
class Machine:
    """One accelerator as torch sees it, and the node it sits in."""

    name: str
    device: str
    memory_bytes: float  # device memory
    bf16_tflops: float  # dense bf16 peak, no sparsity
    hbm_tb_s: float  # device memory bandwidth
    devices_per_node: int
    intra_node_gb_s: float  # per device, per direction, to the other devices of its node
    inter_node_gb_s: float  # per device, per direction: the node's NIC bandwidth / devices


# Sources: Aurora: ALCF "Aurora Machine Overview" (6 Max 1550 GPUs = 12 tiles per node, 768 GiB
# GPU HBM per node = 64 GiB per tile, 8 Slingshot-11 NICs of 200 Gb/s per node) and Intel ark
# for the Max 1550 (128 GB HBM2e at 3.2768 TB/s per GPU, 2 stacks, 1024 XMX engines at 1.6 GHz:
# 838.9 bf16 TFLOP/s per GPU, half per tile, as in auroragpt.train.metrics). NOTE: Intel
# publishes no per-tile Xe Link figure in those sources: 50 GB/s per tile is an assumption
# (override with --intra-node-gbs). A100: NVIDIA A100 datasheet (312 bf16 TFLOP/s; 1,555 GB/s
# for 40 GB, 2,039 GB/s for 80 GB SXM; NVLink 600 GB/s both directions); the 40 GB part as in
# ALCF Polaris (4 per node, 2 Slingshot-11 NICs), the 80 GB part as in a DGX A100 (8 per node,
# 8 HDR 200 Gb/s NICs). H100 / H200: NVIDIA H100 and H200 datasheets (SXM: 989.4 dense bf16
# TFLOP/s; 3.35 TB/s HBM3; H200 141 GB HBM3e at 4.8 TB/s; NVLink 900 GB/s both directions), as
# in a DGX H100 / H200 (8 per node, 8 NDR 400 Gb/s NICs).
MACHINES: dict[str, Machine] = {
    "aurora": Machine("aurora", "Intel Data Center GPU Max 1550 tile", 64 * GiB, 419.4,
                      1.6384, 12, 50.0, 8 * 25.0 / 12),
    "a100-40": Machine("a100-40", "NVIDIA A100 SXM 40 GB (Polaris node)", 40 * GiB, 312.0,
                       1.555, 4, 300.0, 2 * 25.0 / 4),
    "a100-80": Machine("a100-80", "NVIDIA A100 SXM 80 GB (DGX node)", 80 * GiB, 312.0, 2.039,
                       8, 300.0, 25.0),
    "h100": Machine("h100", "NVIDIA H100 SXM 80 GB (DGX node)", 80 * GiB, 989.4, 3.35, 8,
                    450.0, 50.0),
    "h200": Machine("h200", "NVIDIA H200 SXM 141 GB (DGX node)", 141e9, 989.4, 4.8, 8, 450.0,
                    50.0),
}


def get_machine(name: str) -> Machine:
    if name not in MACHINES:
        raise ConfigError(f"unknown machine {name!r}: expected one of {', '.join(MACHINES)}")
    return MACHINES[name]
