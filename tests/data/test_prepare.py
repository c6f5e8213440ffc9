"""prepare_data end to end: built-in corpora and an ALCF data-file-list feed a training step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from auroragpt.config import apply_overrides, get_preset
from auroragpt.data import DataError, GlobalBatchLoader, IndexedDataset, prepare_data


def _builtin_names():
    from auroragpt.corpora import CORPORA

    return sorted(CORPORA)[:3]


@pytest.fixture(scope="module")
def builtin_cfg(tmp_path_factory):
    cfg = apply_overrides(get_preset("debug"), [
        f"data.cache_dir={tmp_path_factory.mktemp('cache')}", "data.builtin_chars=60000",
        "train.max_steps=6", "train.eval_batches=1", "data.split=90,10,0"])
    names = _builtin_names()
    cfg.data.builtin = {name: float(i + 1) for i, name in enumerate(names)}
    return cfg


def test_builtin_corpora_take_the_file_list_path(builtin_cfg):
    data = prepare_data(builtin_cfg, progress=False)
    names = _builtin_names()
    assert data.corpus_names == names
    assert len(data.train) >= 6 * builtin_cfg.train.global_batch_size
    assert data.valid is not None and len(data.valid) >= builtin_cfg.train.global_batch_size
    shares = {row["corpus"]: row["realised"] for row in data.train.report}
    weights = np.arange(1, len(names) + 1) / sum(range(1, len(names) + 1))
    for name, weight in zip(names, weights, strict=True):
        assert abs(shares[name] - weight) < 2 / len(data.train)
    # every corpus file holds the tokenizer's encoding of that corpus's documents, plus EOD
    from auroragpt.corpora import CORPORA

    first = next(iter(CORPORA[names[0]].documents(seed=builtin_cfg.train.seed, max_chars=60000)))
    prefix = data.train.plan.files[0].prefix
    assert IndexedDataset(prefix)[0].tolist() == data.tokenizer.encode(first) + [data.tokenizer.eos_id]
    sample = data.train[0]
    assert sample["tokens"].shape == (builtin_cfg.model.max_seq_len + 1,)
    assert sample["tokens"].max() < builtin_cfg.model.vocab_size


def test_second_call_loads_the_cache(builtin_cfg):
    import json
    from pathlib import Path

    prepare_data(builtin_cfg, progress=False)
    log = Path(builtin_cfg.data.cache_dir) / "indices" / "build-index.jsonl"
    last = [json.loads(line) for line in log.read_text().splitlines()][-2:]
    assert all(record["missing"] == 0 for record in last)


def test_alcf_file_list_trains(builtin_cfg, tmp_path):
    """A list in ALCF's format, loaded by prepare_data, drives real optimizer steps."""
    from auroragpt.model import build_model

    data = prepare_data(builtin_cfg, progress=False)
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{0.5 + i} {f.prefix} corpus{i % 2}\n"
                               for i, f in enumerate(data.train.plan.files)))
    cfg = apply_overrides(get_preset("debug"), [
        f"data.cache_dir={tmp_path / 'cache'}", f"data.file_list={listing}",
        f"data.tokenizer={data.tokenizer.model_path}", "train.max_steps=8", "data.split=90,10,0"])
    listed = prepare_data(cfg, progress=False)
    assert listed.corpus_names == ["corpus0", "corpus1"]
    torch.manual_seed(0)
    model = build_model(cfg.model, torch.device("cpu"))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for micro_batches in GlobalBatchLoader(listed.train, cfg.train.global_batch_size,
                                           cfg.train.micro_batch_size):
        optimizer.zero_grad()
        total = 0.0
        for batch in micro_batches:
            tokens = batch["tokens"]
            logits = model(tokens[:, :-1])
            loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())
            (loss / len(micro_batches)).backward()
            total += loss.item() / len(micro_batches)
        optimizer.step()
        losses.append(total)
    assert len(losses) >= 8
    assert abs(losses[0] - np.log(cfg.model.vocab_size)) < 1.0  # starts near uniform
    assert losses[-1] < losses[0] - 0.5  # and learns from the blended batches


def test_file_list_needs_its_tokenizer(tmp_path):
    cfg = apply_overrides(get_preset("debug"), [f"data.file_list={tmp_path / 'l.txt'}"])
    with pytest.raises(DataError, match="set data.tokenizer"):
        prepare_data(cfg, progress=False)
