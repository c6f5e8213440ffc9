"""`setup()` and `teardown()`: join the job this process was launched into, whatever launched it.

The same script runs unchanged as one process (`python train.py`), under `torchrun`, under
`mpiexec` (Aurora and Polaris use Cray PALS; laptops the `mpich` wheel's Hydra) and under
`srun`. The decisions are made by the pure functions in `auroragpt.distributed.env`; this module
performs them: it probes devices, binds the local device, and creates the process group.

Rendezvous, by launcher:
- torchrun / env: `init_method="env://"` with torchrun's MASTER_ADDR and MASTER_PORT.
- MPI (`mpiexec`): rank 0 opens a TCPStore on its own host on a port the OS picks (so two jobs
  on one node never collide) and broadcasts host and port with mpi4py; without mpi4py the
  MASTER_ADDR/MASTER_PORT exported by `auroragpt launch` are used.
- Slurm: the step's first node and a port derived from the job id (or MASTER_ADDR/PORT).
"""

from __future__ import annotations

import datetime
import importlib.util
import os
import socket
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist

from auroragpt.distributed.env import (
    BACKEND_OVERRIDE,
    DEVICE_OVERRIDE,
    MPI_LAUNCHERS,
    Accelerators,
    DistEnvError,
    MpiWorld,
    RankInfo,
    choose_backend,
    choose_device,
    detect_launcher,
    discover_ranks,
    node_layout,
    slurm_rendezvous,
)

