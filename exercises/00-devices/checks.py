"""Checks of exercise 00 against auroragpt.distributed's pure decisions and torch's own table of
default backends, on random jobs of every launcher."""

import random

import torch.distributed

from auroragpt.distributed.env import Accelerators, choose_device, discover_ranks
from auroragpt.exercise_checker.checking import CheckFailed, check

# What a login shell already has; none of it says anything about ranks.
BASE_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/home/learner", "PBS_JOBID": "4242.aurora-pbs",
            "HOSTNAME": "x4102c5s0b0n0"}


def _launcher_env(launcher: str, rank: int, size: int, local_rank: int, local_size: int) -> dict:
    """The variables each launcher sets for one process (after measuring real launchers)."""
    values = {
        "torchrun": {"RANK": rank, "WORLD_SIZE": size, "LOCAL_RANK": local_rank,
                     "LOCAL_WORLD_SIZE": local_size, "GROUP_RANK": rank // local_size,
                     "TORCHELASTIC_RUN_ID": "none", "MASTER_ADDR": "x4102c5s0b0n0",
                     "MASTER_PORT": 29500},
        "Open MPI mpirun": {"OMPI_COMM_WORLD_RANK": rank, "OMPI_COMM_WORLD_SIZE": size,
                            "OMPI_COMM_WORLD_LOCAL_RANK": local_rank,
                            "OMPI_COMM_WORLD_LOCAL_SIZE": local_size},
        "PALS mpiexec": {"PALS_RANKID": rank, "PALS_LOCAL_RANKID": local_rank,
                         "PALS_LOCAL_SIZE": local_size, "PALS_NODEID": rank // local_size,
                         "PMI_RANK": rank, "PMI_SIZE": size, "PMI_LOCAL_RANK": local_rank,
                         "PMI_LOCAL_SIZE": local_size},
        "MPICH mpiexec": {"PMI_RANK": rank, "PMI_SIZE": size, "MPI_LOCALRANKID": local_rank,
                          "MPI_LOCALNRANKS": local_size, "PMI_FD": 9},
    }[launcher]
    return {name: str(value) for name, value in values.items()}


def _random_job(rng: random.Random) -> tuple[int, int, int, int]:
    nodes, per_node = rng.randint(1, 512), rng.choice([1, 4, 6, 12])
    rank = rng.randrange(nodes * per_node)
    return rank, nodes * per_node, rank % per_node, per_node


def _environments(seed: int):
    """(description, env): every launcher at random places in random jobs, and corner cases."""
    rng = random.Random(seed)
    yield "plain python", dict(BASE_ENV)
    for launcher in ("torchrun", "Open MPI mpirun", "PALS mpiexec", "MPICH mpiexec"):
        for _ in range(4):
            yield launcher, {**BASE_ENV, **_launcher_env(launcher, *_random_job(rng))}
    # mpiexec starting one torchrun per node: the workers carry both sets of variables
    nodes = rng.randint(2, 64)
    node = rng.randrange(nodes)
    local_rank = rng.randrange(12)
    outer = _launcher_env("PALS mpiexec", node, nodes, 0, 1)
    inner = _launcher_env("torchrun", node * 12 + local_rank, nodes * 12, local_rank, 12)
    yield "torchrun started by PALS mpiexec", {**BASE_ENV, **outer, **inner}


def _expected_ranks(env) -> tuple[int, int, int, int]:
    info = discover_ranks(env)
    return info.rank, info.world_size, info.local_rank, info.local_world_size


def _as_ranks(value) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or len(value) != 4:
        raise CheckFailed(f"read_ranks returned {value!r}; expected a tuple of 4 ints "
                          "(rank, world_size, local_rank, local_world_size)")
    if not all(isinstance(v, int) for v in value):
        raise CheckFailed(f"read_ranks returned {tuple(value)!r}: environment values are "
                          "strings; convert them with int()")
    return tuple(value)


@check("read_ranks agrees with auroragpt.distributed on random torchrun, Open MPI, PALS and MPICH jobs",
       hint="recognise a launcher by its rank variable, trying torchrun's first (a torchrun worker "
            "started by mpiexec sees both); without any launcher, the process is alone.")
def ranks_match_library(ctx):
    read_ranks = ctx.function("read_ranks")
    fields = ("rank", "world_size", "local_rank", "local_world_size")
    for description, env in _environments(ctx.seed):
        got = _as_ranks(read_ranks(dict(env)))
        expected = _expected_ranks(env)
        if got == expected:
            continue
        launcher_vars = sorted(k for k in env if k not in BASE_ENV)
        if got == (0, 1, 0, 1):
            raise CheckFailed(f"{description}: you returned a single process; this launcher "
                              f"sets {', '.join(launcher_vars)}")
        wrong = [name for name, a, b in zip(fields, got, expected, strict=True) if a != b]
        raise CheckFailed(f"{description} (variables {', '.join(launcher_vars)}): "
                          f"{', '.join(wrong)} wrong, you returned {got}")


@check("pick_device agrees with auroragpt.distributed on random nodes and local ranks",
       hint="preference xpu > cuda > mps > cpu; an index only for xpu and cuda, the local rank "
            "modulo the number of GPUs of that kind.")
def device_matches_library(ctx):
    pick_device = ctx.function("pick_device")
    rng = random.Random(ctx.seed + 1)
    cases = [(0, 0, False, 0), (0, 0, True, 3), (12, 0, False, 11), (12, 4, True, 12)]
    cases += [(rng.choice([0, 6, 12]), rng.choice([0, 4, 8]), rng.random() < 0.5,
               rng.randrange(24)) for _ in range(20)]
    for xpu, cuda, mps, local_rank in cases:
        expected = choose_device(Accelerators(xpu=xpu, cuda=cuda, mps=mps), local_rank)
        got = pick_device(xpu, cuda, mps, local_rank)
        if got != expected:
            raise CheckFailed(f"with {xpu} xpu, {cuda} cuda, mps={mps}, local rank {local_rank}: "
                              f"you returned {got!r}")


@check("pick_backend agrees with torch.distributed's table of default backends",
       hint="the device type is the part before ':' (if any); each GPU vendor ships its own "
            "collective library, and the CPU's is the one PyTorch builds everywhere.")
def backend_matches_torch(ctx):
    pick_backend = ctx.function("pick_backend")
    table = torch.distributed.Backend.default_device_backend_map
    for device in ("xpu:0", "xpu:11", "cuda:3", "cuda", "mps", "cpu"):
        expected = table[device.partition(":")[0]]
        got = pick_backend(device)
        if got != expected:
            raise CheckFailed(f"for device {device!r} you returned {got!r}")
