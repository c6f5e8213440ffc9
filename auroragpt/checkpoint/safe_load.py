"""Reading checkpoint files without running code from them.

A pickle can name any importable callable, and unpickling calls it: a crafted file with a
matching checksums.json would run its payload in every rank that resumes, evaluates or exports
it. Every reader here refuses anything but plain data:

- torch files (trainer_state.pt, DeepSpeed's *_states.pt, pytorch_model.bin): `torch.load`
  with `weights_only=True`, which admits tensors, containers, numbers and strings, plus a short
  list of named classes DeepSpeed stores in its own files (`_DEEPSPEED_GLOBALS`);
- torch distributed checkpoint `.metadata`: an unpickler that admits only DCP's metadata
  dataclasses, torch dtypes and sizes, and paths (`SafeFileSystemReader`), and DCP's
  non-tensor values with `weights_only=True` too (`SafeLoadPlanner`; the default planner
  unpickles them without restriction);
- DeepSpeed's own loaders and converters call `torch.load(weights_only=False)` internally:
  `check_torch_files` reads every file first under the rules above and refuses the directory
  unless all pass, so by the time DeepSpeed reads them they are known to be plain data.
"""

from __future__ import annotations

import contextlib
import io
import pickle
from pathlib import Path

import torch
from torch.distributed.checkpoint import FileSystemReader
from torch.distributed.checkpoint._traverse import set_element
from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner

from auroragpt.checkpoint.layout import CheckpointError

_DCP_METADATA_CLASSES = {
    "torch.distributed.checkpoint.metadata": {
        "Metadata", "MetadataIndex", "StorageMeta", "BytesStorageMetadata",
        "ChunkStorageMetadata", "TensorProperties", "TensorStorageMetadata",
        "_MEM_FORMAT_ENCODING",
    },
    "torch.distributed.checkpoint.filesystem": {"_StorageInfo"},
    "torch.serialization": {"_get_layout"},
    "torch": {"Size"},
    "pathlib": {"PosixPath", "PurePosixPath", "WindowsPath", "PureWindowsPath"},
    "collections": {"OrderedDict"},
}


def _deepspeed_globals() -> list:
    """Classes DeepSpeed pickles into its checkpoints besides tensors and containers."""
    try:
        from deepspeed.runtime.fp16.loss_scaler import LossScaler
        from deepspeed.runtime.zero.config import ZeroStageEnum
        from deepspeed.utils.tensor_fragment import fragment_address
    except ImportError:
        return []
    return [LossScaler, ZeroStageEnum, fragment_address]


def load_torch_file(path: str | Path, map_location="cpu", mmap: bool = False):
    """`torch.load` that unpickles plain data only; anything else raises CheckpointError."""
    path = Path(path)
    try:
        with torch.serialization.safe_globals(_deepspeed_globals()):
            return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{path}: holds objects other than tensors, numbers and strings, which are never "
            f"unpickled ({str(err).splitlines()[0]})") from None
    except (RuntimeError, EOFError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable torch file ({str(err).splitlines()[0]})") \
            from None


def check_torch_files(directory: Path, pattern: str = "*.pt") -> None:
    """Read every `pattern` file in `directory` with `load_torch_file` (see the module note)."""
    for path in sorted(Path(directory).glob(pattern)):
        load_torch_file(path, mmap=True)


@contextlib.contextmanager
def dcp_errors(source: Path):
    """Report a failed DCP load as CheckpointError: DCP wraps every rank's exception into one
    CheckpointException with the tracebacks; ours is passed on as it is, others in a line."""
    from torch.distributed.checkpoint.api import CheckpointException

    try:
        yield
    except CheckpointException as err:
        failures = [f[0] if isinstance(f, tuple) else f for f in err.failures.values()]
        ours = next((f for f in failures if isinstance(f, CheckpointError)), None)
        if ours is not None:
            raise ours from None
        first = str(failures[0]).strip().splitlines()[-1] if failures else str(err)
        raise CheckpointError(f"{source}: the distributed checkpoint does not load ({first})") \
            from None


class _MetadataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        allowed = _DCP_METADATA_CLASSES.get(module, ())
        if name in allowed or (module == "torch" and isinstance(getattr(torch, name, None),
                                                                torch.dtype)):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not a distributed-checkpoint class")


def read_dcp_metadata(path: Path):
    """The `Metadata` pickled in a torch distributed checkpoint's `.metadata` file."""
    try:
        with open(path, "rb") as f:
            return _MetadataUnpickler(f).load()
    except pickle.UnpicklingError as err:
        raise CheckpointError(f"{path}: refused to unpickle it: {err}") from None
    except (EOFError, ValueError, TypeError, AttributeError) as err:
        raise CheckpointError(f"{path}: not a distributed-checkpoint metadata file ({err})") \
            from None


class SafeFileSystemReader(FileSystemReader):
    """DCP's file reader with the restricted metadata unpickler."""

    def read_metadata(self, *args, **kwargs):
        from torch.distributed.checkpoint.metadata import StorageMeta

        metadata = read_dcp_metadata(Path(self._get_metadata_path(kwargs.get("rank"))))
        if getattr(metadata, "storage_meta", None) is None:
            metadata.storage_meta = StorageMeta()
        metadata.storage_meta.load_id = self.load_id
        return metadata


class SafeLoadPlanner(DefaultLoadPlanner):
    """DCP's default load planner, reading non-tensor values with `weights_only=True`."""

    def load_bytes(self, read_item, value: io.BytesIO) -> None:
        try:
            loaded = torch.load(value, weights_only=True)
        except pickle.UnpicklingError as err:
            raise CheckpointError(
                f"distributed checkpoint item {read_item.dest_index.fqn}: refused to unpickle it "
                f"({str(err).splitlines()[0]})") from None
        fqn = read_item.dest_index.fqn
        if self.flatten_state_dict:
            set_element(self.original_state_dict, self.mappings[fqn], loaded)
        else:
            self.state_dict[fqn] = loaded
