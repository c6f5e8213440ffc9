"""`auroragpt eval`, `auroragpt export-hf` and `auroragpt import-hf`."""

from __future__ import annotations

import argparse
import sys

from auroragpt.cli.args import non_negative_float, non_negative_int, positive_int


def register(subparsers) -> None:
    evaluate = subparsers.add_parser(
        "eval", help="evaluate every checkpoint of a run: loss, probes, generations, repetition",
        description="For each RUN_DIR/checkpoints/global_step*: validation loss and perplexity "
                    "per corpus, held-out probe accuracy per corpus, greedy and sampled "
                    "generations and their repetition. Writes RUN_DIR/eval/summary.md, "
                    "summary.csv, results.jsonl and plots vs tokens seen. Steps already "
                    "evaluated with the same settings are skipped (see --force).",
    )
    evaluate.add_argument("run_dir", metavar="RUN_DIR")
    evaluate.add_argument("--steps", type=_steps,
                          help="only these steps, comma-separated (default: every checkpoint)")
    evaluate.add_argument("--force", action="store_true", help="re-evaluate steps already done")
    evaluate.add_argument("--probes", type=non_negative_int, default=32, metavar="N",
                          help="held-out probes per built-in corpus (default: 32)")
    evaluate.add_argument("--val-samples", type=positive_int, default=16, metavar="N",
                          help="validation sequences per corpus (default: 16)")
    evaluate.add_argument("--no-val", action="store_true",
                          help="skip validation loss (no data preparation)")
    evaluate.add_argument("--prompt", action="append", dest="prompts", metavar="TEXT",
                          help="generation prompt (repeatable; default: 'def ' and one held-out "
                               "probe prompt per corpus)")
    evaluate.add_argument("--max-new-tokens", type=positive_int, default=64, metavar="N")
    evaluate.add_argument("--temperature", type=non_negative_float, default=0.8,
                          help="for the sampled generations (default: 0.8)")
    evaluate.add_argument("--top-k", type=positive_int, default=40, help="for the sampled generations")
    evaluate.add_argument("--seed", type=int, default=0, help="sampling seed, the same per step")
    evaluate.add_argument("--batch-size", type=positive_int, default=16, metavar="N")
    evaluate.add_argument("--device", default="auto",
                          help="cpu, cuda, xpu, mps (default: auto, as auroragpt.distributed picks)")
    evaluate.add_argument("--no-progress", action="store_true")
    evaluate.set_defaults(func=_eval)

    export = subparsers.add_parser(
        "export-hf", help="write a checkpoint as a Hugging Face Llama directory",
        description="CKPT is a checkpoint directory (RUN_DIR/checkpoints/global_stepN) or a run "
                    "directory (its newest checkpoint). OUT then loads offline with "
                    "LlamaForCausalLM.from_pretrained(OUT) and AutoTokenizer.from_pretrained(OUT).",
    )
    export.add_argument("checkpoint", metavar="CKPT")
    export.add_argument("out_dir", metavar="OUT_DIR")
    export.add_argument("--force", action="store_true", help="replace OUT_DIR if it exists")
    export.set_defaults(func=_export)

    imp = subparsers.add_parser(
        "import-hf", help="write a local Hugging Face Llama directory as our checkpoint",
        description="DIR holds config.json, model.safetensors (or shards, or pytorch_model.bin) "
                    "and a sentencepiece tokenizer.model. OUT_DIR gets model.safetensors, "
                    "config.yaml and tokenizer.model, loadable with auroragpt.eval.load_model.",
    )
    imp.add_argument("hf_dir", metavar="DIR")
    imp.add_argument("out_dir", metavar="OUT_DIR")
    imp.add_argument("--force", action="store_true", help="replace OUT_DIR if it exists")
    imp.set_defaults(func=_import)


def _steps(text: str) -> list[int]:
    try:
        return [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated step numbers, got {text!r}") from None


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the input's fault: reported in one line, exit status 2."""
    from auroragpt.checkpoint import CheckpointError
    from auroragpt.config import ConfigError
    from auroragpt.data import DataError
    from auroragpt.eval.hf import ConversionError

    return (CheckpointError, ConversionError, ConfigError, DataError, FileExistsError)


def _eval(args) -> int:
    from pathlib import Path

    from auroragpt.eval.report import per_corpus_table, summary_table
    from auroragpt.eval.runner import EvalSettings, eval_dir, evaluate

    settings = EvalSettings(
        probes_per_corpus=args.probes, val_samples_per_corpus=args.val_samples,
        prompts=args.prompts, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
        top_k=args.top_k, sample_seed=args.seed, batch_size=args.batch_size,
        validation=not args.no_val,
    )
    try:
        rows = evaluate(args.run_dir, steps=args.steps, settings=settings, force=args.force,
                        device=_device(args.device), progress=not args.no_progress)
    except _user_errors() as err:
        print(f"auroragpt eval: {err}", file=sys.stderr)
        return 2
    out = eval_dir(args.run_dir)
    print(summary_table(rows))
    probes = per_corpus_table(rows, "probe_acc/")
    if probes:
        print(f"\nprobe accuracy per corpus:\n{probes}")
    print(f"\nfull report: {out / 'summary.md'}")
    for png in sorted(Path(out).glob("*.png")):
        print(f"plot: {png}")
    return 0


def _device(name: str):
    import torch

    if name != "auto":
        return torch.device(name)
    from auroragpt.distributed import setup

    return setup().device


def _export(args) -> int:
    from auroragpt.eval.export import export_hf

    try:
        out = export_hf(args.checkpoint, args.out_dir, overwrite=args.force)
    except _user_errors() as err:
        print(f"auroragpt export-hf: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out}: load with LlamaForCausalLM.from_pretrained('{out}') and "
          f"AutoTokenizer.from_pretrained('{out}')")
    return 0


def _import(args) -> int:
    from auroragpt.eval.export import import_hf

    try:
        out = import_hf(args.hf_dir, args.out_dir, overwrite=args.force)
    except _user_errors() as err:
        print(f"auroragpt import-hf: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out}: load with auroragpt.eval.load_model('{out}')")
    return 0