DEFAULT_TIMEOUT_S = 1800.0  # collectives and rendezvous; large Aurora jobs take minutes to wire up


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job and what it computes on."""

    rank: int  # global rank, 0 .. world_size - 1
    local_rank: int  # rank among the processes on this node
    world_size: int  # number of processes in the job
    device: torch.device  # the device this rank computes on (already made current)
    backend: str  # torch.distributed backend: xccl, ccl, nccl or gloo
    local_world_size: int = 1  # processes on this node
    host: str = ""  # this node's host name
    launcher: str = "single"  # torchrun, env, openmpi, pals, pmi, pmix, slurm or single
    node_rank: int = 0  # this node's place among the job's nodes (node 0 holds rank 0)
    num_nodes: int = 1  # nodes (distinct hosts) in the job

    @property
    def is_main(self) -> bool:
        """True on global rank 0, the rank that logs, writes checkpoints and prints."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """True with more than one rank; a process group then exists."""
        return self.world_size > 1

    def describe(self) -> str:
        return (f"rank {self.rank}/{self.world_size} (local {self.local_rank}/"
                f"{self.local_world_size}) on {self.host} (node {self.node_rank}/"
                f"{self.num_nodes}): device={self.device} backend={self.backend} "
                f"launcher={self.launcher}")


_current: DistInfo | None = None


def setup(timeout_s: float = DEFAULT_TIMEOUT_S) -> DistInfo:
    """Discover ranks, bind the local device and create the process group.

    One rank is the plain single-process case: no process group is created and
    torch.distributed stays uninitialised. Calling `setup()` again returns the same
    `DistInfo`; a process group created by someone else (e.g. DeepSpeed) is adopted.
    """
    global _current
    if _current is not None:
        return _current
    env = os.environ
    launcher = detect_launcher(env)
    mpi = _mpi_world() if launcher in MPI_LAUNCHERS else None
    ranks = discover_ranks(env, mpi)
    device = torch.device(choose_device(probe_accelerators(), ranks.local_rank,
                                        env.get(DEVICE_OVERRIDE)))
    backend = choose_backend(device.type, has_xccl=_has_xccl(),
                             has_ccl=importlib.util.find_spec("oneccl_bindings_for_pytorch") is not None,
                             override=env.get(BACKEND_OVERRIDE))
    # NOTE: the device must be current before the process group exists: NCCL and oneCCL bind
    # their communicators to the current device, and every rank would otherwise use device 0.
    _make_current(device)
    if ranks.world_size > 1 and not dist.is_initialized():
        _init_process_group(ranks, backend, device, mpi is not None,
                            datetime.timedelta(seconds=timeout_s))
    host = socket.gethostname()
    hosts = [host]
    if dist.is_initialized():
        ranks = RankInfo(dist.get_rank(), dist.get_world_size(), ranks.local_rank,
                         ranks.local_world_size, ranks.launcher)
        backend = str(dist.get_backend())
        hosts = [""] * ranks.world_size
        dist.all_gather_object(hosts, host)
    node_rank, num_nodes = node_layout(hosts, ranks.rank)
    _current = DistInfo(rank=ranks.rank, local_rank=ranks.local_rank,
                        world_size=ranks.world_size, device=device, backend=backend,
                        local_world_size=ranks.local_world_size, host=host,
                        launcher=ranks.launcher, node_rank=node_rank, num_nodes=num_nodes)
    return _current


def teardown() -> None:
    """Destroy the process group (if any) so the process can exit cleanly; safe to repeat."""
    global _current
    if dist.is_available() and dist.is_initialized():
        gloo = dist.get_backend() == "gloo"
        dist.destroy_process_group()
        if gloo:
            # NOTE: gloo's worker threads drop the last collectives' tensors just after they
            # complete; if that happens while the interpreter shuts down the process aborts
            # (pytorch/pytorch#190489, seen here about once in 20 DeepSpeed runs). A short
            # pause lets them finish while Python is still fully alive.
            time.sleep(0.2)
    _current = None


def probe_accelerators() -> Accelerators:
    """Count the devices visible to this process."""
    xpu = getattr(torch, "xpu", None)
    return Accelerators(
        xpu=xpu.device_count() if xpu is not None and xpu.is_available() else 0,
        cuda=torch.cuda.device_count() if torch.cuda.is_available() else 0,
        mps=torch.backends.mps.is_available(),
    )


def _has_xccl() -> bool:
    check = getattr(dist, "is_xccl_available", None)
    return bool(check and check())


def _make_current(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.set_device(device)
    elif device.type == "xpu":
        torch.xpu.set_device(device)


def _mpi_world() -> MpiWorld | None:
    """Rank and size from mpi4py, or None when mpi4py is not installed."""
    if importlib.util.find_spec("mpi4py") is None:
        return None
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    node = world.Split_type(MPI.COMM_TYPE_SHARED)
    info = MpiWorld(world.Get_rank(), world.Get_size(), node.Get_rank(), node.Get_size())
    node.Free()
    return info


def _init_process_group(ranks: RankInfo, backend: str, device: torch.device, have_mpi: bool,
                        timeout: datetime.timedelta) -> None:
    if backend == "ccl":
        import oneccl_bindings_for_pytorch  # noqa: F401  (registers the "ccl" backend)
    store = None
    if ranks.uses_mpi and have_mpi:
        store = _mpi_rendezvous(ranks, timeout)
    elif ranks.launcher == "slurm":
        os.environ["MASTER_ADDR"], port = slurm_rendezvous(os.environ)
        os.environ["MASTER_PORT"] = str(port)
    elif not ("MASTER_ADDR" in os.environ and "MASTER_PORT" in os.environ):
        raise DistEnvError(
            f"{ranks.world_size} ranks from launcher {ranks.launcher!r} but no way to meet: "
            "MASTER_ADDR and MASTER_PORT are unset"
            + (" and mpi4py is not installed (pip install mpi4py)" if ranks.uses_mpi else "")
        )
    # Libraries that read the env:// variables (DeepSpeed, Megatron) then agree with us.
    os.environ.update(RANK=str(ranks.rank), WORLD_SIZE=str(ranks.world_size),
                      LOCAL_RANK=str(ranks.local_rank),
                      LOCAL_WORLD_SIZE=str(ranks.local_world_size))
    dist.init_process_group(
        backend=backend,
        init_method=None if store is not None else "env://",
        store=store,
        rank=ranks.rank,
        world_size=ranks.world_size,
        timeout=timeout,
        device_id=device if backend == "nccl" else None,
    )


def _mpi_rendezvous(ranks: RankInfo, timeout: datetime.timedelta) -> dist.TCPStore:
    """Rank 0 serves a TCPStore on an OS-chosen port; everyone learns where via MPI_Bcast."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    store = None
    message: tuple[str, int] | str
    if ranks.rank == 0:
        host = socket.gethostname()
        try:
            store = dist.TCPStore(host, 0, ranks.world_size, is_master=True, timeout=timeout,
                                  wait_for_workers=False)
            message = (host, store.port)
        except Exception as err:  # told to every rank, so none waits for a store that never comes
            message = f"rank 0 could not open a TCPStore on {host}: {err}"
    else:
        message = None  # type: ignore[assignment]
    message = comm.bcast(message, root=0)
    if isinstance(message, str):
        raise DistEnvError(message)
    host, port = message
    if store is None:
        store = dist.TCPStore(host, port, ranks.world_size, is_master=False, timeout=timeout)
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = host, str(port)
    return store
