"""Typed configs, presets and `key.path=value` overrides: the one source of truth for a run.

A run is described by a `Config` with four sections (`model`, `data`, `train`, `parallel`).
Presets are plain functions returning a full `Config`; files (YAML or TOML) and command-line
overrides such as `train.max_steps=200` are applied on top, and the result is validated with
errors that name the field, the value and what was expected.

The model section uses the field names of Meta's `ModelArgs` so that configs and converters
written for the Llama reference read ours unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auroragpt.atomic import atomic_write_text


class ConfigError(ValueError):
    """A config value, file or override is invalid; the message names the field and the fix."""


# ----------------------------------------------------------------------------------------------
# Sections
# ----------------------------------------------------------------------------------------------


@dataclass
class ModelConfig:
    """Shape of a Llama-style decoder (names follow Meta's `ModelArgs`)."""

    dim: int = 256  # hidden size (width of the residual stream)
    n_layers: int = 4  # number of transformer blocks
    n_heads: int = 8  # query heads; head_dim = dim // n_heads
    n_kv_heads: int | None = None  # key/value heads for grouped-query attention (None = n_heads)
    vocab_size: int = 2048  # tokenizer vocabulary size (embedding rows)
    multiple_of: int = 32  # SwiGLU hidden size is rounded up to a multiple of this
    ffn_dim_multiplier: float | None = None  # optional scale on the SwiGLU hidden size (Llama 3)
    norm_eps: float = 1e-5  # RMSNorm epsilon
    rope_theta: float = 10000.0  # RoPE base frequency
    max_seq_len: int = 256  # longest context; also the training sequence length
    tie_embeddings: bool = False  # share tok_embeddings and output weights
    init_std: float = 0.02  # std of the normal init of weight matrices
    kernels: str = "auto"  # auto | triton | torch: RMSNorm, RoPE, SwiGLU and loss kernels (auto = Triton on cuda/xpu)

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads if self.n_kv_heads is not None else self.n_heads

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def ffn_hidden_dim(self) -> int:
        """SwiGLU hidden size exactly as Meta's reference derives it from `dim`."""
        hidden = int(2 * (4 * self.dim) / 3)
        if self.ffn_dim_multiplier is not None:
            hidden = int(self.ffn_dim_multiplier * hidden)
        return self.multiple_of * ((hidden + self.multiple_of - 1) // self.multiple_of)

    def validate(self) -> None:
        _positive(self, "model", "dim", "n_layers", "n_heads", "vocab_size", "multiple_of",
                  "max_seq_len")
        if self.dim % self.n_heads:
            raise ConfigError(
                f"model.dim={self.dim} must be divisible by model.n_heads={self.n_heads}"
            )
        if self.head_dim % 2:
            raise ConfigError(
                f"model.dim / model.n_heads = {self.head_dim} must be even for RoPE"
            )
        if self.n_kv_heads is not None and (
            self.n_kv_heads <= 0 or self.n_heads % self.n_kv_heads
        ):
            raise ConfigError(
                f"model.n_kv_heads={self.n_kv_heads} must be a positive divisor of "
                f"model.n_heads={self.n_heads}"
            )
        if self.norm_eps <= 0 or self.rope_theta <= 0 or self.init_std <= 0:
            raise ConfigError("model.norm_eps, model.rope_theta and model.init_std must be > 0")
        if self.ffn_dim_multiplier is not None and self.ffn_dim_multiplier <= 0:
            raise ConfigError(
                f"model.ffn_dim_multiplier={self.ffn_dim_multiplier} must be > 0 or none"
            )
        if self.kernels not in ("auto", "triton", "torch"):
            raise ConfigError(f"model.kernels={self.kernels!r}: expected one of auto, triton, torch")


@dataclass
class DataConfig:
    """Where training tokens come from."""

    file_list: str | None = None  # ALCF data-file-list (`weight prefix corpus` lines); None = built-in corpora
    builtin: dict[str, float] = field(
        default_factory=lambda: {
            "stdlib": 0.3,
            "arithmetic": 0.1,
            "units": 0.1,
            "chemistry": 0.1,
            "timeseries": 0.1,
            "graphs": 0.1,
            "sequences": 0.1,
            "numbers": 0.1,
        }
    )  # built-in corpus name -> blend weight (used when file_list is None)
    builtin_chars: int = 4_000_000  # characters generated per built-in corpus
    tokenizer: str | None = None  # sentencepiece .model path; None = train one on the corpora
    cache_dir: str = ".cache/auroragpt"  # tokenized corpora, tokenizers and index cache
    split: str = "98,2,0"  # train/valid/test split of documents, Megatron style
    num_workers: int = 0  # DataLoader worker processes

    def validate(self) -> None:
        if self.file_list is None and not self.builtin:
            raise ConfigError("data.builtin must name at least one corpus when data.file_list is none")
        for name, weight in self.builtin.items():
            if not isinstance(weight, (int, float)) or weight < 0:
                raise ConfigError(f"data.builtin.{name}={weight!r}: weights must be numbers >= 0")
        if self.file_list is None and sum(self.builtin.values()) <= 0:
            raise ConfigError("data.builtin weights must not all be zero")
        _positive(self, "data", "builtin_chars")
        if self.num_workers < 0:
            raise ConfigError(f"data.num_workers={self.num_workers} must be >= 0")
        parts = self.split.split(",")
        try:
            values = [float(p) for p in parts]
        except ValueError:
            values = []
        if len(values) != 3 or any(v < 0 for v in values) or values[0] <= 0:
            raise ConfigError(
                f"data.split={self.split!r} must be three non-negative numbers like '98,2,0' "
                "with a positive train share"
            )


@dataclass
class TrainConfig:
    """Optimisation, schedule, logging and checkpointing."""

    seed: int = 1234  # seeds model init, data order and sampling
    max_steps: int = 300  # optimizer steps to run
    global_batch_size: int = 16  # sequences per optimizer step, over all data-parallel ranks
    micro_batch_size: int = 8  # sequences per forward/backward on one rank
    lr: float = 3e-3  # peak learning rate
    min_lr: float = 3e-4  # floor of the cosine decay
    warmup_steps: int = 30  # linear warm-up steps
    decay_steps: int | None = None  # cosine decay length after warm-up (None = to max_steps)
    weight_decay: float = 0.1  # AdamW decay on weight matrices (never on norms/embeddings)
    beta1: float = 0.9  # AdamW beta1
    beta2: float = 0.95  # AdamW beta2
    eps: float = 1e-8  # AdamW epsilon
    grad_clip: float = 1.0  # max global gradient norm (0 disables clipping)
    dtype: str = "auto"  # compute dtype: auto | fp32 | bf16 (auto = bf16 on cuda/xpu, else fp32)
    compile: bool = False  # wrap the model in torch.compile
    activation_checkpointing: bool | str = False  # recompute in backward: full (= true) | selective
    log_every: int = 10  # steps between metric lines
    eval_every: int = 100  # steps between validation losses (0 = never)
    eval_batches: int = 4  # micro-batches per validation pass
    sample_every: int = 100  # steps between text samples (0 = never)
    save_every: int = 100  # steps between checkpoints (0 = only at the end)
    keep_last: int = 3  # checkpoints kept on disk (0 = all)
    save_consolidated: bool = False  # sharded strategies: also write full model.safetensors into each checkpoint (eval and export-hf make it from the shards when absent)
    max_time: float = 0.0  # seconds this invocation may run; it saves and stops before the step that would exceed it (0 = no limit; set below a job's walltime)
    peak_tflops: float | None = None  # per-device peak for MFU; None = look up the device table
    stop_step: int | None = None  # end this invocation (with a checkpoint) after this step; the schedule still spans max_steps; --resume drops it
    sample_tokens: int = 64  # new tokens generated per sample prompt
    watchdog_s: float = 900.0  # multi-rank runs: a rank whose step stalls this long dumps its stacks and exits (0 = off)
    cpu_threads: int = 0  # torch threads on a CPU device (0 = measure all cores against one, keep the faster)
    log_to: str = "jsonl"  # metrics also to: tensorboard, wandb (comma-separated; metrics.jsonl always)

    LOG_TARGETS: typing.ClassVar[tuple[str, ...]] = ("jsonl", "tensorboard", "wandb")

    def log_targets(self) -> list[str]:
        """`log_to` as a list, "jsonl" first and always, each target once."""
        names = [name.strip() for name in self.log_to.split(",") if name.strip()]
        return ["jsonl"] + [name for name in dict.fromkeys(names) if name != "jsonl"]

    def validate(self) -> None:
        _positive(self, "train", "max_steps", "global_batch_size", "micro_batch_size", "lr",
                  "log_every", "sample_tokens")
        if self.stop_step is not None and not 0 < self.stop_step <= self.max_steps:
            raise ConfigError(
                f"train.stop_step={self.stop_step} must lie in [1, train.max_steps={self.max_steps}]"
            )
        if self.activation_checkpointing not in (True, False, "none", "full", "selective"):
            raise ConfigError(f"train.activation_checkpointing={self.activation_checkpointing!r}: "
                              "expected true, false, none, full or selective")
        if self.compile and self.activation_checkpointing == "selective":
            # NOTE: measured (torch 2.13, one process or tp=2): the selective-checkpoint hooks
            # inside a compiled graph fail in backward ("aten.t.default encountered during
            # backward but not found in storage"); full checkpointing compiles and matches.
            raise ConfigError("train.compile=true with train.activation_checkpointing=selective"
                              " is not supported (recomputation fails in the compiled "
                              "backward); use activation_checkpointing=full or compile=false")
        if self.decay_steps is not None and self.decay_steps <= 0:
            raise ConfigError(f"train.decay_steps={self.decay_steps} must be > 0 or none")
        if self.peak_tflops is not None and self.peak_tflops <= 0:
            raise ConfigError(f"train.peak_tflops={self.peak_tflops} must be > 0 or none")
        if self.global_batch_size % self.micro_batch_size:
            raise ConfigError(
                f"train.global_batch_size={self.global_batch_size} must be a multiple of "
                f"train.micro_batch_size={self.micro_batch_size}"
            )
        if not 0 <= self.min_lr <= self.lr:
            raise ConfigError(f"train.min_lr={self.min_lr} must lie in [0, train.lr={self.lr}]")
        if self.dtype not in ("auto", "fp32", "bf16"):
            raise ConfigError(f"train.dtype={self.dtype!r}: expected one of auto, fp32, bf16")
        unknown = [name for name in self.log_targets() if name not in self.LOG_TARGETS]
        if unknown:
            raise ConfigError(f"train.log_to={self.log_to!r}: unknown {', '.join(unknown)}; "
                              f"expected a comma-separated list of {', '.join(self.LOG_TARGETS)}")
        for name in ("warmup_steps", "eval_every", "sample_every", "save_every", "keep_last",
                     "weight_decay", "grad_clip", "eval_batches", "watchdog_s", "cpu_threads",
                     "max_time"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name}={getattr(self, name)} must be >= 0")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ConfigError("train.beta1 and train.beta2 must lie in [0, 1)")


@dataclass
class ParallelConfig:
    """How the model and batch are spread over ranks."""

    # auto = single on one rank, ddp on more; single = one process, no wrapping; zero1-3 =
    # DeepSpeed. NOTE: not `none`, which YAML and our overrides read as null.
    STRATEGIES: typing.ClassVar[tuple[str, ...]] = (
        "auto", "single", "ddp", "fsdp", "zero1", "zero2", "zero3")
    PP_SCHEDULES: typing.ClassVar[tuple[str, ...]] = ("gpipe", "1f1b", "interleaved")

    strategy: str | None = "auto"  # auto | single | ddp | fsdp | zero1 | zero2 | zero3
    tp: int = 1  # tensor-parallel degree
    pp: int = 1  # pipeline-parallel degree
    pp_schedule: str = "1f1b"  # gpipe | 1f1b | interleaved (1F1B over virtual stages)
    pp_virtual_stages: int = 2  # stages per pipeline rank with pp_schedule=interleaved
    sp: int = 1  # sequence-parallel degree (Ulysses): ranks splitting each sequence
    deepspeed_config: str | None = None  # path to a user DeepSpeed JSON (zero strategies)

    @property
    def stages_per_rank(self) -> int:
        """Pipeline stages each pipeline rank holds: pp_virtual_stages when interleaved, else 1."""
        return self.pp_virtual_stages if self.pp_schedule == "interleaved" else 1

    def validate(self) -> None:
        if self.strategy in (None, "none"):  # `none` reads as YAML null: say what we mean
            raise ConfigError(
                "parallel.strategy=none: the one-process strategy is called 'single' (none/null "
                f"is not a strategy); expected one of {', '.join(self.STRATEGIES)}")
        if self.strategy not in self.STRATEGIES:
            raise ConfigError(
                f"parallel.strategy={self.strategy!r}: expected one of {', '.join(self.STRATEGIES)}"
            )
        _positive(self, "parallel", "tp", "pp", "sp", "pp_virtual_stages")
        if self.pp_schedule not in self.PP_SCHEDULES:
            raise ConfigError(f"parallel.pp_schedule={self.pp_schedule!r}: expected one of "
                              f"{', '.join(self.PP_SCHEDULES)}")
        if self.pp_schedule == "interleaved" and self.pp == 1:
            raise ConfigError("parallel.pp_schedule=interleaved needs parallel.pp > 1")
        if self.deepspeed_config is not None and not self.strategy.startswith("zero"):
            raise ConfigError(
                f"parallel.deepspeed_config={self.deepspeed_config!r} is read only by the "
                f"zero1, zero2 and zero3 strategies, but parallel.strategy={self.strategy!r}"
            )


@dataclass
class Config:
    """A full run: model shape, data, optimisation and parallelism."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    name: str = "run"  # run name; the run directory defaults to runs/<name>

    def validate(self) -> Config:
        for section in (self.model, self.data, self.train, self.parallel):
            section.validate()
        if self.model.n_heads % self.parallel.tp:
            raise ConfigError(
                f"parallel.tp={self.parallel.tp} must divide model.n_heads={self.model.n_heads}"
            )
        p = self.parallel
        stages = p.pp * p.stages_per_rank
        if self.model.n_layers % stages:
            raise ConfigError(
                f"model.n_layers={self.model.n_layers} must be divisible by parallel.pp"
                + (" x parallel.pp_virtual_stages" if stages != p.pp else "")
                + f" = {stages} (each pipeline stage holds as many layers)")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------------------------
# Size and cost formulas
# ----------------------------------------------------------------------------------------------


def count_parameters(model: ModelConfig) -> int:
    """Parameters of the model this config builds, from the shapes alone."""
    d, v, f = model.dim, model.vocab_size, model.ffn_hidden_dim
    kv_dim = model.kv_heads * model.head_dim
    attention = d * d * 2 + d * kv_dim * 2  # wq, wo + wk, wv
    feed_forward = 3 * d * f  # w1, w2, w3
    norms = 2 * d  # attention_norm, ffn_norm
    per_layer = attention + feed_forward + norms
    embeddings = v * d * (1 if model.tie_embeddings else 2)
    return model.n_layers * per_layer + embeddings + d  # + final norm


def flops_per_token(model: ModelConfig, seq_len: int | None = None) -> float:
    """Training FLOPs per token (forward + backward), PaLM appendix B style.

    6 FLOPs per matmul weight per token (2 forward, 4 backward) plus the attention score and
    value products, 12 * n_layers * dim * seq_len. Embedding lookups and norms are not matmuls
    and are left out; the output projection is counted even when tied.
    """
    seq_len = seq_len or model.max_seq_len
    d = model.dim
    norms = (2 * model.n_layers + 1) * d
    lookup_only = 0 if model.tie_embeddings else model.vocab_size * d  # untied tok_embeddings
    matmul_params = count_parameters(model) - norms - lookup_only
    return 6.0 * matmul_params + 12.0 * model.n_layers * d * seq_len


# ----------------------------------------------------------------------------------------------
# Presets
# ----------------------------------------------------------------------------------------------


def _debug() -> Config:
    cfg = Config(name="debug")
    cfg.model = ModelConfig(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=512,
                            multiple_of=16, max_seq_len=64)
    cfg.data.builtin_chars = 300_000
    cfg.data.split = "90,10,0"  # a 300k-character stdlib slice is ~20 files: 2% would be none
    cfg.train = TrainConfig(max_steps=20, global_batch_size=8, micro_batch_size=4, lr=3e-3,
                            min_lr=3e-4, warmup_steps=2, log_every=1, eval_every=10,
                            sample_every=10, save_every=10)
    return cfg


def _tiny() -> Config:
    """Trains in a few minutes on 2 CPU cores (measured: docs/training.md); 614k tokens.

    60 % of the tokens are `numbers` drills, so two of its skills (the last digit, even or odd)
    rise from 0 to near 100 % within the run; many small steps at a moderate learning rate
    learn them from the fewest tokens (trials: benchmarks/RESULTS.md, "Skills in the tiny run").
    """
    cfg = Config(name="tiny")
    cfg.model = ModelConfig(dim=256, n_layers=4, n_heads=8, n_kv_heads=4, vocab_size=2048,
                            multiple_of=32, max_seq_len=128)
    cfg.data.builtin = {"numbers": 0.6, "stdlib": 0.16, "arithmetic": 0.04, "units": 0.04,
                        "chemistry": 0.04, "timeseries": 0.04, "graphs": 0.04, "sequences": 0.04}
    cfg.data.builtin_chars = 1_500_000  # covers the 0.6 M tokens seen; tokenizes in seconds
    # NOTE: a checkpoint every 100 steps, all kept (6 x 48 MB), so evaluation can follow skills
    # appearing over training
    cfg.train = TrainConfig(max_steps=600, global_batch_size=8, micro_batch_size=8, lr=1e-3,
                            min_lr=1e-4, warmup_steps=25, log_every=10, eval_every=100,
                            sample_every=300, save_every=100, keep_last=0)
    return cfg


def _125m() -> Config:
    cfg = Config(name="125m")
    cfg.model = ModelConfig(dim=768, n_layers=12, n_heads=12, vocab_size=32000, multiple_of=256,
                            max_seq_len=2048)
    cfg.train = TrainConfig(max_steps=20_000, global_batch_size=256, micro_batch_size=8,
                            lr=6e-4, min_lr=6e-5, warmup_steps=1000, save_every=1000,
                            eval_every=500, sample_every=1000)
    return cfg


def _1b() -> Config:
    cfg = Config(name="1b")
    cfg.model = ModelConfig(dim=2048, n_layers=22, n_heads=32, n_kv_heads=4, vocab_size=32000,
                            multiple_of=256, max_seq_len=2048)
    cfg.train = TrainConfig(max_steps=100_000, global_batch_size=512, micro_batch_size=4,
                            lr=4e-4, min_lr=4e-5, warmup_steps=2000, save_every=1000,
                            eval_every=1000, sample_every=1000)
    return cfg


def _7b() -> Config:
    """The AuroraGPT-7B shape: 32 layers, hidden 4096, 32 heads, 8 KV heads, FFN 11008, seq 4096."""
    cfg = Config(name="7b")
    cfg.model = ModelConfig(dim=4096, n_layers=32, n_heads=32, n_kv_heads=8, vocab_size=32000,
                            multiple_of=256, max_seq_len=4096, rope_theta=10000.0)
    cfg.train = TrainConfig(max_steps=500_000, global_batch_size=1024, micro_batch_size=1,
                            lr=3e-4, min_lr=3e-5, warmup_steps=2000, save_every=1000,
                            eval_every=1000, sample_every=1000)
    # NOTE: what `auroragpt plan --preset 7b --machine aurora` recommends: ZeRO-1, no tensor
    # or pipeline parallelism, no activation checkpointing; fits on one Aurora node (42 GiB of
    # 57.6 usable per tile), more nodes only shrink the optimizer share.
    cfg.parallel.strategy = "zero1"
    return cfg


def _70b() -> Config:
    cfg = Config(name="70b")
    cfg.model = ModelConfig(dim=8192, n_layers=80, n_heads=64, n_kv_heads=8, vocab_size=32000,
                            multiple_of=4096, ffn_dim_multiplier=1.3, max_seq_len=4096,
                            rope_theta=500000.0)
    cfg.train = TrainConfig(max_steps=500_000, global_batch_size=1024, micro_batch_size=1,
                            lr=1.5e-4, min_lr=1.5e-5, warmup_steps=2000, save_every=500,
                            eval_every=1000, sample_every=1000)
    # NOTE: the degrees `auroragpt plan --preset 70b --machine aurora --min-nodes` recommends
    # (docs/parallelism.md): FSDP with activation checkpointing fits from 2 Aurora nodes
    # (57 of 57.6 usable GiB per tile) and comfortably from 4. tp=8, set here before, splits
    # a tensor-parallel group across two 12-tile nodes.
    cfg.train.activation_checkpointing = True
    cfg.parallel = ParallelConfig(strategy="fsdp")
    return cfg


PRESETS: dict[str, typing.Callable[[], Config]] = {
    "debug": _debug,
    "tiny": _tiny,
    "125m": _125m,
    "1b": _1b,
    "7b": _7b,
    "70b": _70b,
}


def get_preset(name: str) -> Config:
    """A fresh, validated `Config` for a named preset (debug, tiny, 125m, 1b, 7b, 70b)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}: expected one of {', '.join(PRESETS)}")
    return PRESETS[name]().validate()


# ----------------------------------------------------------------------------------------------
# Files and overrides
# ----------------------------------------------------------------------------------------------
# NOTE: our own ~150 lines, not OmegaConf structured configs or tyro: the `key.path=value`
# contract, one-line errors that name the file, field and expected value, the checks between
# fields (stop_step within max_steps, dim divisible by n_heads) and dict fields set one key at a
# time would all need wrapping either way; tyro's command line is `--train.max-steps N`.


def config_from_dict(data: dict[str, Any], base: Config | None = None,
                     source: str = "config") -> Config:
    """Apply a nested dict (from YAML/TOML/JSON) onto `base` (default: `Config()`)."""
    cfg = base if base is not None else Config()
    for key, value in _flatten(data):
        _set_path(cfg, key, value, source)
    return cfg.validate()


def load_config(path: str | Path, base: Config | None = None) -> Config:
    """Read a YAML, TOML or JSON file; a top-level `preset:` key picks the base preset."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text) or {}
    except Exception as err:  # parse errors from three libraries; re-raise with the file name
        raise ConfigError(f"{path}: cannot parse: {' '.join(str(err).split())}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    preset = data.pop("preset", None)
    if preset is not None:
        base = get_preset(preset)
    return config_from_dict(data, base, source=str(path))


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Apply `key.path=value` strings, e.g. `train.max_steps=200` or `data.builtin.stdlib=0.5`."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected KEY.PATH=VALUE, e.g. train.max_steps=200")
        _set_path(cfg, key.strip(), _parse_scalar(raw), f"override {item!r}")
    return cfg.validate()


def save_config(cfg: Config, path: str | Path) -> None:
    """Write the effective config as YAML, atomically."""
    import yaml

    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def _parse_scalar(raw: str) -> Any:
    """Command-line text to a Python value using YAML's rules (`none`/`null` -> None)."""
    import yaml

    raw = raw.strip()
    if raw.lower() in ("none", "null", "~"):
        return None
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and path not in _DICT_FIELDS:
            items.extend(_flatten(value, path + "."))
        else:
            items.append((path, value))
    return items


# Fields whose value is a dict: a file sets them whole, an override may set one key inside.
_DICT_FIELDS = {"data.builtin"}


def _set_path(cfg: Config, key: str, value: Any, source: str) -> None:
    parts = key.split(".")
    if ".".join(parts[:2]) in _DICT_FIELDS and len(parts) == 3:
        target = getattr(getattr(cfg, parts[0]), parts[1])
        target[parts[2]] = _coerce(float, value, key, source)
        return
    obj: Any = cfg
    for i, part in enumerate(parts):
        if not dataclasses.is_dataclass(obj):
            raise ConfigError(f"{source}: unknown key {key!r}")
        names = {f.name for f in dataclasses.fields(obj)}
        if part not in names:
            where = ".".join(parts[:i]) or "the top level"
            raise ConfigError(
                f"{source}: unknown key {key!r}; valid keys in {where}: {', '.join(sorted(names))}"
            )
        if i == len(parts) - 1:
            hint = typing.get_type_hints(type(obj))[part]
            setattr(obj, part, _coerce(hint, value, key, source))
        else:
            obj = getattr(obj, part)


def _coerce(hint: Any, value: Any, key: str, source: str) -> Any:
    """Check `value` against a field's type hint, converting int -> float where expected."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, key, source)
            except ConfigError:
                pass
        raise ConfigError(f"{source}: {key}={value!r} is not a valid {_type_name(hint)}")
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key}={value!r}: expected a mapping")
        return {str(k): _coerce(typing.get_args(hint)[1], v, f"{key}.{k}", source)
                for k, v in value.items()}
    if hint in (int, float) and isinstance(value, str):
        try:  # YAML 1.1 reads "1e-3" as text
            value = hint(value)
        except ValueError:
            raise ConfigError(f"{source}: {key}={value!r}: expected {hint.__name__}") from None
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, float):
        if math.isnan(value):
            raise ConfigError(f"{source}: {key}=nan is not allowed")
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint in (int, str) and isinstance(value, hint) and not isinstance(value, bool):
        return value
    if hint is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(f"{source}: {key}={value!r}: expected {_type_name(hint)}")


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint).replace("typing.", ""))


def _positive(section: Any, prefix: str, *names: str) -> None:
    for name in names:
        value = getattr(section, name)
        if not value > 0:
            raise ConfigError(f"{prefix}.{name}={value!r} must be > 0")
