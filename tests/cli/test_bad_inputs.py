"""The bad-input catalogue: every row is one thing a careless or hostile user can hand the
`auroragpt` command, and each must end in a clear one-line error naming what and where,
a non-zero exit status, no traceback, no half-written file, and a run directory that still
works. docs/errors.md is generated from this table (`test_docs_table_is_current`).

Rows run in-process through `auroragpt.cli.main` (fast); the few that need a real process
(a file-size limit for a full disk, two ranks) run the real command in a subprocess.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file, save_file

from auroragpt.checkpoint import CHECKPOINTS_DIR, load_latest_valid
from auroragpt.checkpoint.layout import write_checksums
from auroragpt.cli import main

QUIET = ["train.sample_every=0", "train.eval_every=0", "train.log_every=1",
         "train.cpu_threads=1"]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "errors.md"
TORCHRUN = Path(sys.executable).with_name("torchrun")


@dataclass
class Ctx:
    """What a row's command may use: its own directory and the session's data and run."""

    tmp: Path
    cache: Path
    trained: Path
    tokenizer: Path
    _run: Path | None = None

    def run(self) -> Path:
        """This row's own copy of the trained run."""
        if self._run is None:
            self._run = self.tmp / "run"
            shutil.copytree(self.trained, self._run)
        return self._run

    def step(self, n: int) -> Path:
        return self.run() / CHECKPOINTS_DIR / f"global_step{n}"

    def file(self, name: str, content: str | bytes) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
        return path


@dataclass
class Case:
    area: str  # the docs table's section
    what: str  # the bad input, for the docs table
    argv: Callable[[Ctx], list[str]]
    expect: str  # regex the error line must match
    env: dict = field(default_factory=dict)
    process: str = ""  # "": in-process; "fsize": under a file-size limit; "torchrun": 2 ranks
    damages_run: bool = False  # the row corrupts its copy of the run on purpose


def train(ctx: Ctx, *extra: str, run: Path | None = None) -> list[str]:
    return ["train", "--preset", "debug", "--run-dir", str(run or ctx.tmp / "new"),
            "--no-progress", f"data.cache_dir={ctx.cache}", *QUIET, "train.max_steps=2", *extra]


def resume(ctx: Ctx, *extra: str) -> list[str]:
    return ["train", "--run-dir", str(ctx.run()), "--resume", "--no-progress",
            "train.max_steps=3", *extra]


def data_files(ctx: Ctx, tokens: int = 100, name: str = "corpus") -> Path:
    """A .bin/.idx pair of 60 documents whose ids all equal `tokens`."""
    from auroragpt.data.indexed import IndexedDatasetWriter

    prefix = ctx.tmp / "data" / name
    prefix.parent.mkdir(parents=True, exist_ok=True)
    writer = IndexedDatasetWriter(prefix, dtype=np.uint16)
    writer.add_documents([np.full(100, tokens, dtype=np.uint16)] * 60)
    writer.finalize()
    return prefix


def with_file_list(ctx: Ctx, text: str, *extra: str) -> list[str]:
    lst = ctx.file("list.txt", text)
    return train(ctx, f"data.file_list={lst}", f"data.tokenizer={ctx.tokenizer}", *extra)


def resume_after(ctx: Ctx, *replacements) -> list[str]:
    """`resume` after replacing files of the run's copy: (relative path, content) pairs."""
    run = ctx.run()
    for name, content in zip(replacements[::2], replacements[1::2], strict=True):
        path = run / name
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return resume(ctx)


def corrupt(path: Path) -> Path:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return path


def resealed(ckpt: Path, change: Callable[[dict], None]) -> Path:
    """`ckpt` with its weights changed by `change` and its checksums made valid again."""
    state = load_file(ckpt / "model.safetensors")
    change(state)
    save_file(state, ckpt / "model.safetensors")
    write_checksums(ckpt)
    return ckpt


def nan_weights(state: dict) -> None:
    state["norm.weight"][0] = float("nan")


def wider_weights(state: dict) -> None:
    import torch

    state["norm.weight"] = torch.ones(96)


def hf_dir(ctx: Ctx, config: str | None = '{"vocab_size": 512}', tokenizer=True,
           weights: bool = False) -> Path:
    path = ctx.tmp / "hf"
    path.mkdir(exist_ok=True)
    if config is not None:
        (path / "config.json").write_text(config)
    if tokenizer:
        shutil.copyfile(ctx.tokenizer, path / "tokenizer.model")
    if weights:
        (path / "model.safetensors").write_bytes(b"\xff" * 64)
    return path


