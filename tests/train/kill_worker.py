"""`auroragpt ...` that SIGKILLs itself at a chosen point: the kill-and-resume harness's process.

AURORAGPT_TEST_KILL=NAME:N makes the N-th call of hook NAME (see HOOKS) kill this process with
SIGKILL just before the call runs, as a node failure or the OOM killer would; with
AURORAGPT_TEST_KILL_RANK=R only rank R does. Arguments are those of the `auroragpt` command.
"""

import importlib
import os
import signal
import sys

# name -> (module, class or None, attribute): points from a training step to every phase of
# a checkpoint save (shards, consolidated weights, checksums, the rename, `latest`, pruning)
HOOKS = {
    "step": ("auroragpt.train.engine", "LocalEngine", "train_step"),
    "shards": ("auroragpt.checkpoint.sharded", None, "save_torch_state"),
    "weights": ("safetensors.torch", None, "save_file"),
    "write_atomic": ("auroragpt.checkpoint.layout", None, "write_atomic"),
    "rename": ("os", None, "replace"),
    "prune": ("auroragpt.checkpoint.layout", None, "prune_checkpoints"),
}


def install(spec: str) -> None:
    name, _, count = spec.partition(":")
    module, cls, attr = HOOKS[name]
    owner = importlib.import_module(module)
    if cls is not None:
        owner = getattr(owner, cls)
    original = getattr(owner, attr)
    calls = [0]

    def hooked(*args, **kwargs):
        calls[0] += 1
        if calls[0] == int(count):
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)

    setattr(owner, attr, hooked)


if __name__ == "__main__":
    spec = os.environ.get("AURORAGPT_TEST_KILL")
    rank = os.environ.get("AURORAGPT_TEST_KILL_RANK")
    if spec and (rank is None or rank == os.environ.get("RANK", "0")):
        install(spec)
    from auroragpt.cli import main

    sys.exit(main(sys.argv[1:]))
