"""Binary classification: one logit, cross-entropy; metrics at threshold 0.5."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mtl.core.data import TaskSpec
from mtl.core.metrics import binary_metrics
from mtl.core.task_type import Metric, TaskType


class BinaryTask(TaskType):
    description = "0/1 target (e.g. a tag); cross-entropy on one logit"
    metrics = (
        Metric("roc_auc", True),
        Metric("accuracy", True),
        Metric("precision", True),
        Metric("recall", True),
        Metric("f1", True),
        Metric("positive_rate", True),
    )
    primary = "roc_auc"

    def validate(self, spec: TaskSpec, y: np.ndarray) -> str | None:
        bad = ~np.isin(y, (0.0, 1.0))
        if bad.any():
            return f"binary labels must be 0 or 1; found {y[bad][0]!r}"
        return None

    def output_dim(self, spec: TaskSpec) -> int:
        return 1

    def encode(self, spec: TaskSpec, y: np.ndarray, stats: dict[str, float]) -> torch.Tensor:
        return torch.as_tensor(np.nan_to_num(y, nan=0.0), dtype=torch.float32)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(output[:, 0], target, reduction="none")

    def decode(self, spec: TaskSpec, output: torch.Tensor, stats: dict[str, float]) -> np.ndarray:
        return torch.sigmoid(output[:, 0]).double().cpu().numpy()

    def evaluate(self, spec: TaskSpec, y: np.ndarray, pred: np.ndarray) -> dict:
        return binary_metrics(y, pred)
