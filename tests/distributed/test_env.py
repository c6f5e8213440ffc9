"""Launcher, rank, device and backend decisions, one fake environment per launcher.

Each expected value is written out from the launcher's documented variables, not computed.
"""

import pytest

from auroragpt.distributed.env import (
    Accelerators,
    DistEnvError,
    MpiWorld,
    RankInfo,
    choose_backend,
    choose_device,
    detect_launcher,
    discover_ranks,
    expand_hostlist,
    expand_tasks_per_node,
    job_port,
    slurm_rendezvous,
)

TORCHRUN = {"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4",
            "MASTER_ADDR": "node0", "MASTER_PORT": "29500", "TORCHELASTIC_RUN_ID": "abc"}
OPENMPI = {"OMPI_COMM_WORLD_RANK": "5", "OMPI_COMM_WORLD_SIZE": "6",
           "OMPI_COMM_WORLD_LOCAL_RANK": "2", "OMPI_COMM_WORLD_LOCAL_SIZE": "3"}
# Aurora's PALS mpiexec: rank 13 of 2 nodes x 12, the second tile-rank of node 1.
PALS = {"PALS_RANKID": "13", "PALS_LOCAL_RANKID": "1", "PALS_LOCAL_SIZE": "12",
        "PALS_NODEID": "1", "PMI_RANK": "13", "PMI_SIZE": "24"}
HYDRA = {"PMI_RANK": "1", "PMI_SIZE": "2", "MPI_LOCALRANKID": "1", "MPI_LOCALNRANKS": "2",
         "PMI_FD": "9"}
CRAY_PMI = {"PMI_RANK": "6", "PMI_SIZE": "8", "PMI_LOCAL_RANK": "2", "PMI_LOCAL_SIZE": "4"}
SLURM_STEP = {"SLURM_PROCID": "5", "SLURM_STEP_NUM_TASKS": "8", "SLURM_LOCALID": "1",
              "SLURM_NODEID": "1", "SLURM_STEP_TASKS_PER_NODE": "4(x2)", "SLURM_JOB_ID": "4321",
              "SLURM_STEP_NODELIST": "nid[000010-000011]", "SLURM_NTASKS": "8"}
SLURM_BATCH = {"SLURM_PROCID": "0", "SLURM_NTASKS": "8", "SLURM_JOB_ID": "4321",
               "SLURM_JOB_NODELIST": "nid[000010-000011]"}


@pytest.mark.parametrize("env, launcher", [
    ({}, "single"),
    (TORCHRUN, "torchrun"),
    ({"RANK": "0", "WORLD_SIZE": "2"}, "env"),
    (OPENMPI, "openmpi"),
    (PALS, "pals"),
    (HYDRA, "pmi"),
    (CRAY_PMI, "pmi"),
    ({"PMIX_RANK": "0", "PMIX_NAMESPACE": "prterun-1"}, "pmix"),
    (SLURM_STEP, "slurm"),
    (SLURM_BATCH, "single"),  # the batch script itself is one process, not rank 0 of 8
    ({**HYDRA, **TORCHRUN}, "torchrun"),  # torchrun started by mpiexec: its workers win
])
def test_detect_launcher(env, launcher):
    assert detect_launcher(env) == launcher


@pytest.mark.parametrize("env, expected", [
    ({}, RankInfo(0, 1, 0, 1, "single")),
    (TORCHRUN, RankInfo(3, 8, 1, 4, "torchrun")),
    (OPENMPI, RankInfo(5, 6, 2, 3, "openmpi")),
    (PALS, RankInfo(13, 24, 1, 12, "pals")),
    (HYDRA, RankInfo(1, 2, 1, 2, "pmi")),
    (CRAY_PMI, RankInfo(6, 8, 2, 4, "pmi")),
    (SLURM_STEP, RankInfo(5, 8, 1, 4, "slurm")),
    (SLURM_BATCH, RankInfo(0, 1, 0, 1, "single")),
])
def test_discover_ranks_from_the_environment(env, expected):
    assert discover_ranks(env) == expected


def test_mpi_fills_what_the_launcher_leaves_out():
    pmix = {"PMIX_RANK": "3"}
    with pytest.raises(DistEnvError, match="mpi4py"):
        discover_ranks(pmix)
    assert discover_ranks(pmix, MpiWorld(rank=3, size=8, local_rank=1, local_size=2)) == \
        RankInfo(3, 8, 1, 2, "pmix")
    pals_without_size = {"PALS_RANKID": "2", "PALS_LOCAL_RANKID": "2"}
    assert discover_ranks(pals_without_size, MpiWorld(2, 4, 2, 4)) == RankInfo(2, 4, 2, 4, "pals")


