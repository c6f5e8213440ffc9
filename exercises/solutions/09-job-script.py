"""Reference solution of exercise 09: node file, mpiexec line and PBS script by hand."""

import shlex


def read_nodefile(path: str) -> list[str]:
    with open(path) as handle:
        hosts = [line.strip() for line in handle]
    return list(dict.fromkeys(h for h in hosts if h))


def mpiexec_command(nodefile: str, ranks_per_node: int, command: list[str]) -> list[str]:
    total = len(read_nodefile(nodefile)) * ranks_per_node
    return ["mpiexec", "--np", str(total), "--ppn", str(ranks_per_node), "--hostfile", nodefile,
            *command]


def _walltime(text: str) -> str:
    parts = [int(p) for p in text.split(":")]
    if len(parts) == 1:
        parts = [0, parts[0], 0]  # whole minutes
    while len(parts) < 3:
        parts.insert(0, 0)
    seconds = parts[0] * 3600 + parts[1] * 60 + parts[2]
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def job_script(nodes: int, walltime: str, account: str, queue: str, command: list[str],
               ranks_per_node: int = 12) -> str:
    return "\n".join([
        "#!/bin/bash",
        f"#PBS -A {account}",
        f"#PBS -q {queue}",
        f"#PBS -l select={nodes}",
        f"#PBS -l walltime={_walltime(walltime)}",
        "#PBS -l filesystems=home:flare",
        "set -euo pipefail",
        'cd "$PBS_O_WORKDIR"',
        "module load frameworks",
        "HOSTS=$(awk 'NF && !seen[$1]++' \"$PBS_NODEFILE\" | wc -l)",
        f"PPN={ranks_per_node}",
        'mpiexec --np $((HOSTS * PPN)) --ppn "$PPN" --hostfile "$PBS_NODEFILE" '
        + shlex.join(command),
        "",
    ])
