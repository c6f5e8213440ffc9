"""setup()/teardown() in this process: the single-process case and the error paths.

Real multi-rank setups (torchrun, mpiexec) are in test_multiprocess.py.
"""

import datetime
import socket

import pytest
import torch
import torch.distributed as dist

from auroragpt.distributed import DistEnvError, DistInfo, setup, teardown


@pytest.fixture(autouse=True)
def _teardown_after():
    yield
    teardown()


def test_single_process_has_no_process_group(clean_environ):
    info = setup()
    assert info == DistInfo(rank=0, local_rank=0, world_size=1, device=torch.device("cpu"),
                            backend="gloo", local_world_size=1, host=socket.gethostname(),
                            launcher="single")
    assert info.is_main and not info.is_distributed
    assert not dist.is_initialized()
    assert setup() is info  # idempotent


def test_device_override_is_checked(clean_environ):
    clean_environ.setenv("AURORAGPT_DEVICE", "cuda")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    with pytest.raises(DistEnvError, match="AURORAGPT_DEVICE='cuda' but no cuda device"):
        setup()


def test_two_ranks_without_a_rendezvous_is_a_clear_error(clean_environ):
    clean_environ.setenv("RANK", "0")
    clean_environ.setenv("WORLD_SIZE", "2")
    with pytest.raises(DistEnvError, match="MASTER_ADDR and MASTER_PORT are unset"):
        setup()


def test_an_existing_process_group_is_adopted(clean_environ):
    store = dist.TCPStore("127.0.0.1", 0, 1, is_master=True,
                          timeout=datetime.timedelta(seconds=30))
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    info = setup()
    assert (info.rank, info.world_size, info.backend) == (0, 1, "gloo")
    teardown()
    assert not dist.is_initialized()
