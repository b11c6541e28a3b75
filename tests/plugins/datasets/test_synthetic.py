"""The synthetic generator: the coupling it is built with is in its labels."""

import numpy as np
import pytest

from mtl.core.correlation import label_correlations
from mtl.core.options import resolve_options
from mtl.plugins.datasets.synthetic import DummyDataset, SyntheticDataset

TASKS = ["pop", "pop_rock", "ballad", "loudness", "year", "genre"]


def load(**given):
    ds = SyntheticDataset()
    options = resolve_options(ds.options, given, "dataset 'synthetic'")
    return ds.load(options, TASKS)


def dense(data):
    x = np.zeros((data.inputs.n, data.inputs.dim))
    rows = np.repeat(np.arange(data.inputs.n), np.diff(data.inputs.indptr))
    x[rows, data.inputs.indices] = data.inputs.data
    return x


def test_tight_tags_share_a_factor_and_the_loose_tasks_barely_do():
    data = load(n=4000, dim=800, density=0.05, noise=0.5)
    names = ["pop", "pop_rock", "ballad", "loudness", "year"]
    r = label_correlations({t: (data.targets[t], data.masks[t]) for t in names})
    tight, loose = min(r[0, 1], r[0, 2], r[1, 2]), max(abs(r[0, 3]), abs(r[0, 4]))
    assert tight > 0.3 and loose < 0.3 and loose < tight / 1.5  # the latent 0.25 is diluted
    positive = {t: np.nanmean(data.targets[t]) for t in ("pop", "pop_rock", "ballad")}
    assert positive == pytest.approx({"pop": 0.35, "pop_rock": 0.22, "ballad": 0.15}, abs=0.01)


def test_word_labels_are_learnable_from_the_words_with_enough_examples():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    data = load(n=6000, dim=600, density=0.05, noise=0.25)
    x = (dense(data) > 0).astype(float)
    y = data.targets["pop"]
    train, test = data.splits["train"], data.splits["test"]
    auc = {}
    for size in (150, len(train)):
        model = LogisticRegression(C=0.1, max_iter=2000).fit(x[train[:size]], y[train[:size]])
        auc[size] = roc_auc_score(y[test], model.predict_proba(x[test])[:, 1])
    assert auc[len(train)] > 0.75
    assert auc[len(train)] - auc[150] > 0.1  # a small training set cannot learn it alone


def test_topic_labels_and_missing_labels():
    data = load(n=500, dim=300, density=0.05, labels="topics", missing=0.5)
    for t in TASKS:
        labelled = data.masks[t]
        assert 0.4 < labelled.mean() < 0.6
        assert np.isnan(data.targets[t][~labelled]).all()
        assert not np.isnan(data.targets[t][labelled]).any()


def test_generation_is_deterministic_and_cached():
    a, b = load(n=400, dim=300, density=0.05, seed=3), load(n=400, dim=300, density=0.05, seed=3)
    assert a.fingerprint() == b.fingerprint() and a.inputs is b.inputs  # generated once
    assert load(n=400, dim=300, density=0.05, seed=4).fingerprint() != a.fingerprint()


def test_dummy_keeps_its_topic_labels():
    ds = DummyDataset()
    data = ds.load(resolve_options(ds.options, {}, "dataset 'dummy'"), ["loudness", "year", "pop"])
    assert data.provenance["options"]["labels"] == "topics"
    assert [len(data.splits[s]) for s in ("train", "val", "test")] == [750, 100, 150]
