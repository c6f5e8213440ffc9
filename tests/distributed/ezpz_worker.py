"""One rank of the ezpz agreement test: auroragpt.distributed.setup(), then ALCF's ezpz asked
the same questions about the same process; prints one JSON line per rank."""

import json

import ezpz

from auroragpt.distributed import setup, teardown

info = setup()
theirs = {"rank": ezpz.get_rank(), "local_rank": ezpz.get_local_rank(),
          "world_size": ezpz.get_world_size(), "device_type": ezpz.get_torch_device_type(),
          "backend": ezpz.get_torch_backend()}
ours = {"rank": info.rank, "local_rank": info.local_rank, "world_size": info.world_size,
        "device_type": info.device.type, "backend": info.backend}
print("EZPZ " + json.dumps({"ours": ours, "theirs": theirs}), flush=True)
teardown()
