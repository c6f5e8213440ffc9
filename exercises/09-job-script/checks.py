"""Checks of exercise 09: node files parsed against an independent reader; the mpiexec argument
list and the whole job script run under bash with a stand-in `mpiexec` and `module` that record
what they were asked to do; the #PBS header parsed as PBS reads it."""

import json
import os
import random
import shlex
import stat
import subprocess

from auroragpt.exercise_checker.checking import CheckFailed, check

FORBIDDEN = {
    "auroragpt.distributed.jobscript.render_jobscript": "it is what you are writing by hand",
    "auroragpt.distributed.launcher.build_plan": "it is what you are writing by hand",
    "auroragpt.distributed.launcher.read_hostfile": "read the node file yourself",
}
COMMAND = ["python", "train.py", "--preset", "7b", "note=two words"]

_RECORDER = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ["RECORD"], "a") as out:
    out.write(json.dumps({"tool": os.path.basename(sys.argv[0]), "argv": sys.argv[1:],
                          "cwd": os.getcwd()}) + "\\n")
"""


def _hosts(rng: random.Random, count: int) -> list[str]:
    return [f"x4102c{rng.randint(0, 7)}s{i}b0n0.hostmgmt" for i in range(count)]


def _write_nodefile(path, hosts: list[str], rng: random.Random) -> None:
    """Each host once or more (PBS chunks), a blank line or two, trailing spaces."""
    lines = []
    for host in hosts:
        lines += [host + rng.choice(["", " ", "\t"])] * rng.randint(1, 3)
        if rng.random() < 0.3:
            lines.append("")
    path.write_text("\n".join(lines) + "\n")


def _stubs(workdir):
    """A bin/ folder whose `mpiexec` and `module` only record their arguments."""
    bin_dir = workdir / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("mpiexec", "module"):
        path = bin_dir / tool
        path.write_text(_RECORDER)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def _run(argv, workdir, extra_env=None) -> list[dict]:
    record = workdir / "record.jsonl"
    record.unlink(missing_ok=True)
    env = {**os.environ, "PATH": f"{_stubs(workdir)}:{os.environ['PATH']}",
           "RECORD": str(record), **(extra_env or {})}
    proc = subprocess.run(argv, env=env, cwd=workdir, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise CheckFailed(f"running it failed (exit {proc.returncode}): {proc.stderr.strip()[-400:]}")
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


def _mpiexec_args(argv: list[str]) -> dict:
    """--np / -n / -np, --ppn / -ppn, --hostfile / -hostfile / -f, then the command."""
    names = {"--np": "np", "-n": "np", "-np": "np", "--ppn": "ppn", "-ppn": "ppn",
             "--hostfile": "hostfile", "-hostfile": "hostfile", "-f": "hostfile"}
    found, rest = {}, list(argv)
    while rest and rest[0].startswith("-"):
        flag = rest.pop(0)
        value = flag.split("=", 1)[1] if "=" in flag else (rest.pop(0) if rest else "")
        key = names.get(flag.split("=", 1)[0])
        if key:
            found[key] = value
    found["command"] = rest
    return found


def _expect_launch(call: dict, hosts: int, ppn: int, nodefile, what: str) -> None:
    args = _mpiexec_args(call["argv"])
    for key in ("np", "ppn", "hostfile"):
        if key not in args:
            raise CheckFailed(f"{what}: mpiexec was not given --{key} (it got {call['argv']})")
    if args["np"] != str(hosts * ppn):
        raise CheckFailed(f"{what}: --np {args['np']}, but {hosts} distinct hosts x {ppn} "
                          f"ranks per node = {hosts * ppn}")
    if args["ppn"] != str(ppn):
        raise CheckFailed(f"{what}: --ppn {args['ppn']}, expected {ppn}")
    if os.path.realpath(args["hostfile"]) != os.path.realpath(nodefile):
        raise CheckFailed(f"{what}: --hostfile {args['hostfile']} is not the job's node file")
    if args["command"] != COMMAND:
        raise CheckFailed(f"{what}: mpiexec would run {args['command']}, expected {COMMAND} "
                          "(one argument each; is the command quoted?)")


@check("read_nodefile returns each host once, in order, without blank lines",
       hint="strip each line, skip empty ones, and keep only the first appearance of a host")
def nodefile_parsing(ctx):
    read_nodefile = ctx.function("read_nodefile")
    rng = random.Random(ctx.seed)
    for count in (1, 2, 5, 17):
        hosts = _hosts(rng, count)
        path = ctx.workdir / f"nodes{count}"
        _write_nodefile(path, hosts, rng)
        got = read_nodefile(str(path))
        if list(got) != hosts:
            raise CheckFailed(f"a node file of {count} hosts (some repeated, some blank lines): "
                              f"got {len(got)} entries, first ones {list(got)[:3]}")


@check("mpiexec_command starts ranks_per_node ranks on every host of the node file",
       hint="the total is the number of distinct hosts times the ranks per node")
def mpiexec_line(ctx):
    mpiexec_command = ctx.function("mpiexec_command")
    rng = random.Random(ctx.seed)
    for count, ppn in ((2, 12), (3, 4), (1, 1)):
        path = ctx.workdir / f"nodes{count}"
        _write_nodefile(path, _hosts(rng, count), rng)
        argv = [str(a) for a in mpiexec_command(str(path), ppn, list(COMMAND))]
        calls = [c for c in _run(argv, ctx.workdir) if c["tool"] == "mpiexec"]
        if len(calls) != 1:
            raise CheckFailed(f"the argument list does not start mpiexec: {argv[:3]}")
        _expect_launch(calls[0], count, ppn, path, f"{count} hosts x {ppn}")


def _pbs_directives(text: str) -> dict[str, str]:
    """#PBS options as PBS reads them: only before the first command line of the script."""
    found = {}
    for line in text.splitlines()[1:]:
        stripped = line.strip()
        if not stripped or (stripped.startswith("#") and not stripped.startswith("#PBS")):
            continue
        if not stripped.startswith("#PBS"):
            break
        words = shlex.split(stripped[4:])
        for flag, value in zip(words[::2], words[1::2], strict=False):
            if flag == "-l":
                for resource in value.split(","):
                    key, _, val = resource.partition("=")
                    found[key] = val
            else:
                found[flag] = value
    return found


