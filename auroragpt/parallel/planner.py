"""What fits where: per-device memory, FLOPs, step time and MFU of a run, before running it.

Pure arithmetic on a `Config` (no torch): the answers `auroragpt plan` prints.

Memory per device is the sum of
- training state: parameters, gradients and AdamW state, with the bytes per parameter that our
  own strategies hold (`STATE_BYTES`, measured on CPU ranks by tests/parallel/test_planner.py
  with `auroragpt.parallel.PeakStateBytes`), divided by tensor and pipeline parallelism as the
  layers and matrices are split;
- communication buffers the strategy keeps next to that state (DDP's gradient buckets, FSDP's
  gathered layers);
- activations saved for backward: the per-layer count of Korthikanti et al. 2022 ("Reducing
  Activation Recomputation in Large Transformer Models", section 4.1), redone for this model
  (`ACTIVATION_TERMS`): RMSNorm instead of LayerNorm, SwiGLU instead of a 4h GeLU MLP, grouped
  KV heads, no dropout, and fused (flash) attention, which keeps a log-sum-exp per query
  instead of the s^2 score matrices, so no term grows with the square of the sequence;
  multiplied by the layers of the busiest pipeline stage and the micro-batches it holds at once.

Time per step is the model's FLOPs at an assumed fraction of the device peak, stretched by the
pipeline bubble, plus the communication that cannot overlap compute (tensor-parallel and
Ulysses collectives, pipeline sends, and whatever data-parallel traffic outlasts backward).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from auroragpt.config import Config, ConfigError, ModelConfig, flops_per_token
from auroragpt.parallel.dims import check_composition
from auroragpt.parallel.machines import GiB, Machine

# ----------------------------------------------------------------------------------------------
# Training state per parameter
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StateBytes:
    """Bytes per parameter of one strategy: `*_full` on every rank, `*_sharded` split over dp."""

    params_full: float = 0.0
    params_sharded: float = 0.0
    grads_full: float = 0.0
    grads_sharded: float = 0.0
    optim_sharded: float = 0.0  # AdamW state (and master weights) are always split or whole
    optim_full: float = 0.0


# (strategy, precision) -> bytes per parameter our engines hold just before an update.
# NOTE: `none` and `ddp` keep fp32 weights and autocast to bf16, so bf16 changes only the
# activations; FSDP keeps fp32 shards (it gathers bf16 copies per layer, counted as buffers).
# DeepSpeed keeps the module in the compute dtype, an fp32 master partition next to AdamW's m
# and v, the gradient partition, and one more fp32 buffer the size of the largest parameter
# group's partition (the weight matrices): `DEEPSPEED_GROUP_BUFFER`.
STATE_BYTES: dict[tuple[str, str], StateBytes] = {
    **{(s, p): StateBytes(params_full=4, grads_full=4, optim_full=8)
       for s in ("single", "ddp") for p in ("fp32", "bf16")},
    **{("fsdp", p): StateBytes(params_sharded=4, grads_sharded=4, optim_sharded=8)
       for p in ("fp32", "bf16")},
    **{(f"zero{stage}", p): StateBytes(
        params_full=w if stage < 3 else 0, params_sharded=w if stage == 3 else 0,
        grads_sharded=w, optim_sharded=12)
       for stage in (1, 2, 3) for p, w in (("fp32", 4), ("bf16", 2))},
}
DEEPSPEED_GROUP_BUFFER = 4  # fp32 bytes per weight-matrix parameter, split over dp


# ----------------------------------------------------------------------------------------------
# Activations per layer
# ----------------------------------------------------------------------------------------------

# Bytes saved for backward by one transformer block, per unit of each shape, counted tensor by
# tensor from what autograd keeps in model.py (and checked against saved-tensor hooks in the
# tests). Units: sbh = tokens x dim, sbkv = tokens x kv heads x head dim, sbf = tokens x SwiGLU
# hidden, sb = tokens, sba = tokens x heads (the fused attention's fp32 log-sum-exp), and
# `weights`: bytes per weight-matrix parameter of the block kept until its backward.
#   fp32:     block input, then per RMSNorm its input-times-rsqrt and its output, rotated q,
#             attention output, the residual h, ... (8 tensors of sbh); rotated k and v;
#             w1 and w3 outputs, SiLU output and the product fed to w2 (4 of sbf).
#   autocast: fp32 weights under bf16 autocast (strategies none, ddp): the residual stream and
#             norms stay fp32, every linear saves its own bf16 copy of its input (three for
#             wq/wk/wv), and the bf16 copies of the weights live until backward.
#   bf16:     weights already bf16 (FSDP's mixed precision, DeepSpeed bf16): bf16 residual;
#             each RMSNorm saves an fp32 copy of its input.
ACTIVATION_TERMS: dict[str, dict[str, float]] = {
    "fp32": {"sbh": 32, "sbkv": 8, "sbf": 16, "sb": 8, "sba": 4, "weights": 0},
    "autocast": {"sbh": 30, "sbkv": 4, "sbf": 8, "sb": 8, "sba": 4, "weights": 2},
    "bf16": {"sbh": 20, "sbkv": 4, "sbf": 8, "sb": 8, "sba": 4, "weights": 0},
}


def activation_regime(strategy: str, precision: str) -> str:
    """Which row of ACTIVATION_TERMS a strategy runs in."""
    if precision == "fp32":
        return "fp32"
    return "autocast" if strategy in ("single", "ddp") else "bf16"


def block_matrix_params(model: ModelConfig) -> int:
    """Weight-matrix parameters of one transformer block (norm gains excluded)."""
    d, kv = model.dim, model.kv_heads * model.head_dim
    return 2 * d * d + 2 * d * kv + 3 * d * model.ffn_hidden_dim


def layer_activation_bytes(model: ModelConfig, tokens: int, regime: str,
                           shards: int = 1) -> float:
    """Bytes one block saves for backward for `tokens` = micro-batch x sequence tokens.

    `shards`: tensor x sequence-parallel degree; every term, weights included, is split that way
    (Korthikanti et al.'s tensor + sequence parallelism; Ulysses splits the sequence outside
    attention and the heads inside it).
    """
    c = ACTIVATION_TERMS[regime]
    kv = model.kv_heads * model.head_dim
    per_token = (c["sbh"] * model.dim + c["sbkv"] * kv + c["sbf"] * model.ffn_hidden_dim
                 + c["sb"] + c["sba"] * model.n_heads)
    return (tokens * per_token + c["weights"] * block_matrix_params(model)) / shards


def head_activation_bytes(model: ModelConfig, tokens: int, regime: str, shards: int = 1) -> float:
    """What the last stage's final norm, output projection and loss save for backward.

    The loss softmax runs in fp32 and saves its log-probabilities (tokens x vocab).
    """
    residual = 4 if regime != "bf16" else 2
    norm = tokens * (residual + 4) * model.dim + 4 * tokens  # input copy, x * rsqrt, rsqrt
    output_input = tokens * model.dim * (4 if regime == "fp32" else 2)
    weights = 2 * model.vocab_size * model.dim if regime == "autocast" else 0
    return (norm + output_input + weights + 4 * tokens * model.vocab_size) / shards


# ----------------------------------------------------------------------------------------------
# One device's share of the model
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """How a run spreads over devices; data parallelism takes what the others leave."""

    world: int  # devices in the job
    strategy: str = "ddp"  # none | ddp | fsdp | zero1 | zero2 | zero3
    tp: int = 1
    pp: int = 1
    sp: int = 1  # Ulysses sequence-parallel degree
    pp_schedule: str = "1f1b"  # gpipe | 1f1b | interleaved
    virtual_stages: int = 1  # model chunks per pipeline rank (interleaved only)

    @property
    def dp(self) -> int:
        return self.world // (self.tp * self.pp * self.sp)

    def check(self, model: ModelConfig) -> None:
        """Refuse degrees that cannot run, naming the field (training's refusals included, so
        the planner never recommends a layout `auroragpt train` would refuse)."""
        check_composition(self.strategy, self)
        if self.world % (self.tp * self.pp * self.sp):
            raise ConfigError(
                f"parallel.tp={self.tp} x parallel.pp={self.pp} x parallel.sp={self.sp} must "
                f"divide the number of devices {self.world}")
        chunks = self.pp * self.virtual_stages
        if model.n_layers % chunks:
            raise ConfigError(f"model.n_layers={model.n_layers} must be divisible by "
                              f"parallel.pp x virtual stages = {chunks}")
        if model.n_heads % (self.tp * self.sp):
            raise ConfigError(f"model.n_heads={model.n_heads} must be divisible by "
                              f"parallel.tp x parallel.sp = {self.tp * self.sp}")


@dataclass(frozen=True)
class DeviceParams:
    """Parameters one device holds: all of them, and those in weight matrices."""

    total: int
    matrices: int  # AdamW's decayed group: every 2-D weight except the token embedding


def device_params(model: ModelConfig, tp: int = 1, pp: int = 1, first: bool = True,
                  last: bool = True) -> DeviceParams:
    """What a pipeline stage (the first and/or last) holds on one tensor-parallel rank.

    Matrices and both vocabulary tables are split over tp; norm gains are copied. When
    tp exceeds the KV heads each rank keeps one KV head. Tied embeddings are one tensor when
    one stage has both ends, and one copy on each end otherwise.
    """
    d, f = model.dim, model.ffn_hidden_dim
    kv_local = max(model.kv_heads // tp, 1) * model.head_dim
    block = 2 * d * d // tp + 2 * d * kv_local + 3 * d * f // tp
    layers = model.n_layers // pp
    matrices = layers * block
    total = matrices + layers * 2 * d
    table = model.vocab_size * d // tp
    if first:
        total += table
    if last:
        total += d  # final norm
        if not (model.tie_embeddings and first):
            total += table
            matrices += table  # the output projection is decayed
    return DeviceParams(total, matrices)


def state_bytes(model: ModelConfig, strategy: str, precision: str, dp: int,
                params: DeviceParams) -> dict[str, float]:
    """Parameters, gradients and optimizer state (bytes) of one device; buffers apart."""
    sb = STATE_BYTES[(strategy, precision)]
    n = params.total
    optim = (sb.optim_full + sb.optim_sharded / dp) * n
    if strategy.startswith("zero"):
        optim += DEEPSPEED_GROUP_BUFFER * params.matrices / dp
    return {
        "parameters": (sb.params_full + sb.params_sharded / dp) * n,
        "gradients": (sb.grads_full + sb.grads_sharded / dp) * n,
        "optimizer": optim,
        "buffers": 4 * model.max_seq_len * model.head_dim,  # the fp32 RoPE table
    }


def comm_buffer_bytes(model: ModelConfig, strategy: str, precision: str, tp: int,
                      params: DeviceParams, pp: int = 1) -> float:
    """Buffers a strategy adds for communication (not training state).

    DDP copies gradients into flat fp32 buckets (as large as the gradients); FSDP holds the
    gathered compute-dtype weights of two blocks (the current one and the prefetched next)
    and one block's unsharded fp32 gradients before their reduce-scatter.
    """
    if strategy == "ddp":  # the pipeline engine all-reduces once per step, without buckets
        return 4 * params.total if pp == 1 else 0.0
    if strategy == "fsdp":
        e = 2 if precision == "bf16" else 4
        return (2 * e + 4) * block_matrix_params(model) / tp
    return 0.0


def pipeline_buffer_bytes(model: ModelConfig, tokens: int, regime: str, stages: int = 1,
                          shards: int = 1) -> float:
    """Receive buffers a pipeline stage keeps: one micro-batch of hidden states coming in and
    one of their gradients coming back, per stage on the rank (measured: torch's PipelineStage
    allocates both on every stage), in the residual stream's dtype."""
    residual = 2 if regime == "bf16" else 4
    return 2 * stages * tokens * model.dim * residual / shards


