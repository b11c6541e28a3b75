"""Reconstruction: a vector target (e.g. an input summary), MSE per standardised component.

A ``reconstruction`` task's ``TaskSpec.classes`` names the target's components (its
length is the output size); targets are ``(n, components)``. The loss is the mean
squared error over components of targets standardised per component with training
statistics; metrics are in the original units.
"""

from __future__ import annotations

import numpy as np
import torch

from mtl.core.data import TaskSpec
from mtl.core.task_type import Metric, TaskType


class ReconstructionTask(TaskType):
    description = "vector target (e.g. autoencoding an input summary); MSE per component"
    metrics = (Metric("rmse", False), Metric("mae", False), Metric("r2", True))
    primary = "rmse"

    def _k(self, spec: TaskSpec) -> int:
        if not spec.classes:
            raise ValueError(f"reconstruction task '{spec.name}' names no components")
        return len(spec.classes)

    def validate(self, spec: TaskSpec, y: np.ndarray) -> str | None:
        if y.ndim != 2 or y.shape[1] != self._k(spec):
            return f"targets must be (examples, {self._k(spec)}); got shape {y.shape}"
        if not np.all(np.isfinite(y)):
            return "labelled targets contain inf or NaN"
        return None

    def output_dim(self, spec: TaskSpec) -> int:
        return self._k(spec)

    def fit(self, spec: TaskSpec, y_train: np.ndarray) -> dict:
        std = y_train.std(axis=0)
        return {
            "mean": [float(v) for v in y_train.mean(axis=0)],
            "std": [float(v) if v > 0 else 1.0 for v in std],
        }

    def encode(self, spec: TaskSpec, y: np.ndarray, stats: dict) -> torch.Tensor:
        mean, std = np.asarray(stats["mean"]), np.asarray(stats["std"])
        z = (np.where(np.isfinite(y), y, mean) - mean) / std
        return torch.as_tensor(z, dtype=torch.float32)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (output - target).square().mean(dim=1)

    def decode(self, spec: TaskSpec, output: torch.Tensor, stats: dict) -> np.ndarray:
        z = output.double().cpu().numpy()
        return z * np.asarray(stats["std"]) + np.asarray(stats["mean"])

    def evaluate(self, spec: TaskSpec, y: np.ndarray, pred: np.ndarray) -> dict:
        """RMSE and MAE over all components; R² averaged uniformly over components
        (as scikit-learn's ``r2_score``), constant components left out."""
        if len(y) == 0:
            return {"rmse": float("nan"), "mae": float("nan"), "r2": float("nan")}
        err = y - pred
        ss_res = (err * err).sum(axis=0)
        ss_tot = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
        varying = ss_tot > 0
        r2 = float(np.mean(1.0 - ss_res[varying] / ss_tot[varying])) if varying.any() else np.nan
        return {
            "rmse": float(np.sqrt(np.mean(err * err))),
            "mae": float(np.mean(np.abs(err))),
            "r2": r2,
        }
