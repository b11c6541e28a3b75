"""Multiclass classification: softmax cross-entropy; per-class report and confusion matrix."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mtl.core.data import TaskSpec
from mtl.core.metrics import multiclass_metrics
from mtl.core.task_type import Metric, TaskType


class MulticlassTask(TaskType):
    description = "one of K classes; softmax cross-entropy"
    metrics = (
        Metric("accuracy", True),
        Metric("macro_f1", True),
        Metric("weighted_f1", True),
        Metric("macro_precision", True),
        Metric("macro_recall", True),
    )
    primary = "accuracy"

    def _k(self, spec: TaskSpec) -> int:
        if not spec.classes:
            raise ValueError(f"multiclass task '{spec.name}' declares no classes")
        return len(spec.classes)

    def validate(self, spec: TaskSpec, y: np.ndarray) -> str | None:
        k = self._k(spec)
        bad = (y != np.round(y)) | (y < 0) | (y >= k)
        if bad.any():
            return f"class ids must be integers 0..{k - 1}; found {y[bad][0]!r}"
        return None

    def output_dim(self, spec: TaskSpec) -> int:
        return self._k(spec)

    def encode(self, spec: TaskSpec, y: np.ndarray, stats: dict[str, float]) -> torch.Tensor:
        return torch.as_tensor(np.nan_to_num(y, nan=0.0).astype(np.int64))

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(output, target, reduction="none")

    def decode(self, spec: TaskSpec, output: torch.Tensor, stats: dict[str, float]) -> np.ndarray:
        return torch.softmax(output.double(), dim=1).cpu().numpy()

    def evaluate(self, spec: TaskSpec, y: np.ndarray, pred: np.ndarray) -> dict:
        return multiclass_metrics(y.astype(np.int64), pred, list(spec.classes or ()))