# ----------------------------------------------------------------------------------------------
# The plan
# ----------------------------------------------------------------------------------------------

DEFAULT_EFFICIENCY = 0.6  # assumed fraction of the bf16 peak that large matmuls reach
DEFAULT_HEADROOM = 0.1  # fraction of device memory left to the allocator, runtime and caches


@dataclass(frozen=True)
class Workload:
    """What one optimizer step computes."""

    model: ModelConfig
    seq_len: int
    micro_batch: int
    global_batch: int
    precision: str = "bf16"  # fp32 | bf16
    activation_checkpointing: bool = False

    @property
    def micro_tokens(self) -> int:
        return self.micro_batch * self.seq_len


@dataclass
class Plan:
    workload: Workload
    layout: Layout
    machine: Machine
    memory: dict[str, float]  # the busiest device: name -> bytes
    activations_other: float  # activation bytes with checkpointing switched the other way
    flops_per_step: float  # model FLOPs (no recomputation) of the whole global batch
    step_s: float
    time_parts: dict[str, float]  # seconds: compute, bubble, tp, sp, pp, dp (exposed)
    headroom: float = DEFAULT_HEADROOM
    notes: list[str] | None = None

    @property
    def total_bytes(self) -> float:
        return sum(self.memory.values())

    @property
    def usable_bytes(self) -> float:
        return self.machine.memory_bytes * (1 - self.headroom)

    @property
    def fits(self) -> bool:
        return self.total_bytes <= self.usable_bytes

    @property
    def micro_batches(self) -> int:
        """Micro-batches per data-parallel rank and step (gradient accumulation)."""
        return max(1, self.workload.global_batch // (self.workload.micro_batch * self.layout.dp))

    @property
    def mfu(self) -> float:
        peak = self.layout.world * self.machine.bf16_tflops * 1e12
        return self.flops_per_step / (self.step_s * peak)

    @property
    def tokens_per_s(self) -> float:
        return self.workload.global_batch * self.workload.seq_len / self.step_s


def in_flight(layout: Layout, stage: int, micro_batches: int) -> float:
    """Micro-batches whose activations a pipeline stage holds at once (in units of its layers).

    GPipe runs every forward before any backward; 1F1B starts backward once the pipeline is
    full, so stage i holds pp - i; interleaved 1F1B warms up with (v - 1) * pp + 2 (pp - 1 - i)
    chunk forwards (torch's and Megatron's schedule), each 1/v of the stage's layers.
    """
    if layout.pp == 1:
        return 1
    if layout.pp_schedule == "gpipe":
        return micro_batches
    if layout.pp_schedule == "interleaved":
        v, p = layout.virtual_stages, layout.pp
        chunks = (v - 1) * p + 2 * (p - 1 - stage) + 1
        return min(chunks / v, micro_batches)
    return min(layout.pp - stage, micro_batches)


def stage_memory(work: Workload, layout: Layout, stage: int, micro_batches: int,
                 checkpointing: bool) -> dict[str, float]:
    """Bytes on one device of pipeline stage `stage`."""
    model, pp = work.model, layout.pp
    first, last = stage == 0, stage == pp - 1
    params = device_params(model, layout.tp, pp, first, last)
    memory = state_bytes(model, layout.strategy, work.precision, layout.dp, params)
    memory["communication buffers"] = comm_buffer_bytes(model, layout.strategy, work.precision,
                                                        layout.tp, params, pp)
    regime = activation_regime(layout.strategy, work.precision)
    shards = layout.tp * layout.sp
    if pp > 1:
        memory["communication buffers"] += pipeline_buffer_bytes(
            model, work.micro_tokens, regime, layout.virtual_stages, shards)
    layers = model.n_layers // pp
    held = in_flight(layout, stage, micro_batches)
    per_layer = layer_activation_bytes(model, work.micro_tokens, regime, shards)
    if checkpointing:
        residual = 2 if regime == "bf16" else 4
        inputs = residual * work.micro_tokens * model.dim / shards
        activations = layers * held * inputs + per_layer  # + one block recomputed in backward
    else:
        activations = layers * held * per_layer
    if last:  # + the fp32 gradient of the logits, as large as their log-softmax, in backward
        activations += (head_activation_bytes(model, work.micro_tokens, regime, layout.tp)
                        + 4 * work.micro_tokens * model.vocab_size / layout.tp)
    memory["activations"] = activations
    return memory


def _ring_s(nbytes: float, ranks: int, gb_s: float, passes: float = 2.0) -> float:
    """Seconds of a ring collective moving `passes` x (n - 1) / n of `nbytes` per rank."""
    return passes * (ranks - 1) / ranks * nbytes / (gb_s * 1e9) if ranks > 1 else 0.0


def step_time(work: Workload, layout: Layout, machine: Machine, micro_batches: int,
              efficiency: float) -> dict[str, float]:
    """Seconds per step, by part."""
    model = work.model
    e = 2 if work.precision == "bf16" else 4
    flops = flops_per_token(model, work.seq_len) * work.global_batch * work.seq_len
    if work.activation_checkpointing:
        flops *= 4 / 3  # the forward (2 of every 6 FLOPs) runs twice
    compute = flops / layout.world / (machine.bf16_tflops * 1e12 * efficiency)
    bubble = compute * (layout.pp - 1) / (micro_batches * layout.virtual_stages)
    per_node = machine.devices_per_node
    bandwidth = lambda group: (machine.intra_node_gb_s if per_node % group == 0  # noqa: E731
                               else machine.inter_node_gb_s)
    layers, shards = model.n_layers // layout.pp, layout.tp * layout.sp
    forwards = 2 if work.activation_checkpointing else 1
    # Tensor parallel: two all-reduces (or all-gather + reduce-scatter) per block per forward
    # and two per backward, of the micro-batch's hidden states.
    hidden = work.micro_tokens * model.dim * e / layout.sp
    tp = layers * micro_batches * 2 * (forwards + 1) * _ring_s(hidden, layout.tp,
                                                                bandwidth(shards))
    # Ulysses: q, k, v and the attention output change layout by all-to-all, both ways.
    kv = model.kv_heads * model.head_dim
    qkvo = work.micro_tokens * (2 * model.dim + 2 * kv) * e / shards
    sp = layers * micro_batches * (forwards + 1) * _ring_s(qkvo, layout.sp, bandwidth(shards),
                                                           passes=1)
    # Pipeline: each micro-batch's activations go forward and their gradients back per chunk.
    pp = 0.0
    if layout.pp > 1:
        pp = (2 * micro_batches * layout.virtual_stages * hidden / layout.tp
              / (bandwidth(layout.world) * 1e9))
    # Data parallel: overlaps backward (2/3 of the compute); only the excess shows.
    params = device_params(model, layout.tp, layout.pp, True, layout.pp == 1).total
    grads = {"ddp": 2 * 4, "fsdp": 2 * e + 4, "zero1": 2 * e, "zero2": 2 * e,
             "zero3": 3 * e}.get(layout.strategy, 0)
    dp_s = _ring_s(grads * params, layout.dp, bandwidth(layout.world), passes=1)
    dp = max(0.0, dp_s - compute * 2 / 3)
    return {"compute": compute, "bubble": bubble, "tp": tp, "sp": sp, "pp": pp, "dp": dp}


def make_plan(work: Workload, layout: Layout, machine: Machine,
              efficiency: float = DEFAULT_EFFICIENCY,
              headroom: float = DEFAULT_HEADROOM) -> Plan:
    """Memory of the busiest device, FLOPs, step time and MFU of one layout."""
    layout.check(work.model)
    micro_batches = max(1, work.global_batch // (work.micro_batch * layout.dp))
    stages = sorted({0, layout.pp - 1})

    def busiest(checkpointing: bool) -> dict[str, float]:
        return max((stage_memory(work, layout, s, micro_batches, checkpointing) for s in stages),
                   key=lambda m: sum(m.values()))

    memory = busiest(work.activation_checkpointing)
    other = busiest(not work.activation_checkpointing)["activations"]
    parts = step_time(work, layout, machine, micro_batches, efficiency)
    notes = []
    if work.global_batch % (work.micro_batch * layout.dp):
        notes.append(f"global batch {work.global_batch} is not a multiple of micro-batch "
                     f"{work.micro_batch} x data-parallel {layout.dp}; choose "
                     f"train.global_batch_size={micro_batches * work.micro_batch * layout.dp}"
                     " or another degree")
    if machine.devices_per_node % (layout.tp * layout.sp):
        notes.append(f"tensor x sequence parallel groups of {layout.tp * layout.sp} straddle "
                     f"nodes of {machine.devices_per_node} devices (slow inter-node traffic)")
    flops = flops_per_token(work.model, work.seq_len) * work.global_batch * work.seq_len
    return Plan(work, layout, machine, memory, other, flops, sum(parts.values()), parts,
                headroom, notes)


# ----------------------------------------------------------------------------------------------
# From a config, and the two questions
# ----------------------------------------------------------------------------------------------


def workload_from_config(cfg: Config, seq_len: int | None = None) -> Workload:
    precision = "fp32" if cfg.train.dtype == "fp32" else "bf16"  # auto is bf16 on accelerators
    # NOTE: only full checkpointing ("full" or true) is modelled; selective recomputation
    # (norms and SiLU) is counted as none, an overestimate of its activations.
    full = cfg.train.activation_checkpointing in (True, "full")
    return Workload(cfg.model, seq_len or cfg.model.max_seq_len, cfg.train.micro_batch_size,
                    cfg.train.global_batch_size, precision, full)


def layout_from_config(cfg: Config, world: int) -> Layout:
    p = cfg.parallel
    strategy = p.strategy if p.strategy not in ("auto", None) else ("ddp" if world > 1 else "single")
    # NOTE: `parallel.sp` counts Ulysses ranks when it is an integer; a boolean (Megatron-style
    # sequence-parallel norms inside tensor parallelism) adds no ranks.
    sp = p.sp if isinstance(p.sp, int) and not isinstance(p.sp, bool) else 1
    return Layout(world, strategy, p.tp, p.pp, sp, p.pp_schedule, p.stages_per_rank)


def plan_config(cfg: Config, machine: Machine, nodes: int, **kwargs) -> Plan:
    return make_plan(workload_from_config(cfg), layout_from_config(cfg, nodes * machine.devices_per_node),
                     machine, **kwargs)


def fewest_nodes(cfg: Config, machine: Machine, max_nodes: int = 4096, **kwargs) -> int:
    """The fewest nodes on which the config's own degrees fit (1 if none does)."""
    work = workload_from_config(cfg)
    for nodes in range(1, max_nodes + 1):
        layout = layout_from_config(cfg, nodes * machine.devices_per_node)
        try:
            if make_plan(work, layout, machine, **kwargs).fits:
                return nodes
        except ConfigError:  # degrees that do not divide this many devices
            continue
    return 1


def longest_sequence(work: Workload, layout: Layout, machine: Machine, step: int = 256,
                     limit: int = 2**24, **kwargs) -> int:
    """The longest sequence (a multiple of `step`) whose plan fits, or 0 if none does."""
    fits = lambda n: make_plan(replace(work, seq_len=n), layout, machine, **kwargs).fits  # noqa: E731
    if not fits(step):
        return 0
    lo, hi = 1, limit // step  # fits(lo * step) is known true
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid * step):
            lo = mid
        else:
            hi = mid - 1
    return lo * step


def candidate_layouts(model: ModelConfig, world: int, per_node: int,
                      strategies: tuple[str, ...]) -> list[Layout]:
    """Layouts worth trying on `world` devices: tensor parallel inside a node, any pipeline."""
    layouts = []
    for strategy in strategies:
        for tp in (t for t in range(1, per_node + 1) if per_node % t == 0):
            for pp in (p for p in range(1, model.n_layers + 1) if model.n_layers % p == 0):
                layout = Layout(world, strategy, tp, pp)
                try:
                    layout.check(model)
                except ConfigError:
                    continue
                layouts.append(layout)
    return layouts


SEARCH_STRATEGIES = ("ddp", "fsdp", "zero1", "zero2", "zero3")


def min_nodes(work: Workload, machine: Machine, max_nodes: int = 4096,
              strategies: tuple[str, ...] = SEARCH_STRATEGIES, **kwargs) -> Plan | None:
    """The plan with the best MFU on the fewest nodes where any layout fits, or None.

    Tries every strategy, tensor parallel degree within a node and pipeline degree, with and
    without activation checkpointing.
    """
    for nodes in range(1, max_nodes + 1):
        world = nodes * machine.devices_per_node
        plans = [make_plan(replace(work, activation_checkpointing=ac), layout, machine, **kwargs)
                 for layout in candidate_layouts(work.model, world, machine.devices_per_node,
                                                 strategies)
                 for ac in (False, True)]
        fitting = [plan for plan in plans if plan.fits]
        if fitting:
            return max(fitting, key=lambda plan: plan.mfu)
    return None


def format_plan(plan: Plan) -> str:
    """The report `auroragpt plan` prints."""
    w, lay, m = plan.workload, plan.layout, plan.machine
    gib = lambda b: f"{b / GiB:8.2f} GiB"  # noqa: E731
    ac = "on" if w.activation_checkpointing else "off"
    nodes = lay.world / m.devices_per_node
    lines = [
        f"{m.device}: {m.memory_bytes / GiB:.0f} GiB, {m.bf16_tflops:g} bf16 TFLOP/s, "
        f"{m.devices_per_node} per node",
        f"layout: {lay.world} devices ({nodes:g} nodes) = pp {lay.pp} x dp {lay.dp} x "
        f"sp {lay.sp} x tp {lay.tp}; {lay.strategy}; pipeline {lay.pp_schedule}"
        + (f" x{lay.virtual_stages}" if lay.pp_schedule == "interleaved" else ""),
        f"batch: {w.global_batch} x {w.seq_len} tokens; micro-batch {w.micro_batch} x "
        f"{plan.micro_batches} per rank; {w.precision}; activation checkpointing {ac}",
        "",
        "memory of the busiest device:",
        *(f"  {name:<22}{gib(nbytes)}" for name, nbytes in plan.memory.items()),
        f"  {'total':<22}{gib(plan.total_bytes)}   of {gib(plan.usable_bytes).strip()} usable "
        f"({plan.headroom:.0%} kept free): {'fits' if plan.fits else 'DOES NOT FIT'}",
        f"  {'(activations, checkpointing ' + ('off' if w.activation_checkpointing else 'on') + ')':<22}"
        f"{gib(plan.activations_other)}",
        "",
        f"FLOPs per step: {plan.flops_per_step:.3e} (model FLOPs, 6N + attention)",
        f"step time: {plan.step_s:.2f} s  ("
        + ", ".join(f"{k} {v:.2f}" for k, v in plan.time_parts.items() if v > 0) + ")",
        f"throughput: {plan.tokens_per_s:,.0f} tokens/s; MFU {plan.mfu:.1%}",
    ]
    return "\n".join(lines + [f"note: {n}" for n in plan.notes or []])
