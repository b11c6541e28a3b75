"""``synthetic-seq``: variable-length sequences whose class lives in a temporal pattern.

Example ``i`` of class ``c`` has ``L_i`` real steps (uniform in
``min_length..max_length``) of ``features`` values:

    x[i, t] = a_i · sin(2π t / P_c + φ_i) · u_c + s_i · (t / L_i) · e_1 + noise · ε

with ``P_c`` the class's period (classes differ in tempo), ``u_c`` a unit loading vector
per class, ``φ_i`` a random phase, ``a_i`` the amplitude and ``s_i`` a slope on feature
1; steps after ``L_i`` are zero padding. Tasks: ``genre`` (multiclass, the class),
``energy`` (regression, ``a_i``) and ``trend`` (regression, ``s_i``). The per-feature
mean over time carries almost nothing about the class (the sinusoid averages out), so
a model must read the temporal pattern: an LSTM or CNN beats chance within a few
epochs. Splits are 60/20/20, seeded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mtl.core.data import MultiTaskData, SequenceInputs, TaskSpec
from mtl.core.dataset import Dataset, check_generated_size
from mtl.core.errors import UserError
from mtl.core.options import Option

CLASSES = ("ambient", "folk", "rock", "techno", "drum_n_bass", "noise")
PERIODS = (24.0, 12.0, 7.0, 4.0, 3.0, 2.5)


class SyntheticSequenceDataset(Dataset):
    description = "variable-length sequences; class in a temporal pattern (tests, smoke runs)"
    options = (
        Option("n", int, 1000, "number of sequences", min=10, max=10_000_000),
        Option("features", int, 8, "values per step", min=2, max=100_000),
        Option("min_length", int, 16, "shortest sequence", min=1, max=1_000_000),
        Option("max_length", int, 48, "longest sequence (the padded length)", min=1, max=1_000_000),
        Option("classes", int, 4, "number of genre classes", min=2, max=len(CLASSES)),
        Option("noise", float, 1.0, "standard deviation of the per-step noise", min=0),
        Option("seed", int, 0, "generator seed (the data; --seed sets the training seed)", min=0),
    )
    default_tasks = ("genre",)

    def offered_tasks(self, options: dict[str, Any]) -> list[TaskSpec]:
        return [
            TaskSpec(
                "genre",
                "multiclass",
                classes=CLASSES[: options["classes"]],
                description="class set by the period of a sinusoid",
            ),
            TaskSpec("energy", "regression", description="amplitude of the sinusoid"),
            TaskSpec("trend", "regression", description="slope of a linear drift on feature 1"),
        ]

    def load(self, options: dict[str, Any], tasks: list[str]) -> MultiTaskData:
        n, f = options["n"], options["features"]
        lo, hi = options["min_length"], options["max_length"]
        if lo > hi:
            raise UserError(
                f"dataset 'synthetic-seq': min_length {lo} is above max_length {hi}; "
                "lower -o min_length or raise -o max_length"
            )
        check_generated_size("synthetic-seq", n * hi * f, "n × max_length × features")
        k = options["classes"]
        rng = np.random.default_rng(options["seed"])
        loadings = rng.standard_normal((k, f))
        loadings /= np.linalg.norm(loadings, axis=1, keepdims=True)
        genre = rng.integers(0, k, n)
        lengths = rng.integers(lo, hi + 1, n)
        amplitude = rng.uniform(0.5, 2.0, n)
        slope = rng.standard_normal(n)
        phase = rng.uniform(0, 2 * np.pi, n)
        t = np.arange(hi)[None, :]
        periods = np.asarray(PERIODS)[genre][:, None]
        wave = amplitude[:, None] * np.sin(2 * np.pi * t / periods + phase[:, None])
        x = wave[:, :, None] * loadings[genre][:, None, :]
        x[:, :, 1] += slope[:, None] * t / lengths[:, None]
        x += options["noise"] * rng.standard_normal(x.shape)
        x[t >= lengths[:, None]] = 0.0
        order = rng.permutation(n)
        a, b = int(0.6 * n), int(0.8 * n)
        splits = {
            "train": np.sort(order[:a]),
            "val": np.sort(order[a:b]),
            "test": np.sort(order[b:]),
        }
        targets = {"genre": genre.astype(np.float64), "energy": amplitude, "trend": slope}
        specs = [s for s in self.offered_tasks(options) if s.name in tasks]
        return MultiTaskData(
            inputs=SequenceInputs(x.astype(np.float32), lengths),
            tasks=specs,
            targets={s.name: targets[s.name] for s in specs},
            masks={s.name: np.ones(n, dtype=bool) for s in specs},
            splits=splits,
            ids=np.asarray([f"seq{i:06d}" for i in range(n)]),
            provenance={"generator": "synthetic-seq", **options},
        )
