"""Launch lines built from fake node files and scheduler environments.

The references are ALCF's documented settings (Aurora's 12-rank CPU list, the oneCCL and NCCL
variables) and the mpiexec/srun/torchrun command lines written out by hand.
"""

import shlex

import pytest

from auroragpt.cli import main
from auroragpt.distributed.launcher import (
    LaunchError,
    aurora_cpu_bind,
    build_plan,
    detect_machine,
    detect_scheduler,
    polaris_cpu_bind,
    read_hostfile,
)

# ALCF Aurora user guide, "MPI rank and thread binding to cores": 12 ranks per node.
ALCF_AURORA_LIST = "list:1-8:9-16:17-24:25-32:33-40:41-48:53-60:61-68:69-76:77-84:85-92:93-100"
AURORA_JOBID = "8675309.aurora-pbs-0001.hostmgmt.cm.aurora.alcf.anl.gov"
POLARIS_JOBID = "4242.polaris-pbs-01.hsn.cm.polaris.alcf.anl.gov"
CMD = ["auroragpt", "train", "--preset", "7b"]


@pytest.fixture
def nodefile(tmp_path):
    path = tmp_path / "nodefile"
    path.write_text("x4102c5s0b0n0.hostmgmt2102.cm.aurora.alcf.anl.gov\n"
                    "x4102c5s1b0n0.hostmgmt2102.cm.aurora.alcf.anl.gov\n"
                    "x4102c5s2b0n0.hostmgmt2102.cm.aurora.alcf.anl.gov\n")
    return path


def test_aurora_cpu_bind_matches_alcf():
    assert aurora_cpu_bind(12) == ["--cpu-bind", ALCF_AURORA_LIST]
    # ALCF's one-rank-per-GPU (6 per node) list
    assert aurora_cpu_bind(6) == ["--cpu-bind", "list:1-16:17-32:33-48:53-68:69-84:85-100"]
    assert aurora_cpu_bind(3) == ["--cpu-bind", "depth", "--depth", "32"]


@pytest.mark.parametrize("ranks", [2, 4, 6, 8, 12, 16, 24])
def test_aurora_cpu_bind_avoids_reserved_cores_and_balances_sockets(ranks):
    blocks = aurora_cpu_bind(ranks)[1].removeprefix("list:").split(":")
    cores = []
    for block in blocks:
        lo, hi = map(int, block.split("-"))
        cores.append(set(range(lo, hi + 1)))
    assert len(cores) == ranks
    assert all(not (a & b) for i, a in enumerate(cores) for b in cores[i + 1:])
    assert not set().union(*cores) & {0, 52}  # reserved for system services
    assert sum(max(c) < 52 for c in cores) == ranks // 2  # half the ranks on socket 0
    assert len({len(c) for c in cores}) == 1


def test_polaris_cpu_bind():
    assert polaris_cpu_bind(4) == ["--cpu-bind", "depth", "--depth", "8"]


def test_read_hostfile(tmp_path):
    path = tmp_path / "hosts"
    path.write_text("# comment\nnodeA slots=4\n\nnodeA\nnodeB:2\n  nodeC  # trailing\n")
    assert read_hostfile(path) == ["nodeA", "nodeB", "nodeC"]
    with pytest.raises(LaunchError, match="missing.*cannot read"):
        read_hostfile(tmp_path / "missing")
    (tmp_path / "empty").write_text("\n# nothing\n")
    with pytest.raises(LaunchError, match="empty.*no hosts"):
        read_hostfile(tmp_path / "empty")


def test_detect_scheduler_and_machine():
    assert detect_scheduler({"PBS_JOBID": AURORA_JOBID}) == "pbs"
    assert detect_scheduler({"SLURM_JOB_ID": "1"}) == "slurm"
    assert detect_scheduler({}) == "local"
    assert detect_machine({"PBS_JOBID": AURORA_JOBID}, "x4102c5s0b0n0") == "aurora"
    assert detect_machine({}, "aurora-uan-0012") == "aurora"
    assert detect_machine({"PBS_JOBID": POLARIS_JOBID}, "x3005c0s13b0n0") == "polaris"
    assert detect_machine({}, "my-laptop") == "local"


def test_aurora_pbs_job(nodefile):
    env = {"PBS_NODEFILE": str(nodefile), "PBS_JOBID": AURORA_JOBID}
    plan = build_plan(CMD, env, "aurora")
    assert plan.argv == ["mpiexec", "--envall", "--np", "36", "--ppn", "12",
                         "--hostfile", str(nodefile), "--cpu-bind", ALCF_AURORA_LIST, *CMD]
    assert (plan.kind, plan.scheduler, plan.nodes, plan.world_size) == ("mpiexec", "pbs", 3, 36)
    for name, value in {"CCL_PROCESS_LAUNCHER": "pmix", "CCL_ATL_TRANSPORT": "mpi",
                        "CCL_KVS_MODE": "mpi", "FI_MR_CACHE_MONITOR": "userfaultfd"}.items():
        assert plan.env[name] == value
    assert plan.env["MASTER_ADDR"] == "x4102c5s0b0n0.hostmgmt2102.cm.aurora.alcf.anl.gov"
    assert plan.env["MASTER_PORT"] == str(29500 + 8675309 % 2000)


