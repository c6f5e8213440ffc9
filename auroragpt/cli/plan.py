"""`auroragpt plan`: what a run needs per device, and what fits, before submitting it."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace


def register(subparsers) -> None:
    plan = subparsers.add_parser(
        "plan",
        help="per-device memory, FLOPs, step time and MFU of a run on a machine",
        description="Estimate one run's memory per device (parameters, gradients, optimizer "
                    "state, activations with and without checkpointing), FLOPs per step, step "
                    "time and MFU, from the config alone. Overrides are the training ones, "
                    "e.g. parallel.tp=4 parallel.pp=2 train.micro_batch_size=2 "
                    "model.max_seq_len=8192.",
        epilog="examples:\n"
               "  auroragpt plan --preset 7b --machine aurora\n"
               "  auroragpt plan --preset 70b --machine aurora --nodes 8 parallel.pp=4\n"
               "  auroragpt plan --preset 7b --machine aurora --nodes 4 --longest-seq\n"
               "  auroragpt plan --preset 70b --machine h100 --min-nodes",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    plan.add_argument("--preset", metavar="NAME", default="7b", help="debug ... 70b (default 7b)")
    plan.add_argument("--config", metavar="FILE", help="a YAML/TOML config instead of a preset")
    plan.add_argument("--machine", default="aurora",
                      help="aurora, a100-40, a100-80, h100 or h200 (default aurora)")
    plan.add_argument("--nodes", type=int, help="nodes of the run (default: the fewest on "
                                                "which this layout fits)")
    plan.add_argument("--longest-seq", action="store_true",
                      help="also print the longest sequence that fits, with and without "
                           "activation checkpointing")
    plan.add_argument("--min-nodes", action="store_true",
                      help="search strategies and tp/pp degrees for the fewest nodes that "
                           "hold the model, and print that plan")
    plan.add_argument("--efficiency", type=float, help="fraction of the bf16 peak reached by "
                                                       "the matmuls (default 0.6)")
    plan.add_argument("--headroom", type=float, help="fraction of device memory kept free "
                                                     "(default 0.1)")
    plan.add_argument("--intra-node-gbs", type=float, help="device-to-device GB/s in a node")
    plan.add_argument("--inter-node-gbs", type=float, help="per-device GB/s between nodes")
    plan.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    plan.set_defaults(func=run_plan)


def run_plan(args: argparse.Namespace) -> int:
    from auroragpt.config import ConfigError, apply_overrides, get_preset, load_config
    from auroragpt.parallel import planner
    from auroragpt.parallel.machines import get_machine

    try:
        cfg = load_config(args.config) if args.config else get_preset(args.preset)
        cfg = apply_overrides(cfg, args.overrides)
        machine = get_machine(args.machine)
        machine = replace(machine, **{k: v for k, v in (
            ("intra_node_gb_s", args.intra_node_gbs), ("inter_node_gb_s", args.inter_node_gbs))
            if v is not None})
        options = {k: v for k, v in (("efficiency", args.efficiency),
                                     ("headroom", args.headroom)) if v is not None}
        work = planner.workload_from_config(cfg)
        if args.min_nodes:
            best = planner.min_nodes(work, machine, **options)
            if best is None:
                print(f"{cfg.name} fits on no layout of up to 4096 {machine.name} nodes")
                return 1
            nodes = best.layout.world // machine.devices_per_node
            print(f"fewest nodes for {cfg.name}: {nodes} (best layout found there)\n")
            print(planner.format_plan(best))
            return 0
        nodes = args.nodes or planner.fewest_nodes(cfg, machine, **options)
        layout = planner.layout_from_config(cfg, nodes * machine.devices_per_node)
        plan = planner.make_plan(work, layout, machine, **options)
        print(planner.format_plan(plan))
        if args.longest_seq:
            print()
            for ac in (False, True):
                longest = planner.longest_sequence(
                    replace(work, activation_checkpointing=ac), layout, machine, **options)
                print(f"longest sequence that fits, checkpointing {'on' if ac else 'off'}: "
                      f"{longest:,} tokens" if longest else "no sequence fits")
    except ConfigError as err:
        print(f"auroragpt plan: error: {err}", file=sys.stderr)
        return 2
    return 0 if plan.fits else 1
