"""One training step's gradients, as the run's weighting decides them.

The trainer calls :meth:`TrainStep.__call__` with the global batch; afterwards every
trainable parameter (and every weighting parameter) holds its gradient and the
trainer clips and steps the optimiser. Three paths:

- **static** (``ew``, ``fixed``: :meth:`Weighting.static_weights`): one backward of
  ``sum_i c_i * w_i * loss_i`` through DDP, exactly the trainer before weightings;
- **losses**: ``(k,)`` losses ``c_i * loss_i`` → ``combine`` → one backward of
  ``sum_i w_i * c_i * loss_i``;
- **gradients** / **representation**: the Jacobian of the ``(k,)`` losses w.r.t. the
  shared parameters (or the shared representation) in one batched pass
  (``is_grads_batched``); task-specific parameters get the gradient of
  ``sum_i c_i * loss_i``; shared ones get the method's combination.

Gramian methods (``gramian_only``) in one process skip the Jacobian: the ``k × k``
Gramian comes from per-layer factors (:mod:`mtl.core.layer_gramian`), and the shared
parameters get one backward of ``sum_i w_i * c_i * loss_i`` (exactly ``Jᵀw``).

Under DDP the non-static paths run the model under ``no_sync``: losses and Jacobians
are all-reduced (each rank's shard share sums to the global-batch value) before
``combine``, so every rank computes the same combination, and the local gradients
are summed over ranks in one flat all-reduce: 2 ranks = 1 process on the global batch.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from mtl.core.accumulation import micro_batches
from mtl.core.errors import RunFailure
from mtl.core.experiment import Experiment
from mtl.core.layer_gramian import LayerGramian
from mtl.core.losses import DeviceData, batch_loss, task_losses
from mtl.core.penalty import training_penalty
from mtl.core.precision import Precision
from mtl.core.sharing import shared_parameters
from mtl.core.weighting import Combination, StepInfo
from mtl.distributed import group

# The factored Gramian pays off when it covers every shared parameter. Beside shared
# parameters it cannot factor (an LSTM encoder's), those still need per-task gradients,
# and the mixed path measured slower than the Jacobian path (3.5x against 2.8x ew's step
# for MGDA, benchmarks/bench_weighting.py --models lstm3); it stays exact and tested.
FACTOR_BESIDE_OTHERS = False


class EpochStats:
    """Per-epoch sums on the device: each task's weight over the steps it was present,
    its loss over its labelled examples, and the pairwise gradient cosine."""

    KEYS = ("weight_sum", "present_steps", "loss_sum", "labelled", "cosine", "weighted")

    def __init__(self, k: int, device: torch.device):
        z = torch.zeros(k, dtype=torch.float64, device=device)
        self.weight_sum, self.present_steps, self.loss_sum, self.labelled = (
            z.clone(),
            z.clone(),
            z.clone(),
            z.clone(),
        )
        self.cosine = torch.zeros(2, dtype=torch.float64, device=device)  # sum, pairs
        self.weighted = torch.zeros((), dtype=torch.float64, device=device)  # steps with weights

    def add(self, info: StepInfo, weights: torch.Tensor | None, counts: torch.Tensor) -> None:
        present = info.present.to(torch.float64)
        if weights is not None:  # a method that returns only a gradient has no weights
            self.weight_sum += weights.to(torch.float64) * present
            self.present_steps += present
            self.weighted += 1
        self.loss_sum += info.losses.to(torch.float64) * counts
        self.labelled += counts.to(torch.float64)
        if info.jacobian is not None or info.gramian is not None:
            gram = info.gram.to(torch.float64)
            norms = gram.diagonal().clamp_min(0).sqrt()
            cos = gram / (norms[:, None] * norms[None, :]).clamp_min(1e-30)
            both = info.present[:, None] & info.present[None, :]
            pairs = torch.triu(both, diagonal=1)
            self.cosine += torch.stack([cos[pairs].sum(), pairs.sum().to(torch.float64)])

    def epoch_losses(self) -> torch.Tensor:
        """``(k,)`` mean loss over each task's labelled examples (NaN: none)."""
        return torch.where(self.labelled > 0, self.loss_sum / self.labelled, torch.nan).float()

    def record(self, names: list[str], static: list[float] | None) -> dict[str, Any]:
        if static is not None:
            return {"weights": dict(zip(names, static, strict=True))}
        means = (self.weight_sum / self.present_steps).tolist()
        out: dict[str, Any] = {
            "weights": dict(zip(names, means, strict=True)) if float(self.weighted) else None
        }
        s, n = self.cosine.tolist()
        out["gradient_cosine"] = s / n if n else None
        return out

    def state(self) -> dict[str, Any]:
        return {k: getattr(self, k).cpu() for k in self.KEYS}

    def load(self, state: dict[str, Any]) -> None:
        for k in self.KEYS:
            getattr(self, k).copy_(state[k])


