"""Build (and run) the command that starts a job's ranks: `mpiexec`, `srun` or a local torchrun.

Everything up to `LaunchPlan` is a pure function of the environment, the node file and the
machine profile, so the exact `mpiexec` line for a 64-node Aurora job can be checked on a
laptop. `run_plan` is the only side effect.

Which launcher:
- inside a PBS job (PBS_NODEFILE / PBS_JOBID), or for the aurora, polaris and mpich profiles:
  `mpiexec --envall --np N --ppn P [--hostfile F] [cpu binding] CMD` (Cray PALS and MPICH's
  Hydra both read this spelling); the mpich profile runs CMD under
  `python -m auroragpt.distributed.supervise`, because Hydra names a dead rank by pid only
- inside a Slurm allocation: `srun --nodes N --ntasks N*P --ntasks-per-node P CMD`
- on a local machine: `torchrun --standalone --nproc-per-node P --no-python CMD`, or the command
  itself for one process.

Machine facts come from ALCF's user guides: Aurora nodes have 6 Intel GPUs of 2 tiles, run
one rank per tile (12 per node) and reserve cores 0 and 52 for the OS; Polaris nodes have
4 A100s and 32 cores. Profile environment variables are defaults: a value already exported
in the job's environment wins. A generic MPICH cluster needs no flags beyond the line above:
how Hydra reaches the nodes (ssh, rsh, another `ssh`), which interface it uses and how it
binds ranks are Hydra's own settings (HYDRA_LAUNCHER, HYDRA_LAUNCHER_EXEC, HYDRA_IFACE,
HYDRA_BINDING), read from the environment by mpiexec itself; scripts/fake_cluster.sh sets
the first two to reach its hosts.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from auroragpt.distributed.env import expand_hostlist, job_port


class LaunchError(ValueError):
    """The requested launch is impossible here; the message says what to change."""


# ----------------------------------------------------------------------------------------------
# Machine profiles
# ----------------------------------------------------------------------------------------------

# Aurora: 2 sockets x 52 cores; cores 0 and 52 are reserved for system services, and ALCF
# binds 12 ranks to 8 cores each, 6 ranks per socket: list:1-8:...:41-48:53-60:...:93-100.
_AURORA_SOCKET_FIRST_CORES = (1, 53)
_AURORA_CORES_PER_SOCKET = 48

# oneCCL settings ALCF lists as required for PyTorch DDP with oneCCL on Aurora, plus the
# libfabric settings for the Slingshot (CXI) network that keep large jobs from stalling.
AURORA_ENV = {
    "CCL_PROCESS_LAUNCHER": "pmix",
    "CCL_ATL_TRANSPORT": "mpi",
    "CCL_KVS_MODE": "mpi",
    "CCL_KVS_USE_MPI_RANKS": "1",
    "CCL_KVS_CONNECTION_TIMEOUT": "600",
    "CCL_CONFIGURATION": "cpu_gpu_dpcpp",
    "CCL_CONFIGURATION_PATH": "",
    "CCL_ALLREDUCE": "topo",
    "CCL_ALLREDUCE_SCALEOUT": "rabenseifner",
    "CCL_BCAST": "double_tree",
    "CCL_ZE_CACHE_OPEN_IPC_HANDLES_THRESHOLD": "1024",
    "FI_MR_CACHE_MONITOR": "userfaultfd",
    "FI_CXI_DEFAULT_CQ_SIZE": "1048576",
    "FI_CXI_RX_MATCH_MODE": "hybrid",
    "FI_CXI_OFLOW_BUF_SIZE": "8388608",
}

# NCCL over the AWS OFI plugin on Slingshot, as ALCF recommends for Polaris (its conda module
# sets the same values; they are repeated so a custom environment gets them too).
POLARIS_ENV = {
    "NCCL_NET_GDR_LEVEL": "PHB",
    "NCCL_CROSS_NIC": "1",
    "NCCL_COLLNET_ENABLE": "1",
    "NCCL_NET": "AWS Libfabric",
    "FI_CXI_DISABLE_HOST_REGISTER": "1",
    "FI_MR_CACHE_MONITOR": "userfaultfd",
    "FI_CXI_DEFAULT_CQ_SIZE": "131072",
}


def aurora_cpu_bind(ranks_per_node: int) -> list[str]:
    """`--cpu-bind` arguments for Aurora: equal core blocks, half the ranks on each socket.

    12 ranks give ALCF's `list:1-8:9-16:...:41-48:53-60:...:93-100`; an odd count (which
    cannot split evenly over the sockets) falls back to `--cpu-bind depth`.
    """
    per_socket, odd = divmod(ranks_per_node, 2)
    if odd or per_socket > _AURORA_CORES_PER_SOCKET:
        depth = max(1, 2 * _AURORA_CORES_PER_SOCKET // ranks_per_node)
        return ["--cpu-bind", "depth", "--depth", str(depth)]
    width = _AURORA_CORES_PER_SOCKET // per_socket
    blocks = [f"{first + i * width}-{first + (i + 1) * width - 1}"
              for first in _AURORA_SOCKET_FIRST_CORES for i in range(per_socket)]
    return ["--cpu-bind", "list:" + ":".join(blocks)]


def polaris_cpu_bind(ranks_per_node: int) -> list[str]:
    """`--cpu-bind depth --depth D`: Polaris's 32 cores shared evenly (8 per rank for 4 GPUs)."""
    return ["--cpu-bind", "depth", "--depth", str(max(1, 32 // ranks_per_node))]


@dataclass(frozen=True)
class MachineProfile:
    """What a machine needs to launch ranks and to submit a job."""

    name: str
    description: str
    ranks_per_node: int | None  # default ranks per node; None = one per visible accelerator
    cpu_bind: Callable[[int], list[str]] | None = None  # mpiexec binding args for P ranks/node
    env: Mapping[str, str] = field(default_factory=dict)  # defaults exported to every rank
    filesystems: str | None = None  # PBS `-l filesystems=`
    select_suffix: str = ""  # appended to PBS `-l select=N`
    software_setup: tuple[str, ...] = ()  # shell lines that load the PyTorch stack in a job
    queues: tuple[str, ...] = ()  # common queues (not exhaustive; ALCF changes them)
    mpiexec: bool = False  # launch with mpiexec even outside a batch job
    supervise: bool = False  # run each rank under auroragpt.distributed.supervise


PROFILES: dict[str, MachineProfile] = {
    "aurora": MachineProfile(
        name="aurora",
        description="ALCF Aurora: 6 Intel Data Center GPU Max 1550 (12 tiles) per node, "
                    "PBS Pro, Cray PALS mpiexec, oneCCL",
        ranks_per_node=12,
        cpu_bind=aurora_cpu_bind,
        env=AURORA_ENV,
        filesystems="home:flare",
        software_setup=("module use /soft/modulefiles", "module load frameworks"),
        queues=("debug", "debug-scaling", "prod", "prod-large"),
        mpiexec=True,
    ),
    "polaris": MachineProfile(
        name="polaris",
        description="ALCF Polaris: 4 NVIDIA A100 per node, PBS Pro, Cray PALS mpiexec, NCCL",
        ranks_per_node=4,
        cpu_bind=polaris_cpu_bind,
        env=POLARIS_ENV,
        filesystems="home:eagle",
        select_suffix=":system=polaris",
        software_setup=("module use /soft/modulefiles", "module load conda", "conda activate"),
        queues=("debug", "debug-scaling", "prod", "preemptable"),
        mpiexec=True,
    ),
    "mpich": MachineProfile(
        name="mpich",
        description="a cluster whose mpiexec is MPICH's Hydra (a PBS node file or --hostfile; "
                    "HYDRA_LAUNCHER/HYDRA_LAUNCHER_EXEC/HYDRA_IFACE say how to reach the nodes)",
        ranks_per_node=None,
        mpiexec=True,
        supervise=True,
    ),
    "local": MachineProfile(
        name="local",
        description="any other machine: a laptop or workstation, or a generic PBS/Slurm cluster",
        ranks_per_node=None,
    ),
}


def get_profile(name: str) -> MachineProfile:
    if name not in PROFILES:
        raise LaunchError(f"unknown machine {name!r}: expected one of {', '.join(PROFILES)}")
    return PROFILES[name]


# ----------------------------------------------------------------------------------------------
# Where are we?
# ----------------------------------------------------------------------------------------------


def detect_scheduler(env: Mapping[str, str]) -> str:
    """`pbs`, `slurm` or `local`: the batch system whose job this process runs in."""
    if env.get("PBS_NODEFILE") or env.get("PBS_JOBID"):
        return "pbs"
    if env.get("SLURM_JOB_ID"):
        return "slurm"
    return "local"


def detect_machine(env: Mapping[str, str], hostname: str) -> str:
    """Guess the profile from the host and PBS names (`aurora-uan-0012`, `12.polaris-pbs-01...`)."""
    clues = " ".join([hostname, env.get("PBS_O_HOST", ""), env.get("PBS_JOBID", ""),
                      env.get("PBS_SERVER", "")]).lower()
    for name in ("aurora", "polaris"):
        if name in clues:
            return name
    return "local"


def read_hostfile(path: str | Path) -> list[str]:
    """Host names from a PBS node file or MPI host file, each once, in file order.

    Blank lines and `#` comments are skipped, `host slots=4`-style suffixes ignored, and a
    host listed once per core (some PBS setups) counted once.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise LaunchError(f"{path}: cannot read the node file: {err.strerror or err}") from err
    hosts: list[str] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            host = line.split()[0].split(":")[0]
            if host not in hosts:
                hosts.append(host)
    if not hosts:
        raise LaunchError(f"{path}: the node file lists no hosts")
    return hosts


# ----------------------------------------------------------------------------------------------
# The plan
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LaunchPlan:
    """A launch command, the environment it adds, and the layout it produces."""

    argv: list[str]  # the command to execute
    env: dict[str, str]  # variables added to the current environment for the launch
    kind: str  # mpiexec, srun, torchrun or direct
    machine: str  # profile name
    scheduler: str  # pbs, slurm or local
    nodes: int
    ranks_per_node: int
    hosts: list[str] = field(default_factory=list)  # known hosts of the job (may be empty)

    @property
    def world_size(self) -> int:
        return self.nodes * self.ranks_per_node

    def command_line(self) -> str:
        """The command as one shell-quoted line."""
        return shlex.join(self.argv)

    def env_lines(self) -> list[str]:
        """`export NAME=value` lines for the added environment."""
        return [f"export {name}={shlex.quote(value)}" for name, value in self.env.items()]

    def summary(self) -> str:
        hosts = f" ({', '.join(self.hosts[:3])}{', ...' if len(self.hosts) > 3 else ''})" \
            if self.hosts else ""
        return (f"{self.kind} on {self.machine} [{self.scheduler}]: {self.nodes} node(s){hosts} "
                f"x {self.ranks_per_node} rank(s) = {self.world_size} rank(s)")


def build_plan(cmd: list[str], env: Mapping[str, str], machine: str = "local", *,
               nodes: int | None = None, ranks_per_node: int | None = None,
               hostfile: str | None = None, local_devices: int = 0,
               python: str = sys.executable) -> LaunchPlan:
    """Decide how to start `cmd` on every rank of this job.

    Args:
        cmd: the per-rank command, e.g. `["auroragpt", "train", "--preset", "7b"]`.
        env: the launching environment (os.environ), read for PBS/Slurm variables.
        machine: profile name (aurora, polaris, mpich, local).
        nodes: use this many nodes (default: all nodes of the job, or 1).
        ranks_per_node: ranks per node (default: the profile's, else one per accelerator).
        hostfile: host file to pass to mpiexec (default: PBS_NODEFILE inside PBS).
        local_devices: accelerators visible here, for the local default of ranks per node.
        python: interpreter that runs torchrun (local launches) or the rank supervisor.
    """
    if not cmd:
        raise LaunchError("no command to launch: put it after `--`, e.g. "
                          "`auroragpt launch -- auroragpt train --preset tiny`")
    profile = get_profile(machine)
    scheduler = detect_scheduler(env)
    hostfile = hostfile or (env.get("PBS_NODEFILE") if scheduler == "pbs" else None) or None
    hosts = _job_hosts(env, scheduler, hostfile)
    if nodes is not None and nodes < 1:
        raise LaunchError(f"--nodes {nodes}: must be >= 1")
    if nodes is not None and hosts and nodes > len(hosts):
        raise LaunchError(f"--nodes {nodes} but the job has only {len(hosts)} node(s)"
                          f"{f' in {hostfile}' if hostfile else ''}")
    nodes = nodes or len(hosts) or 1
    hosts = hosts[:nodes]
    ppn = ranks_per_node or profile.ranks_per_node or max(local_devices, 1)
    if ppn < 1:
        raise LaunchError(f"--ppn {ppn}: must be >= 1")

    if scheduler == "slurm":
        kind = "srun"
    elif scheduler == "pbs" or hostfile or profile.mpiexec:
        kind = "mpiexec"
    elif nodes > 1:
        raise LaunchError(f"--nodes {nodes} outside a PBS or Slurm job: give --hostfile to "
                          "launch over several machines with mpiexec")
    else:
        kind = "torchrun" if ppn > 1 else "direct"

    launch_env = {name: value for name, value in profile.env.items() if name not in env}
    if kind in ("mpiexec", "srun") and hosts:
        # For tools that read the env:// variables; auroragpt.distributed.setup() itself
        # prefers an mpi4py rendezvous on a fresh port when it can.
        launch_env.setdefault("MASTER_ADDR", env.get("MASTER_ADDR") or hosts[0])
        launch_env.setdefault("MASTER_PORT", env.get("MASTER_PORT")
                              or str(job_port(env.get("PBS_JOBID") or env.get("SLURM_JOB_ID"))))

    if kind == "mpiexec":
        argv = ["mpiexec", "--envall", "--np", str(nodes * ppn), "--ppn", str(ppn)]
        if hostfile:
            argv += ["--hostfile", str(hostfile)]
        if profile.cpu_bind is not None:
            argv += profile.cpu_bind(ppn)
        if profile.supervise:
            argv += [python, "-m", "auroragpt.distributed.supervise", "--"]
        argv += cmd
    elif kind == "srun":
        argv = ["srun", "--nodes", str(nodes), "--ntasks", str(nodes * ppn),
                "--ntasks-per-node", str(ppn), *cmd]
    elif kind == "torchrun":
        argv = [python, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                "--nproc-per-node", str(ppn), "--no-python", *cmd]
    else:
        argv = list(cmd)
    return LaunchPlan(argv=argv, env=launch_env, kind=kind, machine=profile.name,
                      scheduler=scheduler, nodes=nodes, ranks_per_node=ppn, hosts=hosts)


def _job_hosts(env: Mapping[str, str], scheduler: str, hostfile: str | None) -> list[str]:
    if hostfile:
        return read_hostfile(hostfile)
    if scheduler == "slurm" and env.get("SLURM_JOB_NODELIST"):
        return expand_hostlist(env["SLURM_JOB_NODELIST"])
    return []


def run_plan(plan: LaunchPlan) -> int:
    """Execute the plan with its environment; return the launcher's exit status.

    A launcher killed by a signal returns 128 + the signal number, as a shell reports it.
    """
    argv = list(plan.argv)
    if shutil.which(argv[0]) is None:
        # The venv's own mpiexec (mpich wheel) when the venv is not activated.
        sibling = Path(sys.executable).with_name(argv[0])
        if sibling.exists():
            argv[0] = str(sibling)
        else:
            raise LaunchError(f"{argv[0]!r} not found on PATH")
    completed = subprocess.run(argv, env={**os.environ, **plan.env}, check=False)
    return 128 - completed.returncode if completed.returncode < 0 else completed.returncode
