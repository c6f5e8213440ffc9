"""Exercise 09: a PBS job script for N nodes, written by hand.

Fill in the functions below, then check your work from the repository root:

    auroragpt exercises check 09
    auroragpt exercises check 09 --file my_copy.py

auroragpt.distributed.jobscript and auroragpt.distributed.launcher do this for real; the checks
refuse calls to them from your file.
"""


def read_nodefile(path: str) -> list[str]:
    """The job's hosts, each once, in the order of first appearance; blank lines ignored."""
    # TODO: read, strip, drop blanks, drop repeats keeping the order
    raise NotImplementedError("TODO: read_nodefile")


def mpiexec_command(nodefile: str, ranks_per_node: int, command: list[str]) -> list[str]:
    """["mpiexec", "--np", total, "--ppn", ranks_per_node, "--hostfile", nodefile, *command]."""
    # TODO: total ranks = hosts x ranks per node
    raise NotImplementedError("TODO: mpiexec_command")


def job_script(nodes: int, walltime: str, account: str, queue: str, command: list[str],
               ranks_per_node: int = 12) -> str:
    """A bash PBS script that, when run, starts ranks_per_node ranks on every host of the job.

    #PBS lines: -A account, -q queue, -l select=nodes, -l walltime=HH:MM:SS. The body changes
    to $PBS_O_WORKDIR, runs `module load frameworks`, and calls mpiexec with --np, --ppn and
    --hostfile computed from $PBS_NODEFILE at run time (hosts counted once each).
    """
    # TODO 1: normalise the walltime to HH:MM:SS
    # TODO 2: the #PBS header
    # TODO 3: the body: cd, module load, count the hosts, mpiexec ... (quote the command)
    raise NotImplementedError("TODO: job_script")