def test_node_subset_and_limits(nodefile):
    env = {"PBS_NODEFILE": str(nodefile), "PBS_JOBID": AURORA_JOBID}
    plan = build_plan(CMD, env, "aurora", nodes=2, ranks_per_node=6)
    assert plan.argv[:6] == ["mpiexec", "--envall", "--np", "12", "--ppn", "6"]
    assert plan.argv[plan.argv.index("--cpu-bind") + 1] == "list:1-16:17-32:33-48:53-68:69-84:85-100"
    with pytest.raises(LaunchError, match="--nodes 4 but the job has only 3 node"):
        build_plan(CMD, env, "aurora", nodes=4)


def test_exported_values_win_over_profile_defaults(nodefile):
    env = {"PBS_NODEFILE": str(nodefile), "CCL_ATL_TRANSPORT": "ofi", "MASTER_PORT": "1234"}
    plan = build_plan(CMD, env, "aurora")
    assert "CCL_ATL_TRANSPORT" not in plan.env
    assert plan.env["MASTER_PORT"] == "1234"


def test_polaris_pbs_job(tmp_path):
    nodes = tmp_path / "nodes"
    nodes.write_text("x3005c0s13b0n0.hsn.cm.polaris.alcf.anl.gov\n"
                     "x3005c0s19b0n0.hsn.cm.polaris.alcf.anl.gov\n")
    plan = build_plan(CMD, {"PBS_NODEFILE": str(nodes), "PBS_JOBID": POLARIS_JOBID}, "polaris")
    assert plan.argv == ["mpiexec", "--envall", "--np", "8", "--ppn", "4", "--hostfile",
                         str(nodes), "--cpu-bind", "depth", "--depth", "8", *CMD]
    assert plan.env["NCCL_NET"] == "AWS Libfabric"
    assert plan.env["NCCL_NET_GDR_LEVEL"] == "PHB"
    assert "CCL_PROCESS_LAUNCHER" not in plan.env


def test_aurora_outside_a_job_still_prints_the_line():
    plan = build_plan(CMD, {}, "aurora", nodes=2)
    assert plan.argv == ["mpiexec", "--envall", "--np", "24", "--ppn", "12", "--cpu-bind",
                         ALCF_AURORA_LIST, *CMD]
    assert "MASTER_ADDR" not in plan.env  # no hosts known


def test_generic_pbs_slurm_and_local(nodefile):
    generic = build_plan(CMD, {"PBS_NODEFILE": str(nodefile)}, "local", local_devices=2)
    assert generic.argv == ["mpiexec", "--envall", "--np", "6", "--ppn", "2", "--hostfile",
                            str(nodefile), *CMD]
    slurm = build_plan(CMD, {"SLURM_JOB_ID": "77", "SLURM_JOB_NODELIST": "nid[001-002]"},
                       "local", ranks_per_node=4)
    assert slurm.argv == ["srun", "--nodes", "2", "--ntasks", "8", "--ntasks-per-node", "4", *CMD]
    assert slurm.env == {"MASTER_ADDR": "nid001", "MASTER_PORT": "29577"}
    local = build_plan(CMD, {}, "local", ranks_per_node=2, python="py")
    assert local.argv == ["py", "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                          "--nproc-per-node", "2", "--no-python", *CMD]
    assert build_plan(CMD, {}, "local").argv == CMD
    with pytest.raises(LaunchError, match="outside a PBS or Slurm job"):
        build_plan(CMD, {}, "local", nodes=2)
    with pytest.raises(LaunchError, match="no command"):
        build_plan([], {}, "local")
    with pytest.raises(LaunchError, match="unknown machine 'frontier'"):
        build_plan(CMD, {}, "frontier")


def test_cli_dry_run_inside_a_fake_aurora_job(nodefile, clean_environ, capsys):
    clean_environ.setenv("PBS_NODEFILE", str(nodefile))
    clean_environ.setenv("PBS_JOBID", AURORA_JOBID)
    assert main(["launch", "--dry-run", "--", *CMD]) == 0  # machine guessed from PBS_JOBID
    out, err = capsys.readouterr()
    assert shlex.split(out) == ["mpiexec", "--envall", "--np", "36", "--ppn", "12",
                                "--hostfile", str(nodefile), "--cpu-bind", ALCF_AURORA_LIST,
                                *CMD]
    assert "export CCL_PROCESS_LAUNCHER=pmix" in err.splitlines()
    assert "3 node(s)" in err


def test_cli_reports_launch_errors(clean_environ, capsys, tmp_path):
    clean_environ.setenv("PBS_NODEFILE", str(tmp_path / "gone"))
    assert main(["launch", "--machine", "aurora", "--dry-run", "--", "true"]) == 2
    assert "gone: cannot read the node file" in capsys.readouterr().err
