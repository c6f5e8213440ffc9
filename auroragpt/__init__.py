"""auroragpt: train Llama-style language models from a laptop CPU to Aurora, and learn how.

The public API is re-exported lazily here so `import auroragpt` stays fast: the model, the
configs, the tokenizer and the built-in corpora are one attribute away.
"""

from __future__ import annotations

from auroragpt.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "Config": "auroragpt.config",
    "ModelConfig": "auroragpt.config",
    "get_preset": "auroragpt.config",
    "apply_overrides": "auroragpt.config",
    "load_config": "auroragpt.config",
    "count_parameters": "auroragpt.config",
    "flops_per_token": "auroragpt.config",
    "Transformer": "auroragpt.model",
    "build_model": "auroragpt.model",
    "Tokenizer": "auroragpt.tokenizer",
    "corpora": "auroragpt.corpora",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports("auroragpt", _EXPORTS)
