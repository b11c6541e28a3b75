"""Scoring: a split's metrics in original units (sharded over ranks in distributed
runs), and the selected checkpoint scored once (what ``results.json`` holds)."""

from __future__ import annotations

import math
from typing import Any

import torch

from mtl.core.experiment import Experiment
from mtl.core.losses import DeviceData, batch_loss
from mtl.core.metrics import mean_over_tasks
from mtl.core.runs import BEST, RunDir
from mtl.core.weights import load_weights
from mtl.distributed import group


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


@torch.no_grad()
def evaluate_split(
    exp: Experiment,
    dd: DeviceData,
    rows: torch.Tensor,
    details: bool = False,
    shard: bool = False,
) -> tuple[dict[str, dict[str, Any]], float]:
    """Metrics per task (original units) and the mean training loss over ``rows``.

    ``shard`` (every rank of a distributed run calls it): each rank scores every
    ``world_size``-th row and the outputs are gathered, so every rank gets the
    metrics of all ``rows`` for a ``1 / world_size`` share of the forward passes."""
    ctx = group.context()
    shard = shard and ctx.distributed
    mine = rows[ctx.rank :: ctx.world_size] if shard else rows
    model = exp.model
    was_training = model.training
    model.eval()
    bs = exp.config.eval_batch_size
    chunks: list[list[torch.Tensor]] = [[] for _ in exp.specs]
    for start in range(0, len(mine), bs):
        outputs = model(dd.inputs.take(mine[start : start + bs]))
        for t, out in enumerate(outputs):
            chunks[t].append(out)
    outs = [
        torch.cat(c) if c else torch.zeros(0, tt.output_dim(spec))
        for c, spec, tt in zip(chunks, exp.specs, exp.task_types, strict=True)
    ]
    if shard:
        outs = _gather_shards(outs, len(rows))
    # each task's loss averaged over the split's labelled rows (not over batches, whose
    # labelled counts differ): the same value for any batch size or number of ranks
    dev_outs = [o.to(exp.device) for o in outs]
    loss = float(batch_loss(exp, dd, dev_outs, rows)) if len(rows) else math.nan
    model.train(was_training)
    rows_np = rows.cpu().numpy()
    result = {}
    for t, (spec, tt, st) in enumerate(zip(exp.specs, exp.task_types, exp.stats, strict=True)):
        pred = tt.decode(spec, outs[t], st)
        labelled = exp.data.masks[spec.name][rows_np]
        y = exp.data.targets[spec.name][rows_np][labelled]
        metrics = tt.evaluate(spec, y, pred[labelled])
        metrics["n"] = int(labelled.sum())
        result[spec.name] = metrics if details else scalar_metrics(metrics)
    return result, loss


def _gather_shards(outs: list[torch.Tensor], n: int) -> list[torch.Tensor]:
    """Every rank's outputs back in row order (rank ``r`` scored rows ``r::world``)."""
    parts = group.gather_objects([o.cpu() for o in outs])
    world = len(parts)
    full = []
    for t, out in enumerate(outs):
        whole = torch.empty((n, *out.shape[1:]), dtype=out.dtype)
        for r, shard_outs in enumerate(parts):
            whole[r::world] = shard_outs[t]
        full.append(whole)
    return full


def load_best(exp: Experiment, run: RunDir) -> int:
    """Load ``best.pt`` into ``exp`` (weights and task statistics); its epoch."""
    state = run.load_checkpoint(BEST, map_location=exp.device)
    load_weights(exp.model, state["model"], run.file(BEST), run.path)
    exp.stats = state["task_stats"]
    return int(state["epoch"])


def score_checkpoint(
    exp: Experiment,
    run: RunDir,
    dd: DeviceData | None = None,
    splits: tuple[str, ...] = ("val", "test"),
) -> dict[str, Any]:
    """Load ``best.pt`` into the model and score ``splits`` (what ``results.json`` holds)."""
    epoch = load_best(exp, run)
    dd = dd or DeviceData(exp)
    out: dict[str, Any] = {
        "selected_epoch": epoch,
        "select_by": f"{exp.selection.task}:{exp.selection.metric}",
        "higher_is_better": exp.selection.higher_is_better,
    }
    main = exp.main_task_names
    members = getattr(exp.model, "snippets", 1)
    for split in splits:
        metrics, loss = evaluate_split(exp, dd, dd.splits[split], details=True)
        out[split] = {k: v for k, v in metrics.items() if k in main}
        out[f"{split}_loss"] = loss
        if any("spearman" in m for m in out[split].values()):
            out[f"{split}_mean_spearman"] = mean_over_tasks(out[split], "spearman")
        if exp.aux_tasks:
            out[f"{split}_aux"] = {k: v for k, v in metrics.items() if k not in main}
        if members > 1:
            out[f"{split}_members"] = []
            try:
                for k in range(members):
                    exp.model.member = k
                    scored, _ = evaluate_split(exp, dd, dd.splits[split], details=True)
                    out[f"{split}_members"].append({t: scored[t] for t in main})
            finally:
                exp.model.member = None
    return out
