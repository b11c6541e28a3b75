"""The architecture component interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

from mtl.core.options import Option, resolve_options


@dataclass
class ModelSpec:
    """Everything an architecture needs to build a model.

    ``input_mean``/``input_std`` (or ``None``) are training-split statistics for
    whitening, which the first layer folds into its weights and bias so sparse
    inputs are never densified. ``dropout[i]`` follows hidden layer ``i``.
    ``options`` are the architecture's parsed ``-a KEY=VALUE`` options (defaults
    filled in); ``streams`` is 1 when ``forward`` gets one row per example, or the
    number of tasks when it gets per-task streams ``(tasks, batch, input_dim)``
    (``--encoder-sharing per-task``). ``features`` lists the widths of the encoder's
    intermediate features, one per level (:mod:`mtl.core.features`): ``[]`` when there
    is no encoder (the architecture reads the inputs and its own layers are the
    levels), ``None`` when the encoder exposes none.
    """

    input_kind: str
    input_dim: int
    task_names: list[str]
    output_dims: list[int]
    widths: list[int]
    dropout: list[float]
    input_mean: np.ndarray | None = None
    input_std: np.ndarray | None = None
    options: dict[str, Any] = field(default_factory=dict)
    streams: int = 1
    features: list[int] | None = None


class Architecture(ABC):
    """Builds a model that maps an input batch to one output tensor per task.

    ``options`` declares the ``-a KEY=VALUE`` options (checked by the core like a
    dataset's; the parsed values reach ``build`` as ``spec.options``).
    ``needs_features`` asks for the encoder's intermediate features: the built module's
    ``forward(x, features)`` then receives them (the contract of :mod:`mtl.core.features`),
    and an encoder that exposes none is refused before anything is written.
    """

    description: str = ""
    options: tuple[Option, ...] = ()
    needs_features: bool = False

    def check(self, spec: ModelSpec) -> None:
        """Raise :class:`~mtl.core.errors.UserError` for a spec ``build`` would refuse.

        Called before any data is loaded and before a run directory (or any sweep item)
        exists, with a stand-in spec (``input_dim`` 1, one output per task). The default
        builds that small model and discards it; override it with a cheaper check.
        """
        self.build(spec)

    @abstractmethod
    def build(self, spec: ModelSpec) -> nn.Module:
        """A module whose ``forward(batch)`` returns ``[tensor (batch, output_dims[t])]``."""


def resolve_architecture(
    arch: Architecture,
    name: str,
    given: dict[str, Any],
    task_names: list[str],
    widths: list[int],
    dropout: list[float],
    streams: int = 1,
) -> dict[str, Any]:
    """``arch``'s parsed options, checked with :meth:`Architecture.check` on a stand-in
    spec; a spec it cannot build is a :class:`~mtl.core.errors.UserError` here, before
    data is loaded or anything is written."""
    options = resolve_options(arch.options, given, f"architecture '{name}'")
    stand_in = ModelSpec(
        input_kind="dense",
        input_dim=1,
        task_names=list(task_names),
        output_dims=[1] * len(task_names),
        widths=list(widths),
        dropout=list(dropout),
        options=dict(options),
        streams=streams,
    )
    arch.check(stand_in)
    return options