def ckpt_arg(ctx: Ctx) -> str:
    return str(ctx.step(2))


GENERATE = ["--prompt", "a", "--max-new-tokens", "2"]
EVAL = ["--no-val", "--probes", "1", "--max-new-tokens", "2", "--no-progress", "--device", "cpu"]
LLAMA = json.dumps({"vocab_size": 512, "hidden_size": 64, "num_hidden_layers": 2,
                    "num_attention_heads": 4, "num_key_value_heads": 2,
                    "intermediate_size": 192, "max_position_embeddings": 64})

CASES = [
    # -- config ----------------------------------------------------------------------------
    Case("config", "unknown key", lambda c: train(c, "train.nope=1"), r"train\.nope"),
    Case("config", "bad override after an option (read as an override, not refused by argparse)",
         lambda c: ["train", "train.max_steps=2", "--preset", "debug", "train.nope=1",
                    "--run-dir", str(c.tmp / "new")], r"train\.nope"),
    Case("config", "value of the wrong type", lambda c: train(c, "train.max_steps=abc"),
         r"train\.max_steps"),
    Case("config", "negative learning rate", lambda c: train(c, "train.lr=-1"), r"train\.lr"),
    Case("config", "override without `=`", lambda c: train(c, "train.max_steps"),
         r"train\.max_steps|KEY=VALUE|unrecognized"),
    Case("config", "global batch not a multiple of the micro-batch",
         lambda c: train(c, "train.global_batch_size=10", "train.micro_batch_size=4"),
         r"global_batch_size=10 must be a multiple"),
    Case("config", "heads that do not divide the width", lambda c: train(c, "model.n_heads=5"),
         r"n_heads"),
    Case("config", "KV heads that do not divide the heads",
         lambda c: train(c, "model.n_kv_heads=3"), r"n_kv_heads"),
    Case("config", "zero vocabulary", lambda c: train(c, "model.vocab_size=0"), r"vocab_size"),
    Case("config", "split that is not three numbers", lambda c: train(c, "data.split=1,x"),
         r"data\.split='1,x'"),
    Case("config", "split with no training share", lambda c: train(c, "data.split=0,1,0"),
         r"data\.split"),
    Case("config", "unknown dtype", lambda c: train(c, "train.dtype=fp16"), r"train\.dtype"),
    Case("config", "compiled blocks with selective checkpointing",
         lambda c: train(c, "train.compile=true", "train.activation_checkpointing=selective"),
         r"train\.compile=true with train\.activation_checkpointing=selective"),
    Case("config", "unknown parallel strategy", lambda c: train(c, "parallel.strategy=bogus"),
         r"parallel\.strategy"),
    Case("config", "tensor parallel degree larger than the world", lambda c: train(c, "parallel.tp=2"),
         r"parallel\.tp=2 x .* must divide the world size 1"),
    Case("config", "pipeline parallel degree larger than the world",
         lambda c: train(c, "parallel.pp=2"), r"parallel\.pp=2 x .* must divide the world size 1"),
    Case("config", "negative time budget", lambda c: train(c, "train.max_time=-5"),
         r"train\.max_time"),
    Case("config", "stop step beyond max_steps", lambda c: train(c, "train.stop_step=9"),
         r"train\.stop_step=9"),
    Case("config", "negative worker count", lambda c: train(c, "data.num_workers=-1"),
         r"data\.num_workers"),
    Case("config", "unknown built-in corpus weight",
         lambda c: train(c, "data.builtin.nonsense=1"), r"nonsense"),
    Case("config", "unknown preset", lambda c: ["train", "--preset", "huge"], r"huge"),
    Case("config", "missing config file",
         lambda c: ["train", "--config", str(c.tmp / "none.yaml")], r"none\.yaml: config file not"),
    Case("config", "config file that is not YAML",
         lambda c: ["train", "--config", str(c.file("bad.yaml", "model: [unclosed"))],
         r"bad\.yaml: cannot parse"),
    Case("config", "config file that is a list",
         lambda c: ["train", "--config", str(c.file("list.yaml", "- 1\n- 2\n"))],
         r"list\.yaml: expected a mapping"),
    Case("config", "TOML config with a syntax error",
         lambda c: ["train", "--config", str(c.file("bad.toml", "[model\n"))],
         r"bad\.toml: cannot parse"),
    # -- data files, file lists, tokenizers ------------------------------------------------
    Case("data", "data-file-list that does not exist",
         lambda c: train(c, f"data.file_list={c.tmp / 'none.txt'}", f"data.tokenizer={c.tokenizer}"),
         r"none\.txt: data-file-list not found"),
    Case("data", "data-file-list line with a weight that is not a number",
         lambda c: with_file_list(c, "heavy prefix corpus\n"), r"list\.txt:1: weight 'heavy'"),
    Case("data", "data-file-list line with too many fields",
         lambda c: with_file_list(c, "1 a b c d\n"), r"list\.txt:1: expected 'weight prefix"),
    Case("data", "data-file-list naming a prefix without .bin/.idx",
         lambda c: with_file_list(c, f"1 {c.tmp / 'nothing'} x\n"), r"list\.txt:1: prefix .*missing"),
    Case("data", "empty data-file-list", lambda c: with_file_list(c, "# nothing\n"),
         r"list\.txt: no files listed"),
    Case("data", "data-file-list with a negative weight",
         lambda c: with_file_list(c, f"-1 {data_files(c)} x\n"), r"list\.txt:1: weight -1"),
    Case("data", "file list without a tokenizer",
         lambda c: train(c, f"data.file_list={c.file('l.txt', f'1 {data_files(c)} x')}"),
         r"set data\.tokenizer"),
    Case("data", "token id outside the vocabulary",
         lambda c: with_file_list(c, f"1 {data_files(c, tokens=60000, name='wide')} wide\n"),
         r"token id 60000 outside the vocabulary .* corpus 'wide', file .*wide\.bin"),
    Case("data", ".idx file that is garbage",
         lambda c: with_file_list(c, f"1 {_garbage_idx(c)} x\n"), r"corpus\.idx"),
    Case("tokenizer", "tokenizer file that does not exist",
         lambda c: train(c, f"data.tokenizer={c.tmp / 'none.model'}"),
         r"data\.tokenizer=.*none\.model.*not a readable sentencepiece model"),
    Case("tokenizer", "tokenizer file that is garbage",
         lambda c: train(c, f"data.tokenizer={c.file('sp.model', b'garbage' * 10)}"),
         r"data\.tokenizer=.*sp\.model.*not a readable sentencepiece model"),
    Case("tokenizer", "tokenizer larger than the model's vocabulary",
         lambda c: train(c, f"data.tokenizer={c.tokenizer}", "model.vocab_size=100"),
         r"has 512 tokens but model\.vocab_size=100"),
    # -- run and cache directories ---------------------------------------------------------
    Case("run directory", "run directory that is a file",
         lambda c: train(c, run=c.file("runfile", "x")), r"runfile"),
    Case("run directory", "run directory on a read-only file system",
         lambda c: train(c, run=Path("/proc/auroragpt-run")), r"/proc/auroragpt-run"),
    Case("run directory", "cache directory that is a file",
         lambda c: train(c, f"data.cache_dir={c.file('cachefile', 'x')}"), r"cachefile"),
    Case("run directory", "cache directory on a read-only file system",
         lambda c: train(c, "data.cache_dir=/proc/auroragpt-cache"), r"/proc/auroragpt-cache"),
    Case("run directory", "new run where a run with checkpoints is",
         lambda c: train(c, run=c.run()), r"already holds a run: pass --resume"),
    Case("run directory", "resume with another model shape", lambda c: resume(c, "model.dim=96"),
         r"different model shape \(model\.dim: 64 -> 96\)"),
    Case("run directory", "resume reading other data",
         lambda c: resume(c, "data.builtin_chars=1000"), r"different training data"),
    # -- checkpoints -----------------------------------------------------------------------
    Case("checkpoint", "`latest` that is not text",
         lambda c: resume_after(c, "checkpoints/latest", b"\xff\xfe\x00binary"),
         r"latest: expected one line naming a global_step", damages_run=True),
    Case("checkpoint", "`latest` pointing outside the run (`../..`)",
         lambda c: resume_after(c, "checkpoints/latest", "../..\n"),
         r"latest: expected one line .*'\.\./\.\.'", damages_run=True),
    Case("checkpoint", "every checkpoint corrupt",
         lambda c: (corrupt(c.step(1) / "model.safetensors"),
                    corrupt(c.step(2) / "trainer_state.pt"), resume(c))[2],
         r"no valid checkpoint", damages_run=True),
    Case("checkpoint", "checksums.json that is not JSON",
         lambda c: resume_after(c, "checkpoints/global_step2/checksums.json", "{",
                                "checkpoints/global_step1/checksums.json", "[]"),
         r"no valid checkpoint", damages_run=True),
    Case("checkpoint", "checkpoint of another shape (valid checksums)",
         lambda c: (resealed(c.step(2), wider_weights), resealed(c.step(1), wider_weights),
                    resume(c))[2], r"norm\.weight has shape \(96,\)", damages_run=True),
    Case("checkpoint", "disk full while checkpointing",
         lambda c: train(c, "train.save_every=1"),
         r"writing the checkpoint of step 1 failed .*File too large", process="fsize"),
    # -- generation ------------------------------------------------------------------------
    Case("generate", "`--top-k 0`", lambda c: ["generate", "--ckpt", ckpt_arg(c), *GENERATE,
                                               "--top-k", "0"], r"--top-k: expected an integer >= 1"),
    Case("generate", "`--top-p 1.5`", lambda c: ["generate", "--ckpt", ckpt_arg(c), *GENERATE,
                                                 "--top-p", "1.5"], r"--top-p: expected a number in"),
    Case("generate", "negative temperature",
         lambda c: ["generate", "--ckpt", ckpt_arg(c), *GENERATE, "--temperature", "-1"],
         r"--temperature: expected a number >= 0"),
    Case("generate", "`--max-new-tokens 0`",
         lambda c: ["generate", "--ckpt", ckpt_arg(c), "--prompt", "a", "--max-new-tokens", "0"],
         r"--max-new-tokens: expected an integer >= 1"),
    Case("generate", "checkpoint path that does not exist",
         lambda c: ["generate", "--ckpt", str(c.tmp / "none"), *GENERATE], r"none: not found"),
    Case("generate", "checkpoint with a flipped byte",
         lambda c: (corrupt(c.step(2) / "model.safetensors"),
                    ["generate", "--ckpt", ckpt_arg(c), *GENERATE])[1],
         r"model\.safetensors: sha256 .* corrupt", damages_run=True),
    # -- eval and export -------------------------------------------------------------------
    Case("eval", "run directory that does not exist",
         lambda c: ["eval", str(c.tmp / "none"), *EVAL], r"none.*no complete global_step"),
    Case("eval", "`--steps` naming a step without a checkpoint",
         lambda c: ["eval", str(c.run()), "--steps", "7", *EVAL], r"no checkpoint for steps \[7\]"),
    Case("eval", "`--steps` that are not numbers",
         lambda c: ["eval", str(c.run()), "--steps", "a,b", *EVAL], r"--steps: expected comma"),
    Case("eval", "NaN weights (valid checksums)",
         lambda c: (resealed(c.step(2), nan_weights), ["eval", str(c.run()), *EVAL])[1],
         r"norm\.weight holds NaN", damages_run=True),
    Case("eval", "weights of another shape (valid checksums)",
         lambda c: (resealed(c.step(2), wider_weights), ["eval", str(c.run()), *EVAL])[1],
         r"norm\.weight has shape \(96,\)", damages_run=True),
    Case("export", "export of a flipped byte",
         lambda c: (corrupt(c.step(2) / "config.yaml"),
                    ["export-hf", ckpt_arg(c), str(c.tmp / "out")])[1],
         r"config\.yaml: sha256 .* corrupt", damages_run=True),
    Case("export", "export of NaN weights",
         lambda c: (resealed(c.step(2), nan_weights),
                    ["export-hf", ckpt_arg(c), str(c.tmp / "out")])[1],
         r"norm\.weight holds NaN", damages_run=True),
    Case("export", "export into a directory that is not empty",
         lambda c: (c.file("out/keep.txt", "x"), ["export-hf", ckpt_arg(c), str(c.tmp / "out")])[1],
         r"out: exists and is not empty"),
    Case("import", "import without config.json",
         lambda c: ["import-hf", str(hf_dir(c, config=None)), str(c.tmp / "out")],
         r"config\.json: not found"),
    Case("import", "import with a broken config.json",
         lambda c: ["import-hf", str(hf_dir(c, config="{broken")), str(c.tmp / "out")],
         r"config\.json: not valid JSON"),
    Case("import", "import with a config.json that is not an object",
         lambda c: ["import-hf", str(hf_dir(c, config="[1, 2]")), str(c.tmp / "out")],
         r"config\.json: expected a JSON object"),
    Case("import", "import without tokenizer.model",
         lambda c: ["import-hf", str(hf_dir(c, config=LLAMA, tokenizer=False)), str(c.tmp / "out")],
         r"tokenizer\.model: not found"),
    Case("import", "import without weights",
         lambda c: ["import-hf", str(hf_dir(c, config=LLAMA)), str(c.tmp / "out")],
         r"no model\.safetensors, sharded index or pytorch_model\.bin"),
    Case("import", "import of a garbage model.safetensors",
         lambda c: ["import-hf", str(hf_dir(c, config=LLAMA, weights=True)), str(c.tmp / "out")],
         r"model\.safetensors: not a readable safetensors file"),
    # -- data commands ---------------------------------------------------------------------
    Case("data commands", "`build-index --num-samples -5`",
         lambda c: ["data", "build-index", "--data-file-list", "x", "--seq-length", "8",
                    "--num-samples", "-5", "--cache", str(c.tmp)], r"--num-samples: expected an"),
    Case("data commands", "`build-index --split 1,x`",
         lambda c: ["data", "build-index", "--data-file-list", "x", "--seq-length", "8",
                    "--num-samples", "5", "--cache", str(c.tmp), "--split", "1,x"],
         r"--split: expected three numbers"),
    Case("data commands", "`build-index` of a missing file list",
         lambda c: ["data", "build-index", "--data-file-list", str(c.tmp / "none.txt"),
                    "--seq-length", "8", "--num-samples", "5", "--cache", str(c.tmp / "c")],
         r"none\.txt: data-file-list not found"),
    Case("data commands", "`preprocess` of a missing input",
         lambda c: ["data", "preprocess", "--input", str(c.tmp / "none.jsonl"), "--tokenizer",
                    str(c.tokenizer), "--output-prefix", str(c.tmp / "out")], r"none\.jsonl"),
    Case("data commands", "`preprocess --workers 0`",
         lambda c: ["data", "preprocess", "--input", "x", "--tokenizer", "y", "--output-prefix",
                    "z", "--workers", "0"], r"--workers: expected an integer >= 1"),
    # -- launch environments ---------------------------------------------------------------
    Case("launch", "`launch --ppn 0`", lambda c: ["launch", "--ppn", "0", "--", "true"],
         r"--ppn/--nproc-per-node/--nproc: expected an integer >= 1"),
    Case("launch", "`launch --nodes -1`", lambda c: ["launch", "--nodes", "-1", "--", "true"],
         r"--nodes: expected an integer >= 1"),
    Case("launch", "AURORAGPT_DEVICE naming a missing device",
         lambda c: train(c), r"AURORAGPT_DEVICE='cuda:3' but no cuda device",
         env={"AURORAGPT_DEVICE": "cuda:3"}),
    Case("launch", "AURORAGPT_DEVICE naming no device type",
         lambda c: train(c), r"AURORAGPT_DEVICE='gpu7': expected one of",
         env={"AURORAGPT_DEVICE": "gpu7"}),
    Case("launch", "global batch not divisible by micro-batch x ranks (2 ranks)",
         lambda c: train(c, "train.global_batch_size=12", "train.micro_batch_size=4"),
         r"global_batch_size=12 must be a multiple of train\.micro_batch_size=4 x 2",
         process="torchrun"),
]


