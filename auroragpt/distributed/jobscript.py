"""Write a PBS Pro batch script for Aurora or Polaris that a user can `qsub` as is.

The script loads the machine's PyTorch stack, activates the project's virtual environment and
runs `auroragpt launch --machine M -- CMD`, which reads PBS_NODEFILE when the job starts; so
the node count lives in one place (`select=`), and the `mpiexec` line is built by the same
tested code that `auroragpt launch --dry-run` shows.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from auroragpt.distributed.launcher import LaunchError, get_profile


@dataclass(frozen=True)
class JobSpec:
    """What to ask PBS for and what to run."""

    machine: str  # aurora, polaris or local (generic PBS)
    nodes: int  # PBS `select=`
    queue: str  # e.g. debug, debug-scaling, prod
    walltime: str  # [[H:]M:]S, e.g. 1:00:00 or 30:00
    command: list[str]  # the per-rank command
    account: str | None = None  # project allocation (`-A`); None = give it to qsub
    job_name: str = "auroragpt"
    filesystems: str | None = None  # default: the profile's (home:flare, home:eagle)
    venv: str | None = None  # virtual environment to activate in the job
    ranks_per_node: int | None = None  # default: the profile's (12 on Aurora, 4 on Polaris)


def normalize_walltime(walltime: str) -> str:
    """PBS walltime `[[hours:]minutes:]seconds` as HH:MM:SS; `30:00` is thirty minutes."""
    parts = walltime.strip().split(":")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise LaunchError(f"--walltime {walltime!r}: expected [[H:]M:]S such as 1:00:00 or 30:00")
    seconds = [int(p) for p in parts]
    hours, minutes, secs = [0] * (3 - len(seconds)) + seconds
    if len(parts) > 1 and secs >= 60 or len(parts) > 2 and minutes >= 60:
        raise LaunchError(f"--walltime {walltime!r}: minutes and seconds must be below 60")
    total = hours * 3600 + minutes * 60 + secs
    if total <= 0:
        raise LaunchError(f"--walltime {walltime!r}: must be longer than zero")
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def render_jobscript(spec: JobSpec) -> str:
    """The text of the PBS script."""
    profile = get_profile(spec.machine)
    if spec.nodes < 1:
        raise LaunchError(f"--nodes {spec.nodes}: must be >= 1")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", spec.queue):
        raise LaunchError(f"--queue {spec.queue!r}: expected a queue name such as "
                          f"{', '.join(profile.queues) or 'debug'}")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]{0,235}", spec.job_name):
        raise LaunchError(f"--name {spec.job_name!r}: PBS job names start with a letter and "
                          "hold letters, digits, '_', '.', '-'")
    if spec.account is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", spec.account):
        raise LaunchError(f"--account {spec.account!r}: expected a project name")
    filesystems = spec.filesystems or profile.filesystems
    if filesystems is not None and not re.fullmatch(r"[a-z0-9_]+(:[a-z0-9_]+)*", filesystems):
        raise LaunchError(f"--filesystems {filesystems!r}: expected names joined by ':', "
                          "e.g. home:flare")
    if not spec.command:
        raise LaunchError("no command for the job: put it after `--`")
    walltime = normalize_walltime(spec.walltime)

    lines = ["#!/bin/bash -l",
             f"# {profile.name} job written by `auroragpt jobscript`; submit with: qsub <this file>"]
    if spec.account is None:
        lines.append("# No project given: submit with `qsub -A <project> <this file>`.")
    lines.append(f"#PBS -N {spec.job_name}")
    if spec.account is not None:
        lines.append(f"#PBS -A {spec.account}")
    lines += [
        f"#PBS -q {spec.queue}",
        f"#PBS -l select={spec.nodes}{profile.select_suffix}",
        "#PBS -l place=scatter",
        f"#PBS -l walltime={walltime}",
    ]
    if filesystems:
        lines.append(f"#PBS -l filesystems={filesystems}")
    lines += ["#PBS -k doe", "#PBS -j oe", "", "set -euo pipefail", 'cd "${PBS_O_WORKDIR}"', ""]
    if profile.software_setup:
        lines += ["# The machine's PyTorch stack (torch, mpi4py, oneCCL / NCCL).",
                  "set +u  # module and conda scripts read unset variables",
                  *profile.software_setup, "set -u"]
    if spec.venv:
        lines.append(f"source {shlex.quote(spec.venv.rstrip('/') + '/bin/activate')}")
    lines += ["", 'echo "job ${PBS_JOBID}: $(wc -l < "${PBS_NODEFILE}") node(s)"']
    launch = ["auroragpt", "launch", "--machine", profile.name]
    if spec.ranks_per_node:
        launch += ["--ppn", str(spec.ranks_per_node)]
    lines.append(shlex.join([*launch, "--", *spec.command]))
    return "\n".join(lines) + "\n"
