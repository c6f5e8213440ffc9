"""Reference solution of exercise 00: rank, device and backend from the environment."""

from collections.abc import Mapping

# (rank, world size, local rank, local world size) variables per launcher, in the order the
# launchers are recognised; torchrun first, because `mpiexec ... torchrun` sets both.
LAUNCHER_VARIABLES = [
    ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"),
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
     "OMPI_COMM_WORLD_LOCAL_SIZE"),
    ("PALS_RANKID", "PMI_SIZE", "PALS_LOCAL_RANKID", "PALS_LOCAL_SIZE"),
    ("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"),
]

BACKENDS = {"xpu": "xccl", "cuda": "nccl", "mps": "gloo", "cpu": "gloo"}


def read_ranks(env: Mapping[str, str]) -> tuple[int, int, int, int]:
    """(rank, world_size, local_rank, local_world_size) from the first launcher found."""
    for names in LAUNCHER_VARIABLES:
        if names[0] in env:
            rank, size, local_rank, local_size = (int(env[name]) for name in names)
            return rank, size, local_rank, local_size
    return 0, 1, 0, 1


def pick_device(xpu: int, cuda: int, mps: bool, local_rank: int) -> str:
    """xpu, then cuda (round-robin over the GPUs of the node), then mps, then cpu."""
    for kind, count in (("xpu", xpu), ("cuda", cuda)):
        if count > 0:
            return f"{kind}:{local_rank % count}"
    return "mps" if mps else "cpu"


def pick_backend(device: str) -> str:
    """xccl for xpu, nccl for cuda, gloo for mps and cpu."""
    return BACKENDS[device.partition(":")[0]]