class TrainStep:
    """Computes one step's gradients for ``exp.weighting`` (see the module docstring)."""

    def __init__(self, exp: Experiment, dd: DeviceData, net: Any, trainable: list, opt: Any):
        self.exp, self.dd, self.net, self.opt = exp, dd, net, opt
        self.method = exp.weighting
        self.name = exp.config.weighting
        self.needs = self.method.needs
        self.trainable = trainable
        self.dist = group.context()
        c = exp.task_weights or [1.0] * len(exp.specs)
        self.static = self.method.static_weights()
        if self.static is not None:
            self.weights = [ci * wi for ci, wi in zip(c, self.static, strict=True)]
        self.c = torch.tensor(c, dtype=torch.float32, device=exp.device)
        self.shared = shared_parameters(exp.model) if self.needs == "gradients" else []
        ids = {id(p) for p in self.shared}
        self.specific = [p for p in trainable if id(p) not in ids]
        k = len(exp.specs)
        self.eye = torch.eye(k, device=exp.device)
        self.stats = EpochStats(k, exp.device)
        self.precision = Precision(exp.config.precision, exp.device)
        self.accumulate = exp.config.accumulate
        self.factored: LayerGramian | None = None  # the Gramian from layer factors (exact)
        if (
            self.needs == "gradients"
            and self.method.gramian_only
            and not self.dist.distributed
            and exp.config.precision == "32"
        ):
            # shared parameters outside affine layers: the Jacobian path (see above)
            self.factored = LayerGramian.build(exp.model, self.shared, FACTOR_BESIDE_OTHERS)

    def __call__(self, idx: torch.Tensor, epoch: int, step: int) -> torch.Tensor:
        """Gradients of the global batch ``idx`` in every ``.grad``; the batch loss
        ``sum_i c_i * loss_i`` (+ penalty) of this rank, scaled as ``batch_loss``."""
        if self.static is not None:
            return self._static(idx)
        world = self.dist.world_size
        part = torch.tensor_split(idx, world)[self.dist.rank] if world > 1 else idx
        sync = self.net.no_sync() if world > 1 else contextlib.nullcontext()
        factored = self.factored
        with sync:
            with factored.recording() if factored else contextlib.nullcontext():
                outputs = self.precision.forward(self.net, self.dd.inputs.take(part))
            raw, counts = task_losses(self.exp, self.dd, outputs, part, idx)
            losses = raw * self.c
            penalty = training_penalty(self.exp.model)
            gramian = factored.gram(losses, self.eye).detach() if factored else None
            local_jac = None if factored else self._jacobian(losses)
            jac = None if local_jac is None else self._global_jacobian(local_jac)
            info = StepInfo(group.all_sum(losses.detach()), counts > 0, epoch, step, jac, gramian)
            comb = self.method.combine(info)
            weights = self._check(comb, info)
            self.opt.zero_grad(set_to_none=True)
            self._backward(losses, penalty, comb, weights, local_jac, jac)
            if comb.loss is not None:
                comb.loss.backward()
        self.stats.add(info, weights, counts)
        total = losses.detach().sum() * world
        return total + penalty.detach() if penalty is not None else total

    def _static(self, idx: torch.Tensor) -> torch.Tensor:
        """One backward per micro-batch (``--accumulate``, see :mod:`mtl.core.accumulation`)
        of its share of the global batch's loss (under DDP: of this rank's shard of it)."""
        exp, dd, world = self.exp, self.dd, self.dist.world_size
        micros = micro_batches(idx, self.accumulate)
        whole = idx if world > 1 or len(micros) > 1 else None
        self.opt.zero_grad(set_to_none=True)
        total = None
        for j, micro in enumerate(micros):
            part = torch.tensor_split(micro, world)[self.dist.rank] if world > 1 else micro
            last = j == len(micros) - 1  # DDP all-reduces the summed gradients once
            with self.net.no_sync() if world > 1 and not last else contextlib.nullcontext():
                out = self.precision.forward(self.net, dd.inputs.take(part))
                loss = batch_loss(exp, dd, out, part, whole, world, weights=self.weights)
                penalty = training_penalty(exp.model)
                if penalty is not None and len(micros) > 1:  # averaged over micro-batches
                    loss = loss - penalty * (1 - 1 / len(micros))
                self.precision.backward(loss)
            total = loss.detach() if total is None else total + loss.detach()
        return total

    def _jacobian(self, losses: torch.Tensor) -> torch.Tensor | None:
        """This rank's per-task gradients in one batched pass: ``(k, P)`` over the shared
        parameters, or ``(k, rows, ...)`` over the shared representation."""
        if self.needs == "losses":
            return None
        if self.needs == "representation":
            rep = self.exp.model.shared_representation
            return torch.autograd.grad(
                losses, rep, grad_outputs=self.eye, is_grads_batched=True, retain_graph=True
            )[0].float()  # float32 also under bf16 autocast
        grads = torch.autograd.grad(
            losses,
            self.shared,
            grad_outputs=self.eye,
            is_grads_batched=True,
            retain_graph=True,
            allow_unused=True,
        )
        k = len(losses)
        return torch.cat(
            [
                (g if g is not None else p.new_zeros((k, *p.shape))).reshape(k, -1)
                for g, p in zip(grads, self.shared, strict=True)
            ],
            dim=1,
        )

    def _global_jacobian(self, local: torch.Tensor) -> torch.Tensor:
        """Gradients of the global batch: shares summed (parameters), or the ranks'
        representation rows concatenated in rank (= batch) order."""
        k = local.shape[0]
        if self.needs == "gradients":
            return group.all_sum(local)
        if not self.dist.distributed:
            return local.reshape(k, -1)
        parts = group.gather_objects(local.reshape(k, -1).cpu())
        return torch.cat(parts, dim=1).to(local.device)

    def _check(self, comb: Combination, info: StepInfo) -> torch.Tensor | None:
        k = len(info.losses)
        w = comb.weights
        if w is None and (self.needs != "gradients" or comb.gradient is None or self.factored):
            raise RunFailure(
                f"weighting '{self.name}' returned no task weights in epoch {info.epoch}"
            )
        if w is not None:
            w = w.detach()
            if w.shape != (k,):
                raise RunFailure(
                    f"weighting '{self.name}' returned weights of shape {tuple(w.shape)}, not ({k},)"
                )
        if comb.gradient is not None and info.jacobian is not None:
            if comb.gradient.numel() != info.jacobian.shape[1]:
                raise RunFailure(
                    f"weighting '{self.name}' returned a gradient of {comb.gradient.numel()} "
                    f"values for {info.jacobian.shape[1]} shared parameters"
                )
        values = [w] if w is not None else []
        if comb.gradient is not None:
            values.append(comb.gradient.detach())
        if not all(bool(torch.isfinite(v).all()) for v in values):
            raise RunFailure(
                f"weighting '{self.name}' produced a non-finite weight or gradient in epoch "
                f"{info.epoch}; the last good checkpoint is kept (lower --lr, or check the "
                "method's options)"
            )
        return w

    def _backward(
        self,
        losses: torch.Tensor,
        penalty: torch.Tensor | None,
        comb: Combination,
        weights: torch.Tensor | None,
        local_jac: torch.Tensor | None,
        jac: torch.Tensor | None,
    ) -> None:
        pen = None if penalty is None else penalty / self.dist.world_size
        if self.needs == "losses":
            total = (weights * losses).sum()
            (total if pen is None else total + pen).backward()
            self._sum_over_ranks(self.trainable)
            return
        if self.needs == "representation":
            # one backward of sum_i c_i loss_i in which the representation's gradient is
            # replaced by the combination of the tasks' gradients (this rank's rows)
            combined = torch.einsum("k,k...->...", weights, local_jac)
            hook = self.exp.model.shared_representation.register_hook(
                lambda g: combined.to(g.dtype)
            )
            total = losses.sum()
            (total if pen is None else total + pen).backward()
            hook.remove()
            self._sum_over_ranks(self.trainable)
            return
        # gradient methods: shared parameters get the combination (plus the rank's
        # penalty gradient); task-specific ones the gradient of sum_i c_i loss_i
        if pen is not None:
            torch.autograd.backward(pen, retain_graph=True, inputs=self.shared)
        if jac is None:  # the factored Gramian: Jᵀw is one backward of sum_i w_i loss_i
            torch.autograd.backward((weights * losses).sum(), retain_graph=True, inputs=self.shared)
        total = losses.sum()
        torch.autograd.backward(total if pen is None else total + pen, inputs=self.specific)
        # without a penalty the shared gradient is global already: nothing to sum
        self._sum_over_ranks(self.trainable if pen is not None else self.specific)
        if jac is None:
            return
        combined = (
            comb.gradient.detach().reshape(-1) if comb.gradient is not None else weights @ jac
        )
        self._add_shared(combined)

    def _add_shared(self, flat: torch.Tensor) -> None:
        """Add the combined global gradient ``flat`` (the Jacobian's column layout)."""
        offset = 0
        for p in self.shared:
            g = flat[offset : offset + p.numel()].view_as(p).to(p.dtype)
            p.grad = g.clone() if p.grad is None else p.grad + g
            offset += p.numel()

    def _sum_over_ranks(self, params: list) -> None:
        """Local gradients summed over ranks (one flat all-reduce; nothing alone)."""
        if not self.dist.distributed:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = group.all_sum(torch.cat([g.reshape(-1) for g in grads]))
        offset = 0
        for p in params:
            p.grad = flat[offset : offset + p.numel()].view_as(p).clone()
            offset += p.numel()

    def after_step(self) -> None:
        if self.static is None:
            self.method.after_step()

    def end_epoch(self, epoch: int) -> dict[str, Any]:
        """Hand the epoch's per-task mean losses to the method; the epoch's records."""
        names = [s.name for s in self.exp.specs]
        record = self.stats.record(names, self.static)
        if self.static is None:
            self.method.end_epoch(epoch, self.stats.epoch_losses())
        self.stats = EpochStats(len(names), self.exp.device)
        return record
