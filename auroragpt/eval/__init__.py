"""Evaluate checkpoints across training steps, and convert them to and from Hugging Face.

Notebook use, in the spirit of AuroraGPT's checkpoint evaluation:

    from auroragpt.eval import evaluate, load_model
    from auroragpt.generation import generate
    for step in (100, 200, 300):
        model, tokenizer = load_model("runs/tiny", step)
        print(step, generate(model, tokenizer, "def ", max_length=64))
    rows = evaluate("runs/tiny")          # also writes runs/tiny/eval/summary.md and plots

Modules: `loading` (model + tokenizer of a checkpoint; the layout is `auroragpt.checkpoint`), `metrics`, `probes`, `validation`, `runner`
(`evaluate`), `report` (files and plots), `hf` / `hf_tokenizer` / `export` (Hugging Face).
Generation (prompts in, text out) is `auroragpt.generation`, shared with training.
"""

from auroragpt.checkpoint import list_checkpoints, resolve_checkpoint
from auroragpt.eval.export import export_hf, import_hf
from auroragpt.eval.loading import load_model
from auroragpt.eval.probes import constant_answer_floor
from auroragpt.eval.runner import EvalSettings, evaluate

__all__ = [
    "EvalSettings",
    "constant_answer_floor",
    "evaluate",
    "export_hf",
    "import_hf",
    "list_checkpoints",
    "load_model",
    "resolve_checkpoint",
]