def test_mismatched_mpi_is_named():
    # An mpiexec from another MPI starts every rank as a singleton of mpi4py's MPI.
    with pytest.raises(DistEnvError, match="different MPI"):
        discover_ranks(HYDRA, MpiWorld(rank=0, size=1, local_rank=0, local_size=1))
    with pytest.raises(DistEnvError, match="PMI_RANK=1 disagrees"):
        discover_ranks(HYDRA, MpiWorld(rank=0, size=2, local_rank=0, local_size=2))


@pytest.mark.parametrize("env, message", [
    ({"RANK": "one", "WORLD_SIZE": "2"}, "RANK='one': expected an integer"),
    ({"RANK": "2", "WORLD_SIZE": "2"}, r"rank 2 .* outside \[0, 2\)"),
    ({"RANK": "0", "WORLD_SIZE": "0"}, "world size 0"),
    ({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "3", "LOCAL_WORLD_SIZE": "2"},
     r"local rank 3 .* outside \[0, 2\)"),
])
def test_bad_rank_variables_are_named(env, message):
    with pytest.raises(DistEnvError, match=message):
        discover_ranks(env)


def test_slurm_lists():
    assert expand_tasks_per_node("2(x3),1") == [2, 2, 2, 1]
    assert expand_tasks_per_node("12") == [12]
    with pytest.raises(DistEnvError, match="cannot parse"):
        expand_tasks_per_node("2(3)")
    assert expand_hostlist("nid[001-003,007],login1") == \
        ["nid001", "nid002", "nid003", "nid007", "login1"]
    assert expand_hostlist("gpu[8-10]") == ["gpu8", "gpu9", "gpu10"]
    assert expand_hostlist("r[1-2]n[3-4]") == ["r1n3", "r1n4", "r2n3", "r2n4"]
    assert expand_hostlist("a,b") == ["a", "b"]
    with pytest.raises(DistEnvError, match="cannot parse range"):
        expand_hostlist("nid[a-b]")


def test_rendezvous_ports_and_slurm_master():
    assert job_port("8675309.aurora-pbs-0001.hostmgmt.cm.aurora.alcf.anl.gov") == 29500 + 1309
    assert job_port(None) == 29500
    assert job_port("interactive") == 29500
    assert slurm_rendezvous(SLURM_STEP) == ("nid000010", 29500 + 321)
    assert slurm_rendezvous({**SLURM_STEP, "MASTER_ADDR": "h", "MASTER_PORT": "1234"}) == ("h", 1234)


@pytest.mark.parametrize("accelerators, local_rank, override, device", [
    (Accelerators(), 0, None, "cpu"),
    (Accelerators(xpu=12), 13, None, "xpu:1"),  # rank 13 on node 1 drives tile 1
    (Accelerators(xpu=1), 7, None, "xpu:0"),  # ZE_AFFINITY_MASK already narrowed to one tile
    (Accelerators(cuda=4), 2, None, "cuda:2"),
    (Accelerators(mps=True), 0, None, "mps"),
    (Accelerators(xpu=2, cuda=2, mps=True), 1, None, "xpu:1"),  # xpu first
    (Accelerators(cuda=4, mps=True), 1, None, "cuda:1"),  # then cuda, then mps
    (Accelerators(cuda=4), 1, "cpu", "cpu"),
    (Accelerators(cuda=4), 1, "CUDA:3", "cuda:3"),
])
def test_choose_device(accelerators, local_rank, override, device):
    assert choose_device(accelerators, local_rank, override) == device


@pytest.mark.parametrize("override, message", [
    ("tpu", "expected one of xpu, cuda, mps, cpu"),
    ("cuda", "no cuda device is visible"),
    ("xpu:12", "index must be below the 12"),
])
def test_bad_device_override(override, message):
    accelerators = Accelerators(xpu=12) if override.startswith("xpu") else Accelerators()
    with pytest.raises(DistEnvError, match=message):
        choose_device(accelerators, 0, override)


@pytest.mark.parametrize("device_type, has_xccl, has_ccl, override, backend", [
    ("xpu", True, True, None, "xccl"),
    ("xpu", False, True, None, "ccl"),
    ("cuda", False, False, None, "nccl"),
    ("cpu", False, False, None, "gloo"),
    ("mps", False, False, None, "gloo"),
    ("cuda", False, False, "GLOO", "gloo"),
])
def test_choose_backend(device_type, has_xccl, has_ccl, override, backend):
    assert choose_backend(device_type, has_xccl=has_xccl, has_ccl=has_ccl,
                          override=override) == backend


def test_backend_errors():
    with pytest.raises(DistEnvError, match="no xccl backend"):
        choose_backend("xpu", has_xccl=False, has_ccl=False)
    with pytest.raises(DistEnvError, match="AURORAGPT_BACKEND='hccl'"):
        choose_backend("cpu", has_xccl=False, has_ccl=False, override="hccl")
