"""Regression: MSE on standardised targets; metrics in the original units."""

from __future__ import annotations

import numpy as np
import torch

from mtl.core.data import TaskSpec
from mtl.core.metrics import regression_metrics
from mtl.core.task_type import Metric, TaskType


class RegressionTask(TaskType):
    description = "real-valued target; MSE loss on standardised targets"
    metrics = (
        Metric("rmse", False),
        Metric("mae", False),
        Metric("r2", True),
        Metric("pearson", True),
        Metric("spearman", True),
    )
    primary = "rmse"

    def validate(self, spec: TaskSpec, y: np.ndarray) -> str | None:
        if not np.all(np.isfinite(y)):
            return "labelled targets contain inf or NaN"
        return None

    def output_dim(self, spec: TaskSpec) -> int:
        return 1

    def fit(self, spec: TaskSpec, y_train: np.ndarray) -> dict[str, float]:
        if len(y_train) == 0:
            return {"mean": 0.0, "std": 1.0}
        std = float(np.std(y_train))
        return {"mean": float(np.mean(y_train)), "std": std if std > 0 else 1.0}

    def encode(self, spec: TaskSpec, y: np.ndarray, stats: dict[str, float]) -> torch.Tensor:
        z = (np.nan_to_num(y, nan=stats["mean"]) - stats["mean"]) / stats["std"]
        return torch.as_tensor(z, dtype=torch.float32)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (output[:, 0] - target).square()

    def decode(self, spec: TaskSpec, output: torch.Tensor, stats: dict[str, float]) -> np.ndarray:
        z = output[:, 0].double().cpu().numpy()
        return z * stats["std"] + stats["mean"]

    def evaluate(self, spec: TaskSpec, y: np.ndarray, pred: np.ndarray) -> dict:
        return regression_metrics(y, pred)
