"""How many ranks each parallel dimension gets, checked against the world size.

A run's ranks form a grid: pipeline stages x data-parallel replicas x data-parallel shards x
sequence shards (Ulysses) x tensor shards. `ParallelDims` holds the degree of each dimension,
refuses degrees that do not multiply to the world size, and builds the matching `DeviceMesh`
so every strategy module takes its process group from one place.

The data-parallel degree is split in two because sharded and replicated data parallelism can
be combined (HSDP): `dp_shard` ranks split parameters, gradients and optimizer state among
themselves (FSDP, ZeRO); `dp_replicate` groups of them hold identical copies (DDP).
Sequence-parallel ranks hold the same weights and see different positions of the same
samples, so for gradients they count as data-parallel ranks: the `dp_sp` mesh joins both.
"""

from __future__ import annotations

from dataclasses import dataclass

from auroragpt.config import ConfigError, ParallelConfig

STRATEGIES = ParallelConfig.STRATEGIES
# Strategies whose data-parallel ranks split the training state rather than copy it.
SHARDED = ("fsdp", "zero1", "zero2", "zero3")

# Mesh dimensions from outermost to innermost. NOTE: tensor parallelism is innermost so its
# frequent collectives stay between neighbouring ranks (one node); pipeline is outermost
# because its point-to-point traffic is the lightest.
MESH_ORDER = ("pp", "dp_replicate", "dp_shard", "sp", "tp")
DATA_DIMS = ("dp_replicate", "dp_shard")


def resolve_strategy(strategy: str, world_size: int) -> str:
    """The concrete strategy for a run: `auto` is `single` on one rank and `ddp` on more."""
    if strategy not in STRATEGIES:
        raise ConfigError(
            f"parallel.strategy={strategy!r}: expected one of {', '.join(STRATEGIES)}"
        )
    if strategy == "auto":
        return "ddp" if world_size > 1 else "single"
    if strategy == "single" and world_size > 1:
        raise ConfigError(
            f"parallel.strategy='single' trains in one process, but the world size is {world_size}: "
            "pick ddp, fsdp, zero1, zero2 or zero3 (or auto)"
        )
    return strategy


def check_composition(strategy: str, dims: ParallelDims) -> None:
    """Refuse a data-parallel strategy (already resolved) with model-parallel degrees no
    engine runs together. `dims` needs only `tp`, `pp` and `sp`, so the planner's `Layout` is
    checked by the same rules as a run."""
    if strategy.startswith("zero") and (dims.tp > 1 or dims.sp > 1):
        raise ConfigError(
            f"parallel.strategy={strategy} with parallel.tp={dims.tp}, parallel.sp={dims.sp}: "
            "DeepSpeed cannot hold tensor- or sequence-parallel (DTensor) models; use fsdp, "
            "which shards like ZeRO-3"
        )
    if dims.pp == 1:
        return
    if strategy not in ("ddp", "fsdp", "single"):
        raise ConfigError(
            f"parallel.pp={dims.pp} composes with ddp or fsdp on the data dimension in this "
            f"version; got parallel.strategy={strategy!r}: use ddp or fsdp")
    if dims.sp > 1:
        # NOTE: Ulysses would need each stage's sequence slice and its positions threaded
        # through the schedule; not done.
        raise ConfigError(f"parallel.sp={dims.sp} with parallel.pp={dims.pp} is not supported "
                          "in this version: use parallel.sp=1 (tensor parallelism composes)")


@dataclass(frozen=True)
class ParallelDims:
    """Degrees of each parallel dimension; their product must equal `world_size`."""

    world_size: int  # ranks in the job
    dp_replicate: int = 1  # data-parallel groups holding identical copies of the state (DDP)
    dp_shard: int = 1  # data-parallel ranks splitting parameters/gradients/optimizer state
    sp: int = 1  # sequence parallelism (Ulysses): ranks splitting one sequence along its length
    tp: int = 1  # tensor parallelism: ranks splitting each weight matrix
    pp: int = 1  # pipeline parallelism: ranks each holding a slice of the layers

    def __post_init__(self) -> None:
        for name in ("world_size", *MESH_ORDER):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"ParallelDims.{name}={value!r}: expected an integer >= 1")
        product = self.pp * self.dp_replicate * self.dp_shard * self.sp * self.tp
        if product != self.world_size:
            raise ConfigError(
                f"parallel degrees pp={self.pp} x dp_replicate={self.dp_replicate} x "
                f"dp_shard={self.dp_shard} x sp={self.sp} x tp={self.tp} = {product}, but the "
                f"world size is {self.world_size}: the degrees must multiply to the number of ranks"
            )

    @classmethod
    def from_config(cls, parallel: ParallelConfig, world_size: int) -> ParallelDims:
        """Degrees for `parallel` on `world_size` ranks; data parallelism takes what is left."""
        strategy = resolve_strategy(parallel.strategy, world_size)
        model_parallel = parallel.tp * parallel.pp * parallel.sp
        if world_size % model_parallel:
            raise ConfigError(
                f"parallel.tp={parallel.tp} x parallel.pp={parallel.pp} x parallel.sp="
                f"{parallel.sp} = {model_parallel} must divide the world size {world_size}"
            )
        dp = world_size // model_parallel
        split = dict(tp=parallel.tp, pp=parallel.pp, sp=parallel.sp)
        if strategy in SHARDED:
            return cls(world_size, dp_shard=dp, **split)
        return cls(world_size, dp_replicate=dp, **split)

    @property
    def dp(self) -> int:
        """Data-parallel degree: how many ranks see different samples of one global batch."""
        return self.dp_replicate * self.dp_shard

    def enabled(self) -> dict[str, int]:
        """Dimensions with more than one rank, outermost first."""
        return {name: getattr(self, name) for name in MESH_ORDER if getattr(self, name) > 1}

    def build_mesh(self, device_type: str):
        """A `DeviceMesh` over the enabled dimensions, always with a data-parallel one.

        Needs an initialised default process group. Sub-meshes are taken by name, e.g.
        `mesh["tp"]`; only enabled dimensions are created (no process groups for dimensions
        of size one), except that a run without data parallelism gets a one-rank `dp_shard`.
        Two flattened 1-D meshes are added: `dp` (all data-parallel ranks: which samples a
        rank reads) and `dp_sp` (`dp` and `sp` together: over which ranks gradients average).
        """
        from torch.distributed.device_mesh import init_device_mesh

        dims = self.enabled()
        if not any(name in dims for name in DATA_DIMS):
            dims = {**{k: v for k, v in dims.items() if k == "pp"}, "dp_shard": 1,
                    **{k: v for k, v in dims.items() if k != "pp"}}
        mesh = init_device_mesh(device_type, tuple(dims.values()), mesh_dim_names=tuple(dims))
        data = tuple(name for name in DATA_DIMS if name in dims)
        mesh[data]._flatten("dp")
        mesh[(*data, "sp") if "sp" in dims else data]._flatten("dp_sp")
        return mesh
