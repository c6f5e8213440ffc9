"""Exercise 02: causal self-attention by hand.

Fill in the two functions below, then check your work from the repository root:

    auroragpt exercises check 02                       # checks this file
    auroragpt exercises check 02 --file my_copy.py     # or a copy of it

Write the attention yourself from tensor operations (matmul, masking, softmax):
torch.nn.functional.scaled_dot_product_attention is what the checks compare against, so it is
off limits here.
"""

import torch


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal scaled dot-product attention for every head at once.

    q, k, v: (B, nh, T, hd). Returns (B, nh, T, hd) in the dtype of the inputs: the output at
    position t is the average of the values v_0..v_t weighted by the softmax, over s <= t, of
    the scores q_t . k_s / sqrt(hd). Positions after t get no weight at all.
    """
    # TODO 1: the scores of every query against every key, scaled: (B, nh, T, T)
    # TODO 2: hide the future: a query at position t must not see keys at positions s > t
    # TODO 3: softmax over the keys, then the weighted sum of the values
    raise NotImplementedError("TODO: causal_attention")


def multi_head_self_attention(x: torch.Tensor, wq: torch.Tensor, wk: torch.Tensor,
                              wv: torch.Tensor, wo: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Multi-head causal self-attention of x: (B, T, C).

    The four weights are (C, C) matrices used like `nn.Linear` weights: `x @ w.T`. Project x to
    queries, keys and values, split the C channels into `n_heads` heads of C // n_heads
    consecutive channels each, run `causal_attention` on all heads at once, put the heads back
    side by side in the same channel order, and project the result with wo. Returns (B, T, C).
    """
    # TODO 1: project: q, k, v of shape (B, T, C)
    # TODO 2: split the heads: (B, T, C) -> (B, nh, T, hd)
    # TODO 3: attend, merge the heads back to (B, T, C), and project with wo
    raise NotImplementedError("TODO: multi_head_self_attention")
