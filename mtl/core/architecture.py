"""The architecture component interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

from mtl.core.options import Option


@dataclass
class ModelSpec:
    """Everything an architecture needs to build a model.

    ``input_mean``/``input_std`` (or ``None``) are training-split statistics for
    whitening, which the first layer folds into its weights and bias so sparse
    inputs are never densified. ``dropout[i]`` follows hidden layer ``i``.

    ``features`` lists the widths of the encoder's intermediate features, one per level
    (:mod:`mtl.core.features`): ``[]`` when there is no encoder (the architecture reads
    the inputs and its own layers are the levels), ``None`` when the encoder exposes
    none. ``options`` are the architecture's options (values given so far; an
    architecture resolves its declared ``options`` over them, defaults filling the rest).
    """

    input_kind: str
    input_dim: int
    task_names: list[str]
    output_dims: list[int]
    widths: list[int]
    dropout: list[float]
    input_mean: np.ndarray | None = None
    input_std: np.ndarray | None = None
    features: list[int] | None = None
    options: dict[str, Any] = field(default_factory=dict)


class Architecture(ABC):
    """Builds a model that maps an input batch to one output tensor per task.

    ``options`` declares the architecture's typed options (as encoders and datasets do).
    ``needs_features`` asks for the encoder's intermediate features: the built module's
    ``forward(x, features)`` then receives them (the contract of :mod:`mtl.core.features`),
    and an encoder that exposes none is refused before anything is written.
    """

    description: str = ""
    options: tuple[Option, ...] = ()
    needs_features: bool = False

    @abstractmethod
    def build(self, spec: ModelSpec) -> nn.Module:
        """A module whose ``forward(batch)`` returns ``[tensor (batch, output_dims[t])]``."""
