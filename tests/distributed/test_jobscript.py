"""PBS scripts: directives as ALCF documents them, valid bash, and a real run in a fake PBS job."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from multiprocess_helpers import PYTHON, child_env, run

from auroragpt.cli import main
from auroragpt.distributed.jobscript import JobSpec, normalize_walltime, render_jobscript
from auroragpt.distributed.launcher import LaunchError

CMD = ["auroragpt", "train", "--preset", "7b", "train.max_steps=100"]

WORKER = Path(__file__).with_name("worker.py")


@pytest.mark.parametrize("text, normalized", [
    ("1:00:00", "01:00:00"), ("30:00", "00:30:00"), ("90", "00:01:30"), ("24:00:00", "24:00:00"),
])
def test_walltime(text, normalized):
    assert normalize_walltime(text) == normalized


@pytest.mark.parametrize("text", ["abc", "0", "1:90:00", "1:00:00:00", "-5"])
def test_bad_walltime(text):
    with pytest.raises(LaunchError, match="--walltime"):
        normalize_walltime(text)


def test_aurora_script():
    text = render_jobscript(JobSpec("aurora", nodes=2, queue="debug", walltime="1:00:00",
                                    command=CMD, account="MyProj", venv="/lus/flare/me/.venv"))
    lines = text.splitlines()
    assert lines[0] == "#!/bin/bash -l"
    for expected in ["#PBS -A MyProj", "#PBS -q debug", "#PBS -l select=2",
                     "#PBS -l place=scatter", "#PBS -l walltime=01:00:00",
                     "#PBS -l filesystems=home:flare", "module load frameworks",
                     "source /lus/flare/me/.venv/bin/activate"]:
        assert expected in lines
    assert lines[-1] == ("auroragpt launch --machine aurora -- auroragpt train --preset 7b "
                         "train.max_steps=100")
    # PBS reads directives only before the first command
    first_command = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    assert all(i < first_command for i, line in enumerate(lines) if line.startswith("#PBS"))


def test_polaris_script_and_no_account():
    text = render_jobscript(JobSpec("polaris", nodes=4, queue="prod", walltime="30:00",
                                    command=["python", "my script.py"], ranks_per_node=2))
    lines = text.splitlines()
    for expected in ["#PBS -l select=4:system=polaris", "#PBS -l filesystems=home:eagle",
                     "module load conda", "conda activate", "#PBS -l walltime=00:30:00"]:
        assert expected in lines
    assert not any(line.startswith("#PBS -A") for line in lines)
    assert lines[-1] == "auroragpt launch --machine polaris --ppn 2 -- python 'my script.py'"


@pytest.mark.parametrize("field, value, message", [
    ("nodes", 0, "--nodes 0"), ("queue", "de bug", "--queue"), ("account", "a;b", "--account"),
    ("filesystems", "home,flare", "--filesystems"), ("job_name", "1job", "--name"),
    ("command", [], "no command"),
])
def test_bad_specs(field, value, message):
    spec = dict(machine="aurora", nodes=1, queue="debug", walltime="10:00", command=CMD)
    spec[field] = value
    with pytest.raises(LaunchError, match=message):
        render_jobscript(JobSpec(**spec))


@pytest.mark.parametrize("machine", ["aurora", "polaris", "local"])
def test_scripts_are_valid_bash(machine, tmp_path):
    script = tmp_path / "job.pbs"
    script.write_text(render_jobscript(JobSpec(machine, 2, "debug", "10:00", CMD, "proj",
                                               venv="/tmp/my env")))
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_cli_writes_an_executable_script(tmp_path, capsys):
    out = tmp_path / "train.pbs"
    assert main(["jobscript", "--machine", "aurora", "--nodes", "2", "--queue", "debug",
                 "--walltime", "1:00:00", "--no-venv", "-o", str(out), "--", *CMD]) == 0
    assert os.access(out, os.X_OK)
    assert out.read_text() == render_jobscript(JobSpec("aurora", 2, "debug", "1:00:00", CMD))
    assert "qsub -A <project>" in capsys.readouterr().err


def test_script_runs_in_a_fake_pbs_job(tmp_path):
    """bash runs the generated script as PBS would: launch reads PBS_NODEFILE, mpiexec starts
    2 ranks of the venv's MPI, setup() meets through mpi4py, and the all-reduce is right."""
    nodefile = tmp_path / "nodefile"
    nodefile.write_text("localhost\n")
    script = tmp_path / "job.pbs"
    spec = JobSpec("local", 1, "debug", "5:00", [PYTHON, str(WORKER), "collectives"],
                   venv=sys.prefix, ranks_per_node=2)
    script.write_text(render_jobscript(spec))
    env = child_env(PBS_NODEFILE=str(nodefile), PBS_JOBID="77.fake-pbs",
                    PBS_O_WORKDIR=str(tmp_path))
    result = run(["bash", str(script)], env=env)
    assert result.returncode == 0, result.stderr
    ranks = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert sorted(r["rank"] for r in ranks) == [0, 1]
    assert all(r["launcher"] == "pmi" and r["all_reduce"] == 3.0 for r in ranks)  # 1 + 2
    assert "job 77.fake-pbs: 1 node(s)" in result.stdout
