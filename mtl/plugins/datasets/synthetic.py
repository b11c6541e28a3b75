"""Synthetic lyrics-like data with known ground truth, mirroring the founding study's tasks.

Each example has a latent topic mixture ``theta`` (Dirichlet over ``topics``). Its
bag-of-words is drawn from the mixture's word distributions, which share a
Zipf-shaped vocabulary; the number of tokens is calibrated so that rows have about
``density × dim`` distinct words (≈90 at 0.018 × 5000, as musiXmatch lyrics).

Labels are functions of ``theta``. The tags ``pop``, ``pop_rock`` and ``ballad`` are
thresholds of ``coupling·u + sqrt(1-coupling²)·v_task`` plus label noise, where ``u``
is one latent factor they share: the tightly coupled set. ``loudness`` and ``year``
are regressions on their own factors, correlated with ``u`` by only 0.25: loosely
coupled with ``pop``. ``genre`` (5 classes) is the arg-max of one score per genre,
the ``pop`` genre's being ``u``. With ``density >= 1`` the inputs are dense Gaussian features.

A planted imbalance (both off by default, which leaves the data bit for bit as before):
``distractors = K`` adds regressions ``distractor1..K``, noisy copies (noise
``distractor_noise`` relative to the signal) of one factor of their own, unrelated to
the founding tasks: their K aligned gradients add up, and under equal weighting they
outweigh the other tasks on the shared layers. ``task_noise`` multiplies one task's
label noise (``pop_rock=4``): a task learned much more slowly than the rest.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mtl.core.data import DenseInputs, MultiTaskData, SparseInputs, TaskSpec
from mtl.core.dataset import Dataset, check_generated_size
from mtl.core.errors import UserError
from mtl.core.options import Option

TIGHT = {"pop": 0.35, "pop_rock": 0.22, "ballad": 0.15}  # tag → positive rate
LOOSE_CORRELATION = 0.25
STOPWORDS = 20  # the most frequent words belong to no lexicon
GENRES = ("pop", "rock", "electronic", "hip_hop", "folk")
TASKS = [
    TaskSpec("pop", "binary", description="tag, tightly coupled with pop_rock and ballad"),
    TaskSpec("pop_rock", "binary", description="tag, tightly coupled with pop and ballad"),
    TaskSpec("ballad", "binary", description="tag, tightly coupled with pop and pop_rock"),
    TaskSpec("loudness", "regression", units="dB", description="loosely coupled with pop"),
    TaskSpec("year", "regression", units="year", description="loosely coupled with pop"),
    TaskSpec(
        "genre",
        "multiclass",
        classes=GENRES,
        description="one of 5 genres; 'pop' follows the tight factor",
    ),
]

COMMON_OPTIONS = (
    Option("noise", float, 1.0, "label noise (standard deviation relative to the signal)", min=0),
    Option(
        "coupling",
        float,
        0.95,
        "how much the tight tags share their latent factor (0..1)",
        min=0,
        max=1,
    ),
    Option(
        "labels",
        str,
        "words",
        "what labels are functions of: the example's words (a random lexicon per latent "
        "factor) or its topic mixture",
        choices=("words", "topics"),
    ),
    Option(
        "lexicon",
        float,
        0.2,
        "fraction of the vocabulary in each latent factor's lexicon",
        min=1e-4,
        max=1,
    ),
    Option(
        "loose",
        float,
        LOOSE_CORRELATION,
        "correlation of loudness and year with the tight factor",
        min=0,
        max=1,
    ),
    Option("missing", float, 0.0, "fraction of labels absent, per task", min=0, max=0.95),
    Option(
        "distractors",
        int,
        0,
        "planted imbalance: K extra regressions distractor1..K, noisy copies of one factor "
        "unrelated to the other tasks (their aligned gradients outweigh the rest)",
        min=0,
        max=50,
    ),
    Option(
        "distractor_noise",
        float,
        0.5,
        "label noise of the distractors, relative to their signal",
        min=0,
    ),
    Option(
        "task_noise",
        str,
        "",
        "planted imbalance: per-task label-noise multipliers, e.g. 'pop_rock=4,year=3'",
    ),
    Option("topics", int, 16, "number of latent topics", min=2, max=1000),
    Option("zipf", float, 1.07, "exponent of the Zipf word-frequency law", min=0),
    Option("seed", int, 0, "generator seed (the data; --seed sets the training seed)", min=0),
)


def distractor_specs(k: int) -> list[TaskSpec]:
    return [
        TaskSpec(
            f"distractor{i}",
            "regression",
            description="planted: a noisy copy of the distractors' own factor",
        )
        for i in range(1, k + 1)
    ]


def task_noise(text: str) -> dict[str, float]:
    """``'pop_rock=4,year=3'`` → ``{'pop_rock': 4.0, 'year': 3.0}`` (a UserError if malformed)."""
    out: dict[str, float] = {}
    names = [t.name for t in TASKS]
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip()
        try:
            factor = float(value)
        except ValueError:
            factor = -1.0
        if not sep or factor < 0 or not np.isfinite(factor):
            raise UserError(
                f"synthetic: malformed task_noise '{part}': write TASK=FACTOR with FACTOR >= 0, "
                "e.g. task_noise=pop_rock=4"
            )
        if name not in names:
            raise UserError(
                f"synthetic: task_noise names unknown task '{name}'; tasks: {', '.join(names)}"
            )
        out[name] = factor
    return out


def _unit(rng: np.random.Generator, k: int) -> np.ndarray:
    v = rng.standard_normal(k)
    return v / np.linalg.norm(v)


def _standardise(z: np.ndarray) -> np.ndarray:
    return (z - z.mean()) / (z.std() + 1e-12)


def _presence(inputs: DenseInputs | SparseInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per non-zero: 1/sqrt(words in the row) (dense: the value / sqrt(dim)), row and column."""
    if isinstance(inputs, SparseInputs):
        lengths = np.diff(inputs.indptr)
        rows = np.repeat(np.arange(inputs.n), lengths)
        return 1.0 / np.sqrt(np.maximum(lengths, 1))[rows], rows, inputs.indices
    x = np.asarray(inputs.x, dtype=np.float64)
    n, dim = x.shape
    rows, cols = np.divmod(np.arange(n * dim), dim)
    return x.ravel() / np.sqrt(dim), rows, cols


