"""The weighting (task-balancing method) component interface.

A training step is: forward -> per-task losses (means over labelled examples) -> a
weighting turns them into one update -> one optimiser step. A weighting sees a
:class:`StepInfo` and returns a :class:`Combination`:

- loss-level methods (``needs = "losses"``) return task ``weights``; the step
  back-propagates ``sum_i weights[i] * loss[i]`` into every parameter;
- gradient methods (``needs = "gradients"``) also see ``jacobian``, the per-task
  gradients of the *shared* parameters (one row per task), and return either
  ``weights`` (the shared gradient is ``jacobian.T @ weights``) or the combined
  shared ``gradient`` itself; task-specific parameters (heads, T layers) always get
  their own task's gradient (of ``sum_i c_i * loss[i]``, ``c`` the fixed
  ``--task-weight`` values);
- representation methods (``needs = "representation"``) see ``jacobian`` over the
  shared representation instead (per-task gradients of the last shared activation,
  flattened per task) and return ``weights``.

Everything a weighting sees is global: under DDP the losses and Jacobians are
all-reduced before the call, so every rank computes the same combination and the
ranks stay identical. A task without a labelled example in the global batch is
absent (``present[i]`` false): its loss is 0, its Jacobian row is 0, and a method
must give it weight 0 and leave its learnable weights and running statistics
unchanged. Weights are renormalised over present tasks by the method where the
method's definition normalises them.

A weighting is a ``torch.nn.Module``: learnable weights are ``nn.Parameter`` (the
trainer puts them in their own parameter group without weight decay and trains
them with the run's optimiser, from the scalar ``Combination.loss``), running
statistics are buffers or live in :meth:`get_extra_state`, so that
``state_dict()`` holds all of a method's state and resume is exact. Randomness
comes only from ``self.generator`` (seeded from the run's seed; its state is saved).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from mtl.core.options import Option

NEEDS = ("losses", "gradients", "representation")


@dataclass
class StepInfo:
    """What a weighting sees in one training step (all tensors detached, global).

    ``losses``: ``(k,)`` mean loss of each task over its labelled examples in the
    global batch (0 for absent tasks). ``present``: ``(k,)`` bool. ``jacobian``:
    ``(k, P)`` rows of per-task gradients (``None`` for loss-level methods).
    ``epoch`` counts from 1; ``step`` is the global step within the run, from 0.
    Epoch-level statistics (DWA) arrive through :meth:`Weighting.end_epoch`.

    ``losses`` are ``c_i * loss_i`` (``c`` the fixed ``--task-weight``s, 1 by default).
    Jacobian row ``i`` is task ``i``'s gradient (tasks in training order: ``--tasks``,
    then auxiliary tasks); gradient methods' columns are the flattened parameters of
    the model's ``shared_parameters()`` in that order (see :mod:`mtl.core.sharing`),
    representation methods' the global batch's representation rows in batch order.
    Treat every tensor here as read-only (they may share storage with the step's).
    """

    losses: torch.Tensor
    present: torch.Tensor
    epoch: int
    step: int
    jacobian: torch.Tensor | None = None
    gramian: torch.Tensor | None = None

    @property
    def gram(self) -> torch.Tensor:
        """``jacobian @ jacobian.T``: the ``(k, k)`` matrix of task-gradient dot products
        (given directly as ``gramian``, without a Jacobian, to methods with ``gramian_only``)."""
        if self.gramian is not None:
            return self.gramian
        assert self.jacobian is not None
        return self.jacobian @ self.jacobian.T


@dataclass
class Combination:
    """A weighting's answer: task ``weights`` ``(k,)`` and/or a combined shared
    ``gradient`` ``(P,)`` (gradient methods only), plus an optional differentiable
    scalar ``loss`` that trains the weighting's own parameters."""

    weights: torch.Tensor | None = None
    gradient: torch.Tensor | None = None
    loss: torch.Tensor | None = None


class Weighting(nn.Module, ABC):
    """Base class of balancing methods; subclasses implement :meth:`combine`.

    The registry holds the class; the trainer builds one instance per run with
    ``cls(num_tasks, options, seed)``. ``options`` are resolved from ``options``
    (declared like dataset options, validated before anything is written).
    """

    description: ClassVar[str] = ""
    needs: ClassVar[str] = "losses"
    #: a gradient method that reads only ``info.gram`` and returns ``weights``: the step may
    #: then compute the Gramian from per-layer factors and pass ``jacobian = None``
    gramian_only: ClassVar[bool] = False
    options: ClassVar[tuple[Option, ...]] = ()

    def __init__(self, num_tasks: int, options: dict[str, Any], seed: int = 0):
        super().__init__()
        self.num_tasks = num_tasks
        self.opts = dict(options)
        self.generator = torch.Generator().manual_seed(seed)

    @abstractmethod
    def combine(self, info: StepInfo) -> Combination:
        """Task weights or a combined shared gradient for this step."""

    def static_weights(self) -> list[float] | None:
        """Weights that never change (``ew``, ``fixed``), or ``None`` (the default).

        A loss-level method that returns them is trained on the plain path: one
        backward of ``sum_i c_i * w_i * loss[i]``, exactly the trainer without a
        weighting; :meth:`combine`, :meth:`after_step` and :meth:`end_epoch` are then
        not called during training."""
        return None

    def after_step(self) -> None:  # noqa: B027
        """Called after every optimiser step (e.g. to renormalise learnable weights)."""

    def end_epoch(self, epoch: int, epoch_losses: torch.Tensor) -> None:  # noqa: B027
        """Called after each finished epoch with each task's ``(k,)`` mean training loss
        over its labelled examples in the epoch (NaN for a task that had none)."""

    def get_extra_state(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
