"""The architecture component interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from torch import nn


@dataclass
class ModelSpec:
    """Everything an architecture needs to build a model.

    ``input_mean``/``input_std`` (or ``None``) are training-split statistics for
    whitening, which the first layer folds into its weights and bias so sparse
    inputs are never densified. ``dropout[i]`` follows hidden layer ``i``.
    """

    input_kind: str
    input_dim: int
    task_names: list[str]
    output_dims: list[int]
    widths: list[int]
    dropout: list[float]
    input_mean: np.ndarray | None = None
    input_std: np.ndarray | None = None


class Architecture(ABC):
    """Builds a model that maps an input batch to one output tensor per task."""

    description: str = ""

    @abstractmethod
    def build(self, spec: ModelSpec) -> nn.Module:
        """A module whose ``forward(batch)`` returns ``[tensor (batch, output_dims[t])]``."""