class Generator:
    """Draws inputs and every task's labels for one setting of the options."""

    def __init__(self, n: int, dim: int, density: float, opts: dict[str, Any]):
        self.n, self.dim, self.density = n, dim, density
        self.k = opts["topics"]
        self.opts = opts
        self.rng = np.random.default_rng(opts["seed"])

    def topics(self) -> np.ndarray:
        return self.rng.dirichlet(np.full(self.k, 0.3), size=self.n)

    def word_distributions(self) -> np.ndarray:
        ranks = np.arange(1, self.dim + 1, dtype=np.float64)
        base = ranks ** -self.opts["zipf"]
        boost = np.exp(1.5 * self.rng.standard_normal((self.k, self.dim)))
        phi = base * boost
        return phi / phi.sum(axis=1, keepdims=True)

    def _draw_counts(self, theta: np.ndarray, phi: np.ndarray, lam: float, rng) -> SparseInputs:
        n = len(theta)
        lengths = np.maximum(rng.poisson(lam, size=n), 1)
        per_topic = rng.multinomial(lengths, theta)  # (n, k) tokens per topic
        keys = []
        for t in range(self.k):
            counts = per_topic[:, t]
            total = int(counts.sum())
            if total == 0:
                continue
            words = rng.choice(self.dim, size=total, p=phi[t])
            keys.append(np.repeat(np.arange(n, dtype=np.int64), counts) * self.dim + words)
        uniq, cnt = np.unique(np.concatenate(keys), return_counts=True)
        rows, cols = np.divmod(uniq, self.dim)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        return SparseInputs(indptr, cols, cnt.astype(np.float32), self.dim)

    def _tokens_for_density(self, theta: np.ndarray, phi: np.ndarray) -> float:
        """Tokens per row giving about density × dim distinct words (bisection on a pilot)."""
        target = self.density * self.dim
        pilot = theta[: min(300, len(theta))]
        lo, hi = target, target * 50
        for _ in range(18):
            mid = (lo * hi) ** 0.5
            x = self._draw_counts(pilot, phi, mid, np.random.default_rng(0))
            if np.diff(x.indptr).mean() < target:
                lo = mid
            else:
                hi = mid
        return (lo * hi) ** 0.5

    def inputs(self, theta: np.ndarray) -> DenseInputs | SparseInputs:
        if self.density >= 1:
            mix = self.rng.standard_normal((self.k, self.dim))
            x = (theta - theta.mean(0)) @ mix * 3 + self.rng.standard_normal((self.n, self.dim))
            return DenseInputs(x.astype(np.float32))
        phi = self.word_distributions()
        lam = self._tokens_for_density(theta, phi)
        return self._draw_counts(theta, phi, lam, self.rng)

    def _factor_maker(self, theta: np.ndarray, inputs: DenseInputs | SparseInputs | None):
        """A function returning a fresh standardised latent factor on each call.

        ``topics``: projections of the topic mixture (easy to learn: a topic shows in many
        words). ``words``: projections of the example's own words on a random lexicon of
        ``lexicon × dim`` words with Gaussian weights (the low-rank latent structure a small
        training set cannot pin down: most lexicon words are rare).
        """
        rng, k = self.rng, self.k
        if self.opts.get("labels", "words") == "topics" or inputs is None:
            centred = theta - theta.mean(0)

            def topic_factor(topics: np.ndarray) -> np.ndarray:
                direction = np.zeros(k)
                direction[topics] = _unit(rng, len(topics))
                return _standardise(centred @ direction)

            return topic_factor
        presence, rows, cols = _presence(inputs)
        df = np.bincount(cols, minlength=self.dim) / self.n  # document frequency
        size = max(1, round(self.opts.get("lexicon", 0.2) * self.dim))
        skip = min(STOPWORDS, self.dim - size)
        pool = np.argsort(-df, kind="stable")[skip : skip + size]
        # idf-like scale: every lexicon word carries the same share of a factor's variance,
        # so the rarer half of the lexicon needs thousands of examples to be learnt
        scale = 1.0 / np.sqrt(np.maximum(df[pool], 1.0 / self.n))

        def word_factor(_topics: np.ndarray) -> np.ndarray:
            weights = np.zeros(self.dim)
            weights[pool] = scale * rng.standard_normal(size)
            return _standardise(np.bincount(rows, presence * weights[cols], minlength=self.n))

        return word_factor

    def labels(
        self, theta: np.ndarray, inputs: DenseInputs | SparseInputs | None = None
    ) -> dict[str, np.ndarray]:
        rng, k, opts = self.rng, self.k, self.opts
        tag_topics, other_topics = np.arange(k // 2), np.arange(k // 2, k)
        factor = self._factor_maker(theta, inputs)
        shared = factor(tag_topics)
        c, noise = opts["coupling"], opts["noise"]
        boost = task_noise(opts.get("task_noise", ""))
        out = {}
        for name, rate in TIGHT.items():
            z = c * shared + np.sqrt(1 - c * c) * factor(tag_topics)
            z = z + boost.get(name, 1.0) * noise * rng.standard_normal(self.n)
            out[name] = (z > np.quantile(z, 1 - rate)).astype(np.float64)
        r = opts.get("loose", LOOSE_CORRELATION)
        for name, (centre, scale) in {"loudness": (-9.0, 3.5), "year": (2001.0, 7.0)}.items():
            z = r * shared + np.sqrt(1 - r * r) * factor(other_topics)
            z = z + boost.get(name, 1.0) * 0.5 * noise * rng.standard_normal(self.n)
            z = _standardise(z)
            out[name] = centre + scale * z
        out["year"] = np.clip(np.round(out["year"]), 1922, 2011)
        scores = np.stack([shared] + [factor(other_topics) for _ in GENRES[1:]], axis=1)
        scores += boost.get("genre", 1.0) * noise * rng.standard_normal(scores.shape)
        out["genre"] = scores.argmax(axis=1).astype(np.float64)
        # drawn last, so that the tasks above do not depend on the number of distractors
        if opts.get("distractors", 0):
            own = factor(other_topics)  # one factor for all: their gradients add up
            for i in range(1, opts["distractors"] + 1):
                z = own + opts["distractor_noise"] * rng.standard_normal(self.n)
                out[f"distractor{i}"] = _standardise(z)
        return out

    def generate(self) -> tuple[DenseInputs | SparseInputs, dict[str, np.ndarray]]:
        theta = self.topics()
        inputs = self.inputs(theta)
        return inputs, self.labels(theta, inputs)


_CACHE: dict[str, tuple[Any, dict[str, np.ndarray]]] = {}
CACHE_SIZE = 2


def _generate(n: int, dim: int, density: float, opts: dict[str, Any]) -> tuple[Any, dict]:
    """Generated inputs and labels, remembered for the last few settings: a sweep worker
    trains many items on the same data (the arrays are never modified in place)."""
    key = repr((n, dim, density, sorted(opts.items())))
    if key not in _CACHE:
        while len(_CACHE) >= CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = Generator(n, dim, density, opts).generate()
    return _CACHE[key]


def _mask(rng: np.random.Generator, n: int, missing: float) -> np.ndarray:
    return rng.random(n) >= missing


class SyntheticDataset(Dataset):
    description = "generated lyrics-like bag-of-words with known task coupling"
    options = (
        Option("n", int, 10_000, "number of examples", min=10, max=10_000_000),
        Option("dim", int, 5_000, "vocabulary size (input dimension)", min=2, max=1_000_000),
        Option(
            "density",
            float,
            0.018,
            "fraction of distinct words per row; >= 1 gives dense inputs",
            min=1e-5,
        ),
        *COMMON_OPTIONS,
        Option(
            "val_fraction",
            float,
            0.15,
            "fraction of examples in the validation split",
            min=0.01,
            max=0.5,
        ),
        Option(
            "test_fraction",
            float,
            0.15,
            "fraction of examples in the test split",
            min=0.01,
            max=0.5,
        ),
    )
    default_tasks = ("pop", "pop_rock", "ballad")

    def offered_tasks(self, options: dict[str, Any]) -> list[TaskSpec]:
        return list(TASKS) + distractor_specs(options.get("distractors", 0))

    def split_sizes(self, options: dict[str, Any]) -> tuple[int, int, int]:
        n = options["n"]
        val, test = round(n * options["val_fraction"]), round(n * options["test_fraction"])
        return n - val - test, val, test

    def load(self, options: dict[str, Any], tasks: list[str]) -> MultiTaskData:
        n_train, n_val, n_test = self.split_sizes(options)
        if n_train < 1:
            raise UserError("synthetic: val_fraction + test_fraction leave no training examples")
        n = n_train + n_val + n_test
        density = options.get("density", 0.018)
        if density < 1 and density * options["dim"] < 1:
            raise UserError(
                f"synthetic: density {density} × dim {options['dim']} is under one word per row; "
                "raise density or dim"
            )
        per_row = options["dim"] if density >= 1 else max(1.0, density * options["dim"])
        check_generated_size(
            "synthetic", n * (per_row + options["topics"]), "n × (dim × density + topics)"
        )
        task_noise(options.get("task_noise", ""))  # a malformed value fails before generating
        inputs, labels = _generate(n, options["dim"], density, options)
        rng = np.random.default_rng(options["seed"] + 1)
        order = rng.permutation(n)
        splits = {
            "train": np.sort(order[:n_train]),
            "val": np.sort(order[n_train : n_train + n_val]),
            "test": np.sort(order[n_train + n_val :]),
        }
        masks = {t: _mask(rng, n, options["missing"]) for t in labels}
        targets = {t: np.where(masks[t], labels[t], np.nan) for t in labels}
        offered = TASKS + distractor_specs(options.get("distractors", 0))
        specs = [t for t in offered if t.name in tasks]
        return MultiTaskData(
            inputs=inputs,
            tasks=specs,
            targets={t.name: targets[t.name] for t in specs},
            masks={t.name: masks[t.name] for t in specs},
            splits=splits,
            ids=np.array([f"SYN{i:07d}" for i in range(n)]),
            provenance={"generator": "mtl.synthetic", "options": dict(options)},
        )


class DummyDataset(SyntheticDataset):
    """The smoke set: 5,000-dim bag-of-words, 750/100/150 examples, 2 regressions + 1 tag."""

    description = "smoke set: 750/100/150 examples, 5,000-dim input, 2 regression + 1 binary task"
    options = (
        Option("seed", int, 0, "generator seed", min=0),
        Option("noise", float, 0.5, "label noise", min=0),
    )
    default_tasks = ("loudness", "year", "pop")

    def split_sizes(self, options: dict[str, Any]) -> tuple[int, int, int]:
        return 750, 100, 150

    def load(self, options: dict[str, Any], tasks: list[str]) -> MultiTaskData:
        full = {
            "n": 1000,
            "dim": 5000,
            "density": 0.018,
            "coupling": 0.95,
            "missing": 0.0,
            "topics": 16,
            "zipf": 1.07,
            "labels": "topics",
            "lexicon": 0.2,
            "loose": LOOSE_CORRELATION,
            "val_fraction": 0.1,
            "test_fraction": 0.15,
            **options,
        }
        return super().load(full, tasks)
