"""Training losses: inputs and targets on the device, and the masked per-task loss.

The loss of each task is averaged over its labelled examples in the batch. In a
distributed step each rank computes its shard's share of the global batch's loss
(the labelled counts come from the global batch, which every rank knows: all masks
live on every rank), so the ranks' shares add up to the global-batch loss.
"""

from __future__ import annotations

from typing import Any

import torch

from mtl.core.batches import to_device
from mtl.core.experiment import Experiment
from mtl.core.penalty import training_penalty


class DeviceData:
    """Inputs, encoded targets, masks and split indices on the training device."""

    def __init__(self, exp: Experiment):
        dev = exp.device
        data = exp.data
        self.inputs = to_device(data.inputs, dev)
        self.targets = [
            tt.encode(spec, data.targets[spec.name], st).to(dev)
            for spec, tt, st in zip(exp.specs, exp.task_types, exp.stats, strict=True)
        ]
        self.masks = [torch.as_tensor(data.masks[s.name]).to(dev) for s in exp.specs]
        self.splits = {k: torch.as_tensor(v).to(dev) for k, v in data.splits.items()}


def batch_loss(
    exp: Experiment,
    dd: DeviceData,
    outputs: list[torch.Tensor],
    idx: torch.Tensor,
    whole: torch.Tensor | None = None,
    world: int = 1,
    weights: list[float] | None = None,
) -> torch.Tensor:
    """Weighted sum over tasks of the mean loss over the batch's labelled examples, plus
    the model's training penalty (:mod:`mtl.core.penalty`; none in evaluation mode).

    A model that reads each example as several rows (snippet ensembles in training)
    says so with ``rows_per_example``; each row carries its example's labels. In a
    distributed step ``idx`` is this rank's shard of the global batch ``whole``: task
    losses are divided by the labelled count of ``whole`` and multiplied by ``world``,
    so DDP's gradient average over ranks equals the gradient on the whole batch.
    ``weights`` replace ``exp.task_weights`` (a static weighting's ``c_i * w_i``).
    """
    rows = getattr(exp.model, "rows_per_example", 1)
    if rows > 1:
        idx = idx.repeat_interleave(rows)
        whole = whole.repeat_interleave(rows) if whole is not None else None
    weights = exp.task_weights if weights is None else weights
    total = outputs[0].new_zeros(())
    for t, tt in enumerate(exp.task_types):
        mask = dd.masks[t].index_select(0, idx)
        labelled = mask.sum() if whole is None else dd.masks[t].index_select(0, whole).sum()
        per_example = tt.loss(outputs[t], dd.targets[t].index_select(0, idx))
        task_loss = (per_example * mask).sum() / labelled.clamp(min=1)
        total = total + (task_loss if weights is None else weights[t] * task_loss)
    if world > 1:
        total = total * world
    penalty = training_penalty(exp.model)
    if penalty is not None:
        total = total + penalty
    return total


def shard_loss(
    exp: Experiment,
    dd: DeviceData,
    model: Any,
    idx: torch.Tensor,
    rank: int,
    world: int,
    weights: list[float] | None = None,
) -> torch.Tensor:
    """This rank's share of the global batch ``idx``, scaled so that DDP's gradient
    average over ranks equals the gradient of :func:`batch_loss` on the whole batch.

    Every rank holds all masks, so the number of labelled examples per task in the
    global batch is known without communication. Task weights, snippet rows and the
    encoder's penalty apply as in a single process.
    """
    part = torch.tensor_split(idx, world)[rank]
    outputs = model(dd.inputs.take(part))
    return batch_loss(exp, dd, outputs, part, whole=idx, world=world, weights=weights)


def task_losses(
    exp: Experiment,
    dd: DeviceData,
    outputs: list[torch.Tensor],
    idx: torch.Tensor,
    whole: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(k,)`` losses of this shard ``idx`` of the global batch ``whole`` (each task's
    loss summed over the shard's labelled examples, divided by the task's labelled count
    in ``whole``: the shards' values add up to the global-batch means), and ``(k,)``
    labelled counts of ``whole``. One process: ``idx`` is ``whole``."""
    rows = getattr(exp.model, "rows_per_example", 1)
    if rows > 1:
        idx, whole = idx.repeat_interleave(rows), whole.repeat_interleave(rows)
    losses, counts = [], []
    for t, tt in enumerate(exp.task_types):
        mask = dd.masks[t].index_select(0, idx)
        labelled = dd.masks[t].index_select(0, whole).sum()
        per_example = tt.loss(outputs[t], dd.targets[t].index_select(0, idx))
        losses.append((per_example * mask).sum() / labelled.clamp(min=1))
        counts.append(labelled)
    return torch.stack(losses), torch.stack(counts)
