"""`auroragpt train` (the main job) and `auroragpt generate` (stream text from a checkpoint)."""

from __future__ import annotations

import argparse
import sys

from auroragpt.cli.args import non_negative_float, positive_int, probability


def register(subparsers) -> None:
    train = subparsers.add_parser(
        "train",
        help="train a model (default: the tiny preset on the built-in corpora)",
        description="Train a Llama-style model. Without arguments: the tiny preset on a blend "
                    "of the built-in corpora, on the best available device, into runs/tiny.",
        epilog="examples:\n"
               "  auroragpt train\n"
               "  auroragpt train --preset debug train.max_steps=50 --run-dir runs/try\n"
               "  auroragpt train --config my.yaml model.n_layers=4 train.save_every=50\n"
               "  auroragpt train --run-dir runs/tiny --resume train.max_steps=600",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("--config", metavar="FILE",
                       help="YAML or TOML config (may name a base with `preset: NAME`)")
    train.add_argument("--preset", metavar="NAME",
                       help="debug, tiny, 125m, 1b, 7b or 70b (default: tiny; on --resume the "
                            "run's own config.yaml)")
    train.add_argument("--run-dir", metavar="DIR", help="run directory (default: runs/<name>)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in the run directory from its latest checkpoint")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    train.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                       help="config overrides such as train.max_steps=200 model.n_layers=4")
    train.set_defaults(func=run_train)

    generate = subparsers.add_parser(
        "generate",
        help="stream text from a checkpoint",
        description="Continue a prompt with a trained checkpoint, printing tokens as they come.",
        epilog="example:\n  auroragpt generate --ckpt runs/tiny --prompt 'def '",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    generate.add_argument("--ckpt", required=True, metavar="DIR",
                          help="a checkpoint directory (global_step<N>) or a run directory "
                               "(its latest checkpoint)")
    generate.add_argument("--prompt", required=True, action="append",
                          help="text to continue (repeat for several prompts)")
    generate.add_argument("--max-new-tokens", type=positive_int, default=128)
    generate.add_argument("--temperature", type=non_negative_float, default=0.8,
                          help="0 = greedy")
    generate.add_argument("--top-k", type=positive_int, default=40)
    generate.add_argument("--top-p", type=probability, default=None)
    generate.add_argument("--seed", type=int, default=0, help="seed of the sampling generator")
    generate.set_defaults(func=run_generate)


def run_train(args: argparse.Namespace) -> int:
    from auroragpt.checkpoint import CheckpointError
    from auroragpt.config import ConfigError
    from auroragpt.data import DataError
    from auroragpt.distributed import setup, teardown
    from auroragpt.train import RunDirError, TrainingError, resolve_config, train

    try:
        cfg = resolve_config(preset=args.preset, config_file=args.config,
                             overrides=args.overrides, run_dir=args.run_dir, resume=args.resume)
        summary = train(cfg, run_dir=args.run_dir, resume=args.resume,
                        progress=not args.no_progress)
        is_main = setup().is_main  # the job train() joined
    except (ConfigError, RunDirError, CheckpointError, DataError, TrainingError) as err:
        print(f"auroragpt train: error: {err}", file=sys.stderr)
        return 2
    finally:
        teardown()
    if is_main:
        print(summary)
    return 0


def run_generate(args: argparse.Namespace) -> int:
    import torch

    from auroragpt.checkpoint import CheckpointError, checkpoint_step, resolve_checkpoint
    from auroragpt.distributed import setup
    from auroragpt.eval.loading import load_model
    from auroragpt.generation import stream_text

    device = setup().device
    try:
        path = resolve_checkpoint(args.ckpt)
        model, tokenizer = load_model(path, device=device)
    except CheckpointError as err:
        print(f"auroragpt generate: error: {err}", file=sys.stderr)
        return 2
    generator = torch.Generator(device=device).manual_seed(args.seed)
    print(f"# {path} (step {checkpoint_step(path)}) on {device}", file=sys.stderr)
    for prompt in args.prompt:
        sys.stdout.write(prompt)
        for piece in stream_text(model, tokenizer, prompt, args.max_new_tokens,
                                 temperature=args.temperature, top_k=args.top_k,
                                 top_p=args.top_p, generator=generator):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
    return 0
