"""Shared pytest set-up: the `slow` marker is skipped unless --runslow is given; a real
sentencepiece tokenizer and a randomiser for model weights (generation and evaluation tests)."""

import sysconfig
from pathlib import Path

import pytest
import torch


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def _stdlib_text(max_chars: int) -> str:
    """Real code and English docstrings from the interpreter's own standard library."""
    root = Path(sysconfig.get_paths()["stdlib"])
    chunks, total = [], 0
    for path in sorted(root.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        chunks.append(text)
        total += len(text)
        if total >= max_chars:
            break
    return "\n".join(chunks)[:max_chars]


@pytest.fixture(scope="session")
def sp_model_path(tmp_path_factory) -> Path:
    """A 512-piece sentencepiece BPE model with byte fallback, trained on stdlib source."""
    Tokenizer = pytest.importorskip("auroragpt.tokenizer").Tokenizer
    text = _stdlib_text(400_000)
    path = tmp_path_factory.mktemp("tokenizer") / "tokenizer.model"
    Tokenizer.train(text.split("\n\n"), vocab_size=512, path=path)
    return path


def _randomise(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every parameter drawn at random (norm gains too), so logits are far from uniform."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.copy_(torch.rand(param.shape, generator=gen) + 0.5)
            else:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.2)
    return model.eval()


@pytest.fixture
def randomise():
    """randomise(model, seed): every parameter drawn at random, for far-from-uniform logits."""
    return _randomise
