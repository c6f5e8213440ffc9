"""Reference solution of exercise 06: ZeRO memory arithmetic and the ring all-reduce's cost."""

import math

BYTES_PER_PARAM = {"fp32": (4, 4, 8), "bf16": (2, 2, 12)}  # parameters, gradients, optimizer
SHARDED = {"ddp": (), "zero1": ("optimizer",), "zero2": ("gradients", "optimizer"),
           "zero3": ("parameters", "gradients", "optimizer"),
           "fsdp": ("parameters", "gradients", "optimizer")}


def state_bytes_per_rank(n_params: int, ranks: int, strategy: str,
                         precision: str = "fp32") -> dict[str, float]:
    """Bytes of each part of the training state on one rank."""
    if strategy not in SHARDED:
        raise ValueError(f"unknown strategy {strategy!r}")
    if precision not in BYTES_PER_PARAM:
        raise ValueError(f"unknown precision {precision!r}")
    if ranks < 1:
        raise ValueError(f"ranks={ranks} must be >= 1")
    parts = dict(zip(("parameters", "gradients", "optimizer"), BYTES_PER_PARAM[precision],
                     strict=True))
    return {name: n_params * size / (ranks if name in SHARDED[strategy] else 1)
            for name, size in parts.items()}


def min_ranks_to_fit(n_params: int, device_bytes: float, strategy: str,
                     precision: str = "fp32") -> int | None:
    """Smallest N with whole + sharded / N <= device_bytes."""
    one = state_bytes_per_rank(n_params, 1, strategy, precision)
    sharded = sum(one[name] for name in SHARDED[strategy])
    whole = sum(one.values()) - sharded
    if whole > device_bytes or (whole == device_bytes and sharded > 0):
        return None
    if sharded == 0:
        return 1
    ranks = max(1, math.ceil(sharded / (device_bytes - whole)))
    while ranks > 1 and sum(state_bytes_per_rank(n_params, ranks - 1, strategy,
                                                 precision).values()) <= device_bytes:
        ranks -= 1  # float rounding in the division above
    while sum(state_bytes_per_rank(n_params, ranks, strategy, precision).values()) > device_bytes:
        ranks += 1
    return ranks


def ring_allreduce_seconds(nbytes: float, ranks: int, alpha: float, beta: float) -> float:
    """2 (p - 1) steps, each one message of n / p bytes."""
    steps = 2 * (ranks - 1)
    return steps * (alpha + nbytes / ranks * beta)
