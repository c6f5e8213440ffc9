"""Fused kernels for the model's hot spots, each a Triton autograd Function beside a torch reference.

- `rms_norm(x, weight, eps)`: RMSNorm with fp32 statistics.
- `apply_rotary(q, k, cos, sin)`: rotary embeddings on interleaved pairs (Meta's layout).
- `swiglu(gate, up)`: `silu(gate) * up`.
- `fused_linear_cross_entropy(hidden, weight, targets)`: the output projection and the mean
  cross-entropy, in chunks of tokens, never holding the full (tokens, vocab) logits.

Every function takes `backend="auto"|"triton"|"torch"` (`model.kernels` in a config): Triton on
CUDA/XPU when it imports, torch elsewhere (see `dispatch`). This package sits below the model in
the import order: it imports torch and (lazily, from `jit/`) triton, nothing else of auroragpt.
"""

from auroragpt.kernels.cross_entropy import (
    fused_linear_cross_entropy,
    linear_cross_entropy_reference,
)
from auroragpt.kernels.dispatch import BACKENDS, resolve
from auroragpt.kernels.rms_norm import rms_norm, rms_norm_reference
from auroragpt.kernels.rotary import apply_rotary, rotate_reference
from auroragpt.kernels.swiglu import swiglu, swiglu_reference

__all__ = [
    "BACKENDS",
    "apply_rotary",
    "fused_linear_cross_entropy",
    "linear_cross_entropy_reference",
    "resolve",
    "rms_norm",
    "rms_norm_reference",
    "rotate_reference",
    "swiglu",
    "swiglu_reference",
]
