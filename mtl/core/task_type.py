"""The task-type component interface: head size, loss, decoding and metrics."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mtl.core.data import TaskSpec


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool


class TaskType(ABC):
    """How one kind of task is trained and scored.

    The trainer masks missing labels itself: :meth:`loss` returns one loss per
    example and only labelled examples are averaged. Targets may be transformed for
    training (:meth:`fit`, :meth:`encode`); :meth:`decode` returns predictions in the
    original units, which is what :meth:`evaluate` scores.
    """

    description: str = ""
    metrics: tuple[Metric, ...] = ()
    primary: str = ""

    def direction(self, metric: str) -> bool:
        """True if higher is better for ``metric``."""
        for m in self.metrics:
            if m.name == metric:
                return m.higher_is_better
        raise KeyError(metric)

    def validate(self, spec: TaskSpec, y: np.ndarray) -> str | None:
        """A description of what is wrong with the labelled targets ``y``, or ``None``."""
        return None

    @abstractmethod
    def output_dim(self, spec: TaskSpec) -> int: ...

    def fit(self, spec: TaskSpec, y_train: np.ndarray) -> dict[str, float]:
        """Statistics of the labelled training targets used by encode/decode."""
        return {}

    @abstractmethod
    def encode(self, spec: TaskSpec, y: np.ndarray, stats: dict[str, float]) -> torch.Tensor:
        """Training targets as a tensor; missing entries (NaN) become any valid value."""

    @abstractmethod
    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-example loss, shape ``(batch,)``."""

    @abstractmethod
    def decode(self, spec: TaskSpec, output: torch.Tensor, stats: dict[str, float]) -> np.ndarray:
        """Predictions in original units (values, probabilities, class probabilities)."""

    @abstractmethod
    def evaluate(self, spec: TaskSpec, y: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
        """Metrics of labelled targets ``y`` against decoded predictions ``pred``."""
