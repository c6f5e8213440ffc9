"""`export-hf` and `import-hf`: our checkpoint directory <-> a Hugging Face Llama directory.

Export writes what `LlamaForCausalLM.from_pretrained(OUT)` and `AutoTokenizer.from_pretrained(OUT)`
read offline: config.json, generation_config.json, model.safetensors and the tokenizer files
of `auroragpt.eval.hf_tokenizer`. Import reads a local Llama directory (single or sharded
safetensors, or pytorch_model*.bin) with a sentencepiece tokenizer.model and writes our layout:
model.safetensors + config.yaml + tokenizer.model + checksums.json (`auroragpt.checkpoint`).
Export reads through `auroragpt.checkpoint.read_model_weights`, so a checkpoint whose checksums
fail, or whose weights are not finite, is refused rather than exported; pytorch_model.bin files
are read with `weights_only=True`.

Both write into a temporary sibling directory and rename it into place, so an interrupted run
never leaves a directory that looks complete.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from auroragpt.checkpoint import (
    CheckpointError,
    check_state_dict,
    read_model_weights,
    resolve_checkpoint,
    tokenizer_path,
)
from auroragpt.checkpoint.layout import write_checksums
from auroragpt.checkpoint.safe_load import load_torch_file
from auroragpt.checkpoint.weights import check_finite, read_safetensors
from auroragpt.config import Config, ConfigError, save_config
from auroragpt.eval.hf import (
    from_hf_state_dict,
    hf_config_dict,
    model_config_from_hf,
    to_hf_state_dict,
)
from auroragpt.eval.hf_tokenizer import read_model_proto, write_hf_tokenizer


def export_hf(checkpoint: str | Path, out_dir: str | Path, overwrite: bool = False) -> Path:
    """Write a Hugging Face Llama directory for a checkpoint (or a run's newest checkpoint)."""
    from safetensors.torch import save_file

    ckpt = resolve_checkpoint(checkpoint)
    cfg, state = _full_state(ckpt)
    special = _special_ids(tokenizer_path(ckpt))

    def write(tmp: Path) -> None:
        save_file(to_hf_state_dict(state, cfg), tmp / "model.safetensors",
                  metadata={"format": "pt"})
        _write_json(tmp / "config.json", hf_config_dict(cfg, **special))
        _write_json(tmp / "generation_config.json", {
            "bos_token_id": special["bos_id"], "eos_token_id": special["eos_id"],
            "pad_token_id": special["pad_id"], "max_length": cfg.max_seq_len,
        })
        write_hf_tokenizer(tokenizer_path(ckpt), tmp, max_length=cfg.max_seq_len)

    return _write_directory(Path(out_dir), write, overwrite)


def import_hf(hf_dir: str | Path, out_dir: str | Path, overwrite: bool = False) -> Path:
    """Write our checkpoint layout for a local Hugging Face Llama directory."""
    from safetensors.torch import save_file

    hf_dir = Path(hf_dir)
    config_path = hf_dir / "config.json"
    if not config_path.is_file():
        raise CheckpointError(f"{config_path}: not found (expected a Hugging Face model directory)")
    try:
        hf_config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{config_path}: not valid JSON ({err})") from None
    if not isinstance(hf_config, dict):
        raise CheckpointError(f"{config_path}: expected a JSON object of model settings")
    model_cfg = model_config_from_hf(hf_config, str(config_path))
    tokenizer = hf_dir / "tokenizer.model"
    if not tokenizer.is_file():
        raise CheckpointError(
            f"{tokenizer}: not found; our checkpoints need a sentencepiece tokenizer.model "
            "(tokenizer.json-only models such as Llama 3 cannot be imported)"
        )
    state = from_hf_state_dict(_read_hf_weights(hf_dir), model_cfg)
    check_state_dict(model_cfg, state, str(hf_dir))
    check_finite(state, str(hf_dir))
    cfg = Config(model=model_cfg, name=hf_dir.name)
    cfg.data.tokenizer = str(Path(out_dir).resolve() / "tokenizer.model")
    try:
        cfg.validate()
    except ConfigError as err:
        raise CheckpointError(f"{config_path}: {err}") from None

    def write(tmp: Path) -> None:
        save_file({k: v.float().contiguous() for k, v in state.items()}, tmp / "model.safetensors",
                  metadata={"format": "pt"})
        save_config(cfg, tmp / "config.yaml")
        shutil.copyfile(tokenizer, tmp / "tokenizer.model")
        write_checksums(tmp)

    return _write_directory(Path(out_dir), write, overwrite)


def _full_state(ckpt: Path):
    """The checkpoint's model config and fp32 weights (verified, checked, finite)."""
    cfg, state = read_model_weights(ckpt)
    if cfg.model.tie_embeddings and "tok_embeddings.weight" not in state:
        state["tok_embeddings.weight"] = state["output.weight"]
    return cfg.model, {k: v.float() for k, v in state.items()}


def _special_ids(model_path: Path) -> dict[str, int | None]:
    trainer = read_model_proto(model_path).trainer_spec
    as_id = lambda i: i if i >= 0 else None  # noqa: E731  (sentencepiece: -1 = disabled)
    return {"bos_id": as_id(trainer.bos_id), "eos_id": as_id(trainer.eos_id),
            "pad_id": as_id(trainer.pad_id)}


def _read_hf_weights(hf_dir: Path) -> dict[str, torch.Tensor]:
    """All tensors of a HF model directory: model.safetensors, its sharded index, or .bin files."""
    if (hf_dir / "model.safetensors").is_file():
        return read_safetensors(hf_dir / "model.safetensors")
    for index_name, load in (("model.safetensors.index.json", read_safetensors),
                             ("pytorch_model.bin.index.json", load_torch_file)):
        index = hf_dir / index_name
        if index.is_file():
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            state: dict[str, torch.Tensor] = {}
            for shard in shards:
                state.update(load(hf_dir / shard))
            return state
    if (hf_dir / "pytorch_model.bin").is_file():
        return load_torch_file(hf_dir / "pytorch_model.bin")
    raise CheckpointError(f"{hf_dir}: no model.safetensors, sharded index or pytorch_model.bin")


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def _write_directory(out: Path, write, overwrite: bool) -> Path:
    """Run `write(tmp)` in a fresh sibling directory, then move it to `out` in one rename."""
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out}: exists and is not empty (pass overwrite/--force)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out