def _garbage_idx(ctx: Ctx) -> Path:
    prefix = data_files(ctx)
    Path(f"{prefix}.idx").write_bytes(b"not an index at all")
    return prefix


def _ids() -> list[str]:
    return [re.sub(r"[^a-z0-9]+", "-", f"{c.area} {c.what}".lower()).strip("-") for c in CASES]


def test_catalogue_is_large_and_unique():
    assert len(CASES) >= 60
    assert len(set(_ids())) == len(CASES)


def _run_in_process(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    return code, capsys.readouterr().err


def _run_process(case: Case, argv: list[str], ctx: Ctx) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", **case.env)
    if case.process == "torchrun":
        command = [str(TORCHRUN), "--standalone", "--nproc_per_node=2", "-m", "auroragpt.cli"]
        return _finish(subprocess.run([*command, *argv], env=env, capture_output=True, text=True,
                                      timeout=600))
    # A full disk, without root: a file-size limit just above what a run writes before its
    # first checkpoint (SIGXFSZ ignored, so a write fails with EFBIG instead of killing it).
    limit = (ctx.trained / CHECKPOINTS_DIR / "global_step1" / "model.safetensors").stat().st_size
    assert (ctx.tokenizer.stat().st_size < limit // 2)
    script = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
              f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit // 2}, {limit // 2})); "
              "from auroragpt.cli import main; sys.exit(main(sys.argv[1:]))")
    return _finish(subprocess.run([sys.executable, "-c", script, *argv], env=env,
                                  capture_output=True, text=True, timeout=600))


def _finish(done: subprocess.CompletedProcess) -> tuple[int, str]:
    """Exit status and stderr of our processes (torchrun's own report of failed ranks, with
    its traceback, follows theirs and is cut off)."""
    err = done.stderr
    agent = err.find("torch/distributed/elastic")
    return done.returncode, err[:err.rfind("\n", 0, agent) + 1] if agent >= 0 else err


def _left_behind(root: Path) -> list[Path]:
    """Temporary and staging files, and locks, anywhere under `root`."""
    return [p for p in root.rglob("*")
            if p.name.endswith((".tmp", ".stale")) or ".tmp." in p.name or p.name == ".lock"
            or p.name.startswith(".lock.")]


@pytest.fixture
def ctx(tmp_path, data_cache, debug_data, trained_run):
    return Ctx(tmp_path / "case", data_cache, trained_run, Path(debug_data.tokenizer.model_path))


@pytest.mark.timeout(900)
@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_bad_input(case: Case, ctx: Ctx, capsys, monkeypatch):
    ctx.tmp.mkdir()
    argv = case.argv(ctx)
    if case.process == "torchrun" and shutil.which(str(TORCHRUN)) is None:
        pytest.skip("torchrun not installed")
    if case.process:
        code, err = _run_process(case, argv, ctx)
    else:
        if case.env:
            from auroragpt.distributed import teardown

            teardown()  # forget the device an earlier run in this process chose
        for key, value in case.env.items():
            monkeypatch.setenv(key, value)
        code, err = _run_in_process(argv, capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code not in (0, None), f"exit status 0 for {argv}:\n{err[-2000:]}"
    assert "Traceback" not in err, err[-4000:]
    assert lines and re.search(case.expect, lines[-1]), f"last line of stderr:\n{err[-2000:]}"
    assert not _left_behind(ctx.tmp), _left_behind(ctx.tmp)
    if ctx._run is not None and not case.damages_run:  # the run still resumes
        assert load_latest_valid(ctx.run() / CHECKPOINTS_DIR).step == 2
    new = ctx.tmp / "new"
    if new.is_dir():  # a failed start leaves a directory a new run accepts
        from auroragpt.train.run import check_new_run_dir

        check_new_run_dir(new)


def render_table() -> str:
    lines = ["# Errors for bad input", "",
             "Generated from `tests/cli/test_bad_inputs.py`, where each row is a test: the",
             "command exits non-zero with a one-line error that names what is wrong and where,",
             "prints no traceback, leaves no half-written file, and the run directory stays",
             "usable. The message column is the pattern the error line matches.", ""]
    area = None
    for case in CASES:
        if case.area != area:
            area = case.area
            lines += ["", f"## {area}", "", "| bad input | the error line matches |",
                      "|---|---|"]
        pattern = case.expect.replace("|", r"\|")
        lines.append(f"| {case.what} | `{pattern}` |")
    return "\n".join(lines) + "\n"


def test_docs_table_is_current():
    """Regenerate with: AURORAGPT_WRITE_DOCS=1 pytest tests/cli/test_bad_inputs.py -k docs"""
    if os.environ.get("AURORAGPT_WRITE_DOCS"):
        DOCS.write_text(render_table())
    assert DOCS.read_text() == render_table(), "docs/errors.md is stale (see this docstring)"
