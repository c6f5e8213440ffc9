"""What the split-model workers share: the one-process reference and the split engine.

`reference_and_split(argv)` reads `--out DIR [overrides ...]`, joins the process group and
builds, after the same training seed, the plain debug model (`build_model`, the reference) and
the debug model split by `build_parallel_engine` for the layout the overrides give. Workers are
run as scripts, so they import this module from their own folder.
"""

import argparse
from pathlib import Path
from typing import NamedTuple

import torch
from torch.distributed.tensor import DTensor

from auroragpt.config import Config, apply_overrides, get_preset
from auroragpt.distributed import setup
from auroragpt.model import Transformer, build_model
from auroragpt.train.parallel_engines import build_parallel_engine


class Split(NamedTuple):
    out: Path
    cfg: Config
    reference: Transformer  # the plain model, whole on every rank
    model: Transformer  # what was handed to the engine (meta where the rank holds nothing)
    engine: object


def whole(t: torch.Tensor) -> torch.Tensor:
    return t.full_tensor() if isinstance(t, DTensor) else t


def reference_and_split(argv: list[str] | None = None) -> Split:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    info = setup(timeout_s=300)
    cfg = apply_overrides(get_preset("debug"), ["train.dtype=fp32", *args.overrides])
    torch.manual_seed(cfg.train.seed)
    reference = build_model(cfg.model)
    torch.manual_seed(cfg.train.seed)
    with torch.device("meta"):
        model = Transformer(cfg.model)
    return Split(args.out, cfg, reference, model, build_parallel_engine(model, cfg, info.device))
