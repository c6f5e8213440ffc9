"""Where the metrics lines go (`train.log_to`): metrics.jsonl always, TensorBoard, W&B.

Every tracker receives the same records, under the same names, as `metrics.jsonl` (`loss`,
`val_loss`, `lr`, `tokens_per_s`, ...), so one number has one name in every viewer.

- `tensorboard`: event files in RUN_DIR/tensorboard (torch's `SummaryWriter`); view them with
  `tensorboard --logdir RUN_DIR/tensorboard`. A resumed run purges the interrupted run's
  events after its checkpoint, as metrics.jsonl drops its lines.
- `wandb`: a W&B run in RUN_DIR/wandb. Compute nodes usually have no network, so the mode is
  `offline` unless WANDB_MODE says otherwise; sync later with `wandb sync RUN_DIR/wandb/offline-run-*`.
  W&B never prompts: without an API key (WANDB_API_KEY or a netrc entry) an online request
  falls back to offline with one line saying so.
"""

from __future__ import annotations

import importlib.util
import math
import netrc
import os
import sys
from pathlib import Path
from urllib.parse import urlparse

from auroragpt.train.metrics import JsonlLog


def _scalars(record: dict) -> dict[str, float]:
    """The finite numbers of a record, `step` aside."""
    return {key: float(value) for key, value in record.items()
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value)}


class TensorBoardLog:
    def __init__(self, log_dir: Path, resume_step: int | None):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(log_dir), flush_secs=30,
                                    purge_step=resume_step + 1 if resume_step else None)

    def write(self, record: dict) -> None:
        for key, value in _scalars(record).items():
            self.writer.add_scalar(key, value, record["step"])

    def close(self) -> None:
        self.writer.close()


def wandb_mode() -> tuple[str, str | None]:
    """(mode, why it differs from what was asked, or None)."""
    asked = os.environ.get("WANDB_MODE") or "offline"
    if asked in ("online", "run") and not _wandb_key():
        return "offline", ("WANDB_MODE=online but no W&B API key (WANDB_API_KEY or ~/.netrc): "
                           "logging offline instead; `wandb login`, then `wandb sync`")
    return asked, None


def _wandb_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


class WandbLog:
    def __init__(self, run_dir: Path, name: str, config: dict):
        import wandb

        mode, why = wandb_mode()
        if why:
            print(f"train.log_to=wandb: {why}", file=sys.stderr)
        os.environ.setdefault("WANDB_SILENT", "true")
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "auroragpt"), name=name,
                              dir=str(run_dir), mode=mode, config=config,
                              settings=wandb.Settings(silent=True, console="off"))

    def write(self, record: dict) -> None:
        self.run.log(_scalars(record), step=record["step"])

    def close(self) -> None:
        self.run.finish()


class MetricsLog:
    """metrics.jsonl and the trackers `train.log_to` names; each record goes to all of them."""

    def __init__(self, path: Path, targets: list[str], resume_step: int | None = None,
                 name: str = "run", config: dict | None = None):
        """`targets` as `TrainConfig.log_targets()` gives them; `config` is sent to W&B."""
        path = Path(path)
        for target, module in (("tensorboard", "tensorboard"), ("wandb", "wandb")):
            if target in targets and importlib.util.find_spec(module) is None:
                raise ImportError(f"train.log_to={target} needs the {module} package: "
                                  "pip install -e '.[tracking]'")
        self.sinks = [JsonlLog(path, resume_step)]
        if "tensorboard" in targets:
            self.sinks.append(TensorBoardLog(path.parent / "tensorboard", resume_step))
        if "wandb" in targets:
            self.sinks.append(WandbLog(path.parent, name, config or {}))

    def write(self, record: dict) -> None:
        for sink in self.sinks:
            sink.write(record)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
