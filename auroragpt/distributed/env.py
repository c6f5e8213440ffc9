"""Pure decisions about a process's place in a job, made from its environment alone.

Every function here takes the environment as a `Mapping[str, str]` (and, where a decision
depends on hardware or on MPI, those facts as plain values), so each decision is testable with
a dict standing in for `os.environ`. The side effects (probing devices, importing mpi4py,
creating process groups) live in `auroragpt.distributed.runtime`.

Launchers and the variables they set, in the order they are checked:

| launcher   | started by                          | rank / size / local rank / local size                      |
|------------|-------------------------------------|------------------------------------------------------------|
| `torchrun` | `torchrun`, `deepspeed`             | RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE             |
| `env`      | anything that exports the env:// vars without torchrun (same variables)          |
| `openmpi`  | Open MPI `mpirun`                   | OMPI_COMM_WORLD_{RANK,SIZE,LOCAL_RANK,LOCAL_SIZE}          |
| `pals`     | Cray PALS `mpiexec` (Aurora, Polaris) | PALS_RANKID, PMI_SIZE, PALS_LOCAL_RANKID, PALS_LOCAL_SIZE |
| `pmi`      | MPICH/Hydra, Intel MPI, Cray PMI    | PMI_RANK, PMI_SIZE, MPI_LOCALRANKID / PMI_LOCAL_RANK, ...   |
| `pmix`     | a PMIx launcher (`prterun`, PALS `--pmi=pmix`) | PMIX_RANK; the rest from MPI                      |
| `slurm`    | `srun` (a job step, not the batch script) | SLURM_PROCID, SLURM_STEP_NUM_TASKS, SLURM_LOCALID, ...  |
| `single`   | plain `python`                      | rank 0 of 1                                                |
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Launchers whose ranks rendezvous through MPI (mpi4py) rather than torchrun's env:// variables.
MPI_LAUNCHERS = frozenset({"openmpi", "pals", "pmi", "pmix"})
LAUNCHERS = ("torchrun", "env", "openmpi", "pals", "pmi", "pmix", "slurm", "single")

DEVICE_TYPES = ("xpu", "cuda", "mps", "cpu")  # preference order when nothing is forced
BACKENDS = ("xccl", "ccl", "nccl", "gloo", "mpi")

# Environment variables that force a choice the automatic rules would make differently.
DEVICE_OVERRIDE = "AURORAGPT_DEVICE"  # e.g. cpu, cuda, xpu, mps, or cuda:1
BACKEND_OVERRIDE = "AURORAGPT_BACKEND"  # e.g. gloo to run collectives on CPU tensors

# Rendezvous ports derived from a job id fall in [BASE_PORT, BASE_PORT + PORT_SPAN).
BASE_PORT = 29500
PORT_SPAN = 2000


class DistEnvError(RuntimeError):
    """The environment describes an impossible or incomplete job; the message says which variable."""


@dataclass(frozen=True)
class MpiWorld:
    """What MPI itself (mpi4py's COMM_WORLD and its node-local split) says about this process."""

    rank: int
    size: int
    local_rank: int
    local_size: int


@dataclass(frozen=True)
class RankInfo:
    """This process's place in the job, as the launcher described it."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    launcher: str  # one of LAUNCHERS

    @property
    def uses_mpi(self) -> bool:
        return self.launcher in MPI_LAUNCHERS


# ----------------------------------------------------------------------------------------------
# Launcher and ranks
# ----------------------------------------------------------------------------------------------


def detect_launcher(env: Mapping[str, str]) -> str:
    """Which launcher started this process; `single` when none did.

    torchrun's variables win over MPI's: `mpiexec ... torchrun ...` (one torchrun per node)
    starts workers whose rank is torchrun's, not the MPI rank of their parent.
    """
    if "RANK" in env and "WORLD_SIZE" in env:
        return "torchrun" if "TORCHELASTIC_RUN_ID" in env else "env"
    if "OMPI_COMM_WORLD_RANK" in env:
        return "openmpi"
    if "PALS_RANKID" in env:
        return "pals"
    if "PMI_RANK" in env:
        return "pmi"
    if "PMIX_RANK" in env:
        return "pmix"
    # NOTE: a Slurm batch script itself has SLURM_PROCID=0 and SLURM_NTASKS=N; only an `srun`
    # step sets SLURM_STEP_NUM_TASKS, so a plain `python` inside sbatch stays single-process.
    if "SLURM_PROCID" in env and "SLURM_STEP_NUM_TASKS" in env:
        return "slurm"
    return "single"


# For each launcher: the variables holding (rank, world size, local rank, local world size),
# each a tuple of candidates tried in order.
_RANK_VARIABLES: dict[str, tuple[tuple[str, ...], ...]] = {
    "torchrun": (("RANK",), ("WORLD_SIZE",), ("LOCAL_RANK",), ("LOCAL_WORLD_SIZE",)),
    "env": (("RANK",), ("WORLD_SIZE",), ("LOCAL_RANK",), ("LOCAL_WORLD_SIZE",)),
    "openmpi": (
        ("OMPI_COMM_WORLD_RANK",),
        ("OMPI_COMM_WORLD_SIZE",),
        ("OMPI_COMM_WORLD_LOCAL_RANK",),
        ("OMPI_COMM_WORLD_LOCAL_SIZE",),
    ),
    "pals": (
        ("PALS_RANKID",),
        ("PMI_SIZE", "PALS_SIZE"),
        ("PALS_LOCAL_RANKID", "PMI_LOCAL_RANK"),
        ("PALS_LOCAL_SIZE", "PMI_LOCAL_SIZE"),
    ),
    "pmi": (
        ("PMI_RANK",),
        ("PMI_SIZE",),
        ("MPI_LOCALRANKID", "PMI_LOCAL_RANK"),
        ("MPI_LOCALNRANKS", "PMI_LOCAL_SIZE"),
    ),
    # PMIx publishes only the rank in the environment; MPI supplies the rest.
    "pmix": (("PMIX_RANK",), (), (), ()),
    "slurm": (("SLURM_PROCID",), ("SLURM_STEP_NUM_TASKS",), ("SLURM_LOCALID",), ()),
}


def discover_ranks(env: Mapping[str, str], mpi: MpiWorld | None = None) -> RankInfo:
    """Rank, world size and node-local rank/size of this process.

    `mpi` is what mpi4py reports, when the launcher is an MPI one and mpi4py is importable:
    it fills values the launcher left out (PMIx sets only the rank) and is cross-checked
    against the environment, which catches an `mpiexec` from one MPI starting a Python whose
    mpi4py is built against another (each rank then sees a world of one).
    """
    launcher = detect_launcher(env)
    if launcher == "single":
        return RankInfo(rank=0, world_size=1, local_rank=0, local_world_size=1, launcher="single")
    rank_vars, size_vars, local_rank_vars, local_size_vars = _RANK_VARIABLES[launcher]
    rank = _first_int(env, rank_vars)
    world_size = _first_int(env, size_vars)
    local_rank = _first_int(env, local_rank_vars)
    local_world_size = _first_int(env, local_size_vars)
    if launcher == "slurm":
        local_world_size = _slurm_local_tasks(env)

    if mpi is not None:
        if world_size is not None and world_size != mpi.size:
            raise DistEnvError(
                f"the launcher says the world has {world_size} ranks ({_name(env, size_vars)}) "
                f"but mpi4py's COMM_WORLD has {mpi.size}: the `mpiexec` that started this job "
                "belongs to a different MPI than the one mpi4py was built against; launch with "
                "the matching mpiexec (e.g. .venv/bin/mpiexec for the mpich wheel)"
            )
        if rank is not None and rank != mpi.rank:
            raise DistEnvError(
                f"{_name(env, rank_vars)}={rank} disagrees with mpi4py's rank {mpi.rank}"
            )
        rank = mpi.rank if rank is None else rank
        world_size = mpi.size if world_size is None else world_size
        local_rank = mpi.local_rank if local_rank is None else local_rank
        local_world_size = mpi.local_size if local_world_size is None else local_world_size

    missing = [what for what, value in (("rank", rank), ("world size", world_size))
               if value is None]
    if missing:
        raise DistEnvError(
            f"launcher {launcher!r} did not set the {' and '.join(missing)} "
            f"(looked for {', '.join(rank_vars + size_vars)}); install mpi4py so MPI can "
            "supply them"
        )
    assert rank is not None and world_size is not None  # for the type checker
    if local_rank is None:
        # NOTE: without a node-local rank every process is assumed alone on its node; that is
        # right for one rank per node and is the only guess that never oversubscribes a device.
        local_rank, local_world_size = 0, 1
    if local_world_size is None:
        local_world_size = local_rank + 1
    return _validated(RankInfo(rank, world_size, local_rank, local_world_size, launcher))


def node_layout(hosts: Sequence[str], rank: int) -> tuple[int, int]:
    """(node rank, number of nodes) of `rank`, given the host of every rank (`hosts[r]`).

    Nodes are numbered by their lowest rank, so node 0 holds rank 0 and node ranks follow
    the launcher's placement whatever it is (blocks of ranks per node, round robin, uneven).
    No launcher variable is needed: Hydra sets none, and PALS, Slurm and torchrun each name
    theirs differently.
    """
    if not 0 <= rank < len(hosts):
        raise DistEnvError(f"rank {rank} is outside the {len(hosts)} ranks whose hosts are known")
    order = list(dict.fromkeys(hosts))  # hosts in order of first appearance
    return order.index(hosts[rank]), len(order)


def _validated(info: RankInfo) -> RankInfo:
    if info.world_size < 1:
        raise DistEnvError(f"world size {info.world_size} from launcher {info.launcher!r} must be >= 1")
    if not 0 <= info.rank < info.world_size:
        raise DistEnvError(
            f"rank {info.rank} from launcher {info.launcher!r} is outside [0, {info.world_size})"
        )
    if not 0 <= info.local_rank < info.local_world_size:
        raise DistEnvError(
            f"local rank {info.local_rank} from launcher {info.launcher!r} is outside "
            f"[0, {info.local_world_size})"
        )
    return info


def _first_int(env: Mapping[str, str], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in env:
            raw = env[name].strip()
            try:
                return int(raw)
            except ValueError:
                raise DistEnvError(f"{name}={raw!r}: expected an integer") from None
    return None


def _name(env: Mapping[str, str], names: tuple[str, ...]) -> str:
    return next((name for name in names if name in env), names[0] if names else "?")


def _slurm_local_tasks(env: Mapping[str, str]) -> int | None:
    """Tasks on this node from SLURM_STEP_TASKS_PER_NODE (`2(x3),1`) and SLURM_NODEID."""
    spec = env.get("SLURM_STEP_TASKS_PER_NODE") or env.get("SLURM_TASKS_PER_NODE")
    node = _first_int(env, ("SLURM_NODEID",))
    if not spec or node is None:
        return None
    per_node = expand_tasks_per_node(spec)
    if node >= len(per_node):
        raise DistEnvError(f"SLURM_NODEID={node} but the tasks-per-node list {spec!r} has "
                           f"{len(per_node)} nodes")
    return per_node[node]


def expand_tasks_per_node(spec: str) -> list[int]:
    """Slurm's compressed tasks-per-node list, e.g. `2(x3),1` -> [2, 2, 2, 1]."""
    counts: list[int] = []
    for part in spec.split(","):
        match = re.fullmatch(r"\s*(\d+)(?:\(x(\d+)\))?\s*", part)
        if not match:
            raise DistEnvError(f"tasks-per-node list {spec!r}: cannot parse {part!r}")
        counts.extend([int(match[1])] * int(match[2] or 1))
    return counts


def expand_hostlist(hostlist: str) -> list[str]:
    """Slurm's compressed host list, e.g. `nid[001-003,007],login1` -> 5 host names.

    Zero padding is kept (`001-003` -> 001, 002, 003); several bracket groups in one name
    expand as a product, as `scontrol show hostnames` does.
    """
    hosts: list[str] = []
    for token in _split_top_level(hostlist):
        hosts.extend(_expand_host(token))
    return hosts


def _split_top_level(text: str) -> list[str]:
    tokens, depth, current = [], 0, []
    for char in text:
        depth += char == "["
        depth -= char == "]"
        if char == "," and depth == 0:
            tokens.append("".join(current))
            current = []
        else:
            current.append(char)
    tokens.append("".join(current))
    return [t.strip() for t in tokens if t.strip()]


def _expand_host(token: str) -> list[str]:
    match = re.search(r"\[([^\]]*)\]", token)
    if not match:
        return [token]
    head, tail = token[: match.start()], token[match.end():]
    names = []
    for item in match[1].split(","):
        lo, _, hi = item.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise DistEnvError(f"host list entry {token!r}: cannot parse range {item!r}")
        width = len(lo)
        for number in range(int(lo), int(hi or lo) + 1):
            names.append(f"{head}{number:0{width}d}")
    return [name + rest for name in names for rest in _expand_host(tail)]


def job_port(job_id: str | None) -> int:
    """A rendezvous port derived from the scheduler's job id, the same on every node.

    Different jobs sharing a node get different ports; `29500` when there is no job id.
    """
    digits = re.match(r"\d+", job_id or "")
    if not digits:
        return BASE_PORT
    return BASE_PORT + int(digits[0]) % PORT_SPAN


def slurm_rendezvous(env: Mapping[str, str]) -> tuple[str, int]:
    """MASTER_ADDR/MASTER_PORT for an `srun` step: the step's first node and a job-derived port.

    Explicit MASTER_ADDR / MASTER_PORT in the environment win.
    """
    nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST")
    addr = env.get("MASTER_ADDR")
    if not addr:
        if not nodelist:
            raise DistEnvError("srun step without SLURM_STEP_NODELIST or MASTER_ADDR: cannot "
                               "tell which node hosts the rendezvous")
        addr = expand_hostlist(nodelist)[0]
    port = _first_int(env, ("MASTER_PORT",))
    return addr, port if port is not None else job_port(env.get("SLURM_JOB_ID"))


# ----------------------------------------------------------------------------------------------
# Device and backend
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accelerators:
    """Devices this process can see (after ZE_AFFINITY_MASK / CUDA_VISIBLE_DEVICES)."""

    xpu: int = 0  # Intel GPU devices (tiles, in Aurora's default FLAT mode)
    cuda: int = 0  # NVIDIA GPUs
    mps: bool = False  # Apple GPU


def choose_device(accelerators: Accelerators, local_rank: int, override: str | None = None) -> str:
    """The torch device string for this rank, e.g. `xpu:5`, `cuda:0`, `mps` or `cpu`.

    Preference: xpu, cuda, mps, cpu. Local ranks are spread over the visible devices
    round-robin, so a launcher that already narrowed each rank to one device (ALCF's
    `gpu_tile_compact.sh`, `CUDA_VISIBLE_DEVICES` per rank) gets device 0 everywhere.
    `override` (AURORAGPT_DEVICE) forces a type, or a type and index.
    """
    counts = {"xpu": accelerators.xpu, "cuda": accelerators.cuda,
              "mps": int(accelerators.mps), "cpu": 1}
    if override:
        kind, _, index = override.strip().lower().partition(":")
        if kind not in DEVICE_TYPES:
            raise DistEnvError(
                f"{DEVICE_OVERRIDE}={override!r}: expected one of {', '.join(DEVICE_TYPES)}"
                " (optionally with :index)"
            )
        if counts[kind] == 0:
            raise DistEnvError(f"{DEVICE_OVERRIDE}={override!r} but no {kind} device is visible")
        if index:
            if not index.isdigit() or int(index) >= counts[kind]:
                raise DistEnvError(
                    f"{DEVICE_OVERRIDE}={override!r}: index must be below the {counts[kind]} "
                    f"visible {kind} device(s)"
                )
            return f"{kind}:{index}"
    else:
        kind = next(k for k in DEVICE_TYPES if counts[k] > 0)
    if kind in ("cpu", "mps"):
        return kind
    return f"{kind}:{local_rank % counts[kind]}"


def choose_backend(device_type: str, *, has_xccl: bool, has_ccl: bool,
                   override: str | None = None) -> str:
    """The torch.distributed backend for a device type.

    xpu: `xccl` (built into torch >= 2.8) or else `ccl` (oneCCL bindings for PyTorch);
    cuda: `nccl`; mps and cpu: `gloo`. `override` (AURORAGPT_BACKEND) wins.
    """
    if override:
        backend = override.strip().lower()
        if backend not in BACKENDS:
            raise DistEnvError(
                f"{BACKEND_OVERRIDE}={override!r}: expected one of {', '.join(BACKENDS)}"
            )
        return backend
    if device_type == "xpu":
        if has_xccl:
            return "xccl"
        if has_ccl:
            return "ccl"
        raise DistEnvError(
            "xpu device but torch has no xccl backend and oneccl_bindings_for_pytorch is not "
            f"importable: use torch >= 2.8 with XPU support, or set {BACKEND_OVERRIDE}=gloo "
            f"and {DEVICE_OVERRIDE}=cpu"
        )
    if device_type == "cuda":
        return "nccl"
    if device_type in ("mps", "cpu"):
        return "gloo"
    raise DistEnvError(f"no backend known for device type {device_type!r}")
