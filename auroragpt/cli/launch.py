"""`auroragpt launch`, `auroragpt jobscript` and `auroragpt doctor`: start, submit and check jobs."""

from __future__ import annotations

import argparse
import os
import socket
import sys

from auroragpt.cli.args import positive_int

MACHINES = ("auto", "aurora", "polaris", "mpich", "local")


def register(subparsers) -> None:
    launch = subparsers.add_parser(
        "launch",
        help="start a command on every rank (mpiexec in PBS, srun in Slurm, torchrun locally)",
        description="Run CMD on every rank of this job. Inside PBS the hosts come from "
                    "PBS_NODEFILE; Aurora and Polaris get ALCF's CPU binding and network "
                    "environment; mpich (any cluster with MPICH's Hydra mpiexec) names the "
                    "rank and host of a rank that fails. Example: auroragpt launch --machine "
                    "aurora -- auroragpt train --preset 7b",
    )
    launch.add_argument("--machine", choices=MACHINES, default="auto",
                        help="machine profile (auto: guessed from host and PBS names)")
    launch.add_argument("--nodes", type=positive_int,
                        help="use this many nodes (default: all in the job)")
    launch.add_argument("--ppn", "--nproc-per-node", "--nproc", dest="ppn", type=positive_int,
                        help="ranks per node (default: 12 on Aurora, 4 on Polaris, "
                             "else one per accelerator or 1)")
    launch.add_argument("--hostfile", help="host file for mpiexec (default: PBS_NODEFILE)")
    launch.add_argument("--dry-run", action="store_true",
                        help="print the command (stdout) and its environment (stderr); run nothing")
    launch.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD ...")
    launch.set_defaults(func=_launch)

    jobscript = subparsers.add_parser(
        "jobscript", help="write a PBS script for Aurora or Polaris that runs CMD via launch",
        description="Example: auroragpt jobscript --machine aurora --nodes 2 --queue debug "
                    "--walltime 1:00:00 --account MYPROJ -o train.pbs -- auroragpt train "
                    "--preset 1b; then qsub train.pbs",
    )
    jobscript.add_argument("--machine", choices=MACHINES[1:], required=True)
    jobscript.add_argument("--nodes", type=positive_int, required=True,
                           help="nodes to request (select=)")
    jobscript.add_argument("--queue", "-q", required=True, help="e.g. debug, debug-scaling, prod")
    jobscript.add_argument("--walltime", required=True, help="[[H:]M:]S, e.g. 1:00:00")
    jobscript.add_argument("--account", "-A", default=os.environ.get("AURORAGPT_ACCOUNT"),
                           help="project allocation (default: $AURORAGPT_ACCOUNT)")
    jobscript.add_argument("--name", default="auroragpt", help="PBS job name")
    jobscript.add_argument("--filesystems", help="default: home:flare (Aurora), home:eagle (Polaris)")
    jobscript.add_argument("--ppn", type=positive_int, help="ranks per node (default: the machine's)")
    jobscript.add_argument("--venv", default=_active_venv(),
                           help="virtual environment to activate in the job (default: the active one)")
    jobscript.add_argument("--no-venv", dest="venv", action="store_const", const=None,
                           help="do not activate a virtual environment")
    jobscript.add_argument("--output", "-o", help="write here (default: print to stdout)")
    jobscript.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD ...")
    jobscript.set_defaults(func=_jobscript)

    doctor = subparsers.add_parser(
        "doctor", help="versions, devices, backend and an all-reduce test across the ranks",
        description="Run alone for versions and devices; under torchrun, mpiexec or "
                    "`auroragpt launch -- auroragpt doctor` it also checks and times "
                    "all-reduce across every rank.",
    )
    doctor.add_argument("--sizes", help="comma-separated message sizes, e.g. 4K,1M,64M")
    doctor.add_argument("--iters", type=positive_int, default=20, help="timed all-reduces per size")
    doctor.set_defaults(func=_doctor)


def _command(args) -> list[str]:
    cmd = list(args.cmd)
    return cmd[1:] if cmd[:1] == ["--"] else cmd


def _launch(args) -> int:
    from auroragpt.distributed.launcher import (
        LaunchError,
        build_plan,
        detect_machine,
        get_profile,
        run_plan,
    )

    machine = detect_machine(os.environ, socket.gethostname()) if args.machine == "auto" \
        else args.machine
    local_devices = 0
    if get_profile(machine).ranks_per_node is None and args.ppn is None:  # one per accelerator
        import torch

        local_devices = torch.accelerator.device_count() if torch.accelerator.is_available() else 0
    try:
        plan = build_plan(_command(args), os.environ, machine, nodes=args.nodes,
                          ranks_per_node=args.ppn, hostfile=args.hostfile,
                          local_devices=local_devices)
        if args.dry_run:
            print(f"# {plan.summary()}", file=sys.stderr)
            for line in plan.env_lines():
                print(line, file=sys.stderr)
            print(plan.command_line())
            return 0
        print(f"auroragpt launch: {plan.summary()}", file=sys.stderr, flush=True)
        return run_plan(plan)
    except LaunchError as err:
        print(f"auroragpt launch: {err}", file=sys.stderr)
        return 2


def _jobscript(args) -> int:
    from auroragpt.atomic import atomic_write_text
    from auroragpt.distributed.jobscript import JobSpec, render_jobscript
    from auroragpt.distributed.launcher import LaunchError

    spec = JobSpec(machine=args.machine, nodes=args.nodes, queue=args.queue,
                   walltime=args.walltime, command=_command(args), account=args.account,
                   job_name=args.name, filesystems=args.filesystems, venv=args.venv,
                   ranks_per_node=args.ppn)
    try:
        text = render_jobscript(spec)
    except LaunchError as err:
        print(f"auroragpt jobscript: {err}", file=sys.stderr)
        return 2
    if spec.account is None:
        print("auroragpt jobscript: no --account given: submit with `qsub -A <project> ...`",
              file=sys.stderr)
    if not args.output:
        sys.stdout.write(text)
        return 0
    atomic_write_text(args.output, text, mode=0o755)
    print(f"wrote {args.output}; submit with: qsub {args.output}", file=sys.stderr)
    return 0


def _doctor(args) -> int:
    from auroragpt.distributed import setup, teardown
    from auroragpt.distributed.doctor import format_report, parse_size, run_doctor

    try:
        sizes = tuple(parse_size(s) for s in args.sizes.split(",")) if args.sizes else None
    except ValueError as err:
        print(f"auroragpt doctor: --sizes: {err}", file=sys.stderr)
        return 2
    info = setup()
    try:
        report = run_doctor(info, sizes=sizes, iters=args.iters)
        if info.is_main:
            print(format_report(report), flush=True)
        return 0 if report.ok else 1
    finally:
        teardown()


def _active_venv() -> str | None:
    return sys.prefix if sys.prefix != sys.base_prefix else None
