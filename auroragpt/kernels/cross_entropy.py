"""The output projection and the mean cross-entropy, in chunks of tokens: no (N, V) logits tensor.

`fused_linear_cross_entropy(hidden, weight, targets)` equals
`F.cross_entropy((hidden @ weight.T).float(), targets)` (mean over targets not equal to
`ignore_index`). Tokens are taken `chunk_size` at a time: the chunk's logits (C, V) are computed,
turned in place into their loss and gradient (Triton: one kernel, two reads and one write of the
chunk; torch: a few in-place ops), and immediately folded into d hidden (C, D) and d weight
(V, D). Eager holds the logits, under bf16 autocast their fp32 copy, the log-softmax saved for
backward and, in backward, gradients of the same size: several (N, V) tensors of 1 GiB each in
fp32 at N = 8192 tokens and V = 32k. Here only a chunk's (C, V) exists (C = N * D / V by
default, at least 64: a chunk's logits about the size of hidden); measured on CPU at 4096
tokens, width 1024 and V = 32k: 1/8 of eager's peak memory (benchmarks/RESULTS.md). The
gradients are computed during the forward pass (the backward only scales them), so one pass
over the chunks does the whole job with three matmuls, as many as eager.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from auroragpt.kernels.dispatch import is_plain, resolve


def linear_cross_entropy_reference(hidden: torch.Tensor, weight: torch.Tensor,
                                   targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Eager: the full logits (N, V), upcast to at least fp32, then `F.cross_entropy` (mean)."""
    logits = F.linear(hidden, weight)  # (..., V)
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    return F.cross_entropy(logits.flatten(0, -2), targets.flatten(), ignore_index=ignore_index)


def _loss_and_grad_torch_(logits: torch.Tensor, targets: torch.Tensor,
                          ignore_index: int) -> torch.Tensor:
    """logits: (C, V) fp32, overwritten by d(sum of losses)/d logits; -> (C,) losses."""
    ignored = targets == ignore_index  # (C,)
    safe = targets.masked_fill(ignored, 0)[:, None]  # (C, 1)
    lse = torch.logsumexp(logits, dim=-1, keepdim=True)  # (C, 1)
    loss = (lse - logits.gather(1, safe)).squeeze(1).masked_fill_(ignored, 0.0)
    logits.sub_(lse).exp_()  # softmax, in place
    logits.scatter_add_(1, safe, torch.full_like(lse, -1.0))
    logits.masked_fill_(ignored[:, None], 0.0)
    return loss


def default_chunk_size(n_tokens: int, dim: int, vocab: int) -> int:
    """Tokens per chunk: a chunk's logits about the size of hidden, and at least 64 rows."""
    return max(1, min(n_tokens, max(64, n_tokens * dim // vocab)))


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                ignore_index: int, chunk_size: int, backend: str, need_grad: bool):
        """hidden: (N, D), weight: (V, D) in the compute dtype, targets: (N,) -> mean loss."""
        if backend == "triton":
            from auroragpt.kernels.jit.cross_entropy import loss_and_grad_
        else:
            loss_and_grad_ = _loss_and_grad_torch_
        N, _ = hidden.shape
        losses = torch.empty(N, device=hidden.device, dtype=torch.float32)
        grad_hidden = torch.empty_like(hidden) if need_grad else None
        grad_weight = torch.zeros(weight.shape, device=weight.device, dtype=torch.float32) \
            if need_grad else None
        for start in range(0, N, chunk_size):
            rows = slice(start, start + chunk_size)
            h = hidden[rows]  # (C, D)
            logits = (h @ weight.T).float()  # (C, V): the only vocabulary-sized tensor
            losses[rows] = loss_and_grad_(logits, targets[rows].contiguous(), ignore_index)
            if need_grad:
                d_logits = logits.to(hidden.dtype)  # (C, V), a no-op in fp32
                torch.mm(d_logits, weight, out=grad_hidden[rows])
                if grad_weight.dtype == d_logits.dtype:
                    grad_weight.addmm_(d_logits.T, h)
                else:  # NOTE: bf16 products, accumulated over chunks in fp32
                    grad_weight += (d_logits.T @ h).float()
        n_valid = (targets != ignore_index).sum()
        if need_grad:
            scale = 1.0 / n_valid.clamp(min=1)
            ctx.grads = (grad_hidden.mul_(scale.to(grad_hidden.dtype)),
                         grad_weight.mul_(scale).to(weight.dtype))
        return losses.sum() / n_valid

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor):
        grad_hidden, grad_weight = ctx.grads
        del ctx.grads  # NOTE: ours alone now, so scaled in place: no second (V, D) tensor
        return (grad_hidden.mul_(grad_loss.to(grad_hidden.dtype)),
                grad_weight.mul_(grad_loss.to(grad_weight.dtype)), None, None, None, None, None)


def fused_linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                               backend: str = "auto", ignore_index: int = -100,
                               chunk_size: int | None = None) -> torch.Tensor:
    """Mean cross-entropy of `hidden @ weight.T` against targets, chunked over tokens.

    hidden: (..., D); weight: (V, D); targets: (...) class ids (`ignore_index` entries skipped).
    Under autocast the matmuls run in the autocast dtype and the softmax in fp32, as in eager.
    DTensors (tensor parallelism) take the eager reference, which their dispatch understands.
    """
    if not (is_plain(hidden) and is_plain(weight)):
        return linear_cross_entropy_reference(hidden, weight, targets, ignore_index)
    kind = resolve(backend, hidden)
    device = hidden.device.type
    dtype = (torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device)
             else torch.promote_types(hidden.dtype, weight.dtype))
    h = hidden.reshape(-1, hidden.shape[-1]).to(dtype)  # (N, D)
    w = weight.to(dtype)  # (V, D)
    t = targets.reshape(-1)  # (N,)
    if t.shape[0] != h.shape[0]:
        raise ValueError(f"fused_linear_cross_entropy: {h.shape[0]} hidden rows but "
                         f"{t.shape[0]} targets")
    chunk = chunk_size or default_chunk_size(h.shape[0], h.shape[1], w.shape[0])
    need_grad = torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad)
    autocast_off = torch.autocast(device, enabled=False) if torch.is_autocast_enabled(device) \
        else contextlib.nullcontext()
    with autocast_off:
        return _ChunkedLinearCrossEntropy.apply(h, w, t, ignore_index, chunk, kind, need_grad)