@check("the #PBS header asks for the nodes, walltime, account and queue",
       hint="PBS reads #PBS lines only before the first command; walltime is HH:MM:SS")
def header(ctx):
    job_script = ctx.function("job_script")
    for walltime, expected in (("1:00:00", "01:00:00"), ("30:00", "00:30:00"), ("30", "00:30:00"),
                               ("12:05:09", "12:05:09")):
        text = job_script(4, walltime, "MYPROJ", "debug-scaling", list(COMMAND))
        if not text.startswith("#!/bin/bash"):
            raise CheckFailed("the script must start with #!/bin/bash")
        found = _pbs_directives(text)
        for key, want in (("select", "4"), ("walltime", expected), ("-A", "MYPROJ"),
                          ("-q", "debug-scaling")):
            if found.get(key) != want:
                raise CheckFailed(f"walltime {walltime!r}: PBS reads {key}={found.get(key)!r}, "
                                  f"expected {want!r}")


@check("the script, run as PBS runs it, starts the right ranks for the job's node file",
       hint="count the distinct hosts of $PBS_NODEFILE in bash when the script runs, "
            "not when you write it")
def script_runs(ctx):
    job_script = ctx.function("job_script")
    rng = random.Random(ctx.seed)
    script = ctx.workdir / "job.pbs"
    submit_dir = ctx.workdir / "submitted-from"
    submit_dir.mkdir()
    # The last case runs a 2-node script in a job of 3 hosts: only a script that reads the
    # node file when it runs (as the task asks) starts the ranks the job really has.
    for nodes, count, ppn in ((2, 2, 12), (5, 5, 4), (2, 3, 12)):
        script.write_text(job_script(nodes, "10:00", "P", "debug", list(COMMAND), ranks_per_node=ppn))
        syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        if syntax.returncode != 0:
            raise CheckFailed(f"bash -n: {syntax.stderr.strip()[-300:]}")
        nodefile = ctx.workdir / f"pbs_nodes{count}"
        _write_nodefile(nodefile, _hosts(rng, count), rng)
        calls = _run(["bash", str(script)], ctx.workdir,
                     {"PBS_NODEFILE": str(nodefile), "PBS_O_WORKDIR": str(submit_dir)})
        modules = [c["argv"] for c in calls if c["tool"] == "module"]
        launches = [c for c in calls if c["tool"] == "mpiexec"]
        if ["load", "frameworks"] not in modules:
            raise CheckFailed(f"the script did not run `module load frameworks` (module calls: {modules})")
        if len(launches) != 1:
            raise CheckFailed(f"the script called mpiexec {len(launches)} times, expected once")
        if os.path.realpath(launches[0]["cwd"]) != os.path.realpath(submit_dir):
            raise CheckFailed("mpiexec did not run in $PBS_O_WORKDIR (cd there first)")
        _expect_launch(launches[0], count, ppn, nodefile, f"a job of {count} hosts x {ppn}")
