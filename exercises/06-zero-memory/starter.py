"""Exercise 06: training-state bytes per rank under DDP and ZeRO, and the ring all-reduce's cost.

Fill in the functions below, then check your work from the repository root:

    auroragpt exercises check 06
    auroragpt exercises check 06 --file my_copy.py
"""


def state_bytes_per_rank(n_params: int, ranks: int, strategy: str,
                         precision: str = "fp32") -> dict[str, float]:
    """Bytes of {"parameters", "gradients", "optimizer"} one rank holds.

    fp32: 4 + 4 + 8 bytes per parameter; bf16 mixed precision: 2 + 2 + 12 (fp32 master weight
    and two fp32 moments). ddp shards nothing; zero1 shards the optimizer state over `ranks`;
    zero2 also the gradients; zero3 and fsdp everything. Ideal fractions, no padding.
    Raises ValueError for an unknown strategy or precision, or ranks < 1.
    """
    # TODO 1: refuse bad arguments
    # TODO 2: bytes per parameter of each part for this precision
    # TODO 3: divide the parts this strategy shards by `ranks`
    raise NotImplementedError("TODO: state_bytes_per_rank")


def min_ranks_to_fit(n_params: int, device_bytes: float, strategy: str,
                     precision: str = "fp32") -> int | None:
    """The smallest number of ranks whose per-rank state fits in device_bytes, else None."""
    # TODO: what never shrinks with more ranks? If that alone does not fit, return None.
    raise NotImplementedError("TODO: min_ranks_to_fit")


def ring_allreduce_seconds(nbytes: float, ranks: int, alpha: float, beta: float) -> float:
    """Seconds of a ring all-reduce of nbytes over `ranks` ranks; one message costs alpha + n*beta.

    Reduce-scatter then all-gather, each ranks - 1 steps; in each step every rank sends one
    chunk of nbytes / ranks bytes at the same time. One rank needs no communication.
    """
    # TODO: count the steps and the bytes per step
    raise NotImplementedError("TODO: ring_allreduce_seconds")
