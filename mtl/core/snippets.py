"""Snippet ensembles: split each sequence into K snippets, combine the members' posteriors.

A sequence of ``L`` real steps is cut at ``floor(k·L/K)`` for ``k = 0..K``: K
consecutive snippets whose lengths differ by at most one step and which together
cover the sequence (so ``L >= K`` is needed). One shared model reads every snippet
(see docs/sequences.md for why); its outputs on the K snippets of an example are the
ensemble's members, combined per task:

* classification (``multiclass``, ``binary``): on the members' posteriors p_k,
  ``max-mean`` averages them, ``max-product`` multiplies them and renormalises,
  ``learned`` takes a weighted mean with softmax weights learned per task; the class
  with the largest combined posterior is the prediction;
* any other task kind: the mean of the members' outputs (``learned``: the weighted
  mean).

Combined posteriors are returned as logits (log-probabilities for ``multiclass``,
log-odds for ``binary``), so task types decode them as usual.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mtl.core.batches import SequenceBatch

COMBINE_RULES = ("max-mean", "max-product", "learned")


def snippet_bounds(lengths: torch.Tensor, k: int) -> torch.Tensor:
    """``(batch, k + 1)`` cut points ``floor(j * length / k)``, ``j = 0..k``."""
    j = torch.arange(k + 1, device=lengths.device)
    return torch.div(lengths.unsqueeze(1) * j, k, rounding_mode="floor")


def split_snippets(batch: SequenceBatch, k: int) -> SequenceBatch:
    """The ``batch.size * k`` snippets, example-major (example 0's k snippets first)."""
    x, lengths = batch.x, batch.lengths
    b, t, f = x.shape
    bounds = snippet_bounds(lengths, k)
    starts, lens = bounds[:, :-1], bounds[:, 1:] - bounds[:, :-1]  # (batch, k)
    longest = int(lens.max()) if b else 0
    steps = torch.arange(longest, device=x.device)
    valid = steps < lens.unsqueeze(-1)  # (batch, k, longest)
    pos = torch.where(valid, starts.unsqueeze(-1) + steps, 0)
    flat = pos + (torch.arange(b, device=x.device) * t).view(b, 1, 1)
    out = x.reshape(b * t, f).index_select(0, flat.reshape(-1)).view(b * k, longest, f)
    out = out * valid.reshape(b * k, longest, 1)
    return SequenceBatch(out, lens.reshape(-1), b * k)


def combine(
    members: torch.Tensor, kind: str, rule: str, logits: torch.Tensor | None = None
) -> torch.Tensor:
    """Combine ``members`` ``(batch, k, out)`` into ``(batch, out)`` in the output space.

    ``logits`` ``(k,)`` are the learned rule's weight logits (softmax-normalised).
    """
    k = members.shape[1]
    if rule == "learned":
        log_w = torch.log_softmax(logits, dim=0).view(1, k, 1)
    else:
        log_w = torch.full((1, k, 1), -math.log(k), device=members.device, dtype=members.dtype)
    if kind == "multiclass":
        lp = torch.log_softmax(members, dim=2)
        if rule == "max-product":
            return torch.log_softmax(lp.sum(dim=1), dim=1)
        return torch.logsumexp(lp + log_w, dim=1)
    if kind == "binary":
        if rule == "max-product":
            return members.sum(dim=1)
        log_p = torch.logsumexp(F.logsigmoid(members) + log_w, dim=1)
        log_q = torch.logsumexp(F.logsigmoid(-members) + log_w, dim=1)
        return log_p - log_q
    return (members * log_w.exp()).sum(dim=1)
