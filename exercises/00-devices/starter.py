"""Exercise 00: where am I? Rank, device and backend from a process's environment.

Fill in the three functions below, then check your work from the repository root:

    auroragpt exercises check 00
    auroragpt exercises check 00 --file my_copy.py

Every function takes plain values (a dict standing in for os.environ, device counts), so it
can be checked on any laptop against environments like those of Aurora's mpiexec or torchrun.
"""

from collections.abc import Mapping


def read_ranks(env: Mapping[str, str]) -> tuple[int, int, int, int]:
    """(rank, world_size, local_rank, local_world_size) of this process, from its launcher.

    Launchers and their variables, in the order to look for them:
      torchrun:          RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE
      Open MPI mpirun:   OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE,
                         OMPI_COMM_WORLD_LOCAL_RANK, OMPI_COMM_WORLD_LOCAL_SIZE
      PALS mpiexec (Aurora, Polaris):
                         PALS_RANKID, PMI_SIZE, PALS_LOCAL_RANKID, PALS_LOCAL_SIZE
      MPICH mpiexec:     PMI_RANK, PMI_SIZE, MPI_LOCALRANKID, MPI_LOCALNRANKS
    No launcher at all (plain `python`): rank 0 of 1, local rank 0 of 1.
    Values in the environment are strings; return ints.
    """
    # TODO 1: find the first launcher whose rank variable is present
    # TODO 2: read its four variables as ints
    raise NotImplementedError("TODO: read_ranks")


def pick_device(xpu: int, cuda: int, mps: bool, local_rank: int) -> str:
    """The torch device string for this process, e.g. "xpu:5", "cuda:0", "mps" or "cpu".

    xpu and cuda are the numbers of visible Intel and NVIDIA GPUs, mps whether an Apple GPU is
    there. Prefer xpu, then cuda, then mps, then cpu. Ranks on one node share its GPUs
    round-robin: local rank r uses GPU r modulo the number of GPUs. mps and cpu have no index.
    """
    # TODO: the first available kind in order of preference; an index for xpu and cuda
    raise NotImplementedError("TODO: pick_device")


def pick_backend(device: str) -> str:
    """The torch.distributed backend for a device string such as "xpu:3", "cuda:0" or "cpu".

    Intel GPUs talk through xccl (oneCCL), NVIDIA GPUs through nccl; the CPU and Apple GPUs
    through gloo.
    """
    # TODO: the device type (the part before any ":"), then its backend
    raise NotImplementedError("TODO: pick_backend")
