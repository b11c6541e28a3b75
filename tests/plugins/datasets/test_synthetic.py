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


# fingerprints of the generator before the planted-imbalance options existed: with their
# defaults the data must stay bit for bit the same
BEFORE = {
    "252bade20388359ef7bfd6d377550f2d9310b94de29dbb000520d04d012fb810": dict(
        n=400, dim=300, density=0.05
    ),
    "3ef60263632028105a43f932dad12250fc46f7633826d25494e2281eca354e2b": dict(
        n=300, dim=200, density=0.05, labels="topics", missing=0.3, seed=2
    ),
    "3080d1986f09c085a02c3add34c80de9e1370278a657c4c8573afd504b68ad77": dict(
        n=200, dim=20, density=1.0
    ),
}


@pytest.mark.parametrize("fingerprint", list(BEFORE))
def test_default_options_leave_the_data_unchanged(fingerprint):
    assert load(**BEFORE[fingerprint]).fingerprint() == fingerprint


def test_distractors_are_extra_aligned_tasks_that_change_nothing_else():
    ds = SyntheticDataset()
    options = resolve_options(ds.options, dict(n=2000, dim=300, density=0.05, distractors=2), "d")
    names = [t.name for t in ds.offered_tasks(options)]
    assert names == TASKS + ["distractor1", "distractor2"]
    data = ds.load(options, names)
    plain = load(n=2000, dim=300, density=0.05)
    for t in TASKS:  # the other tasks, masks and splits are those without distractors
        np.testing.assert_array_equal(data.targets[t], plain.targets[t])
    for s in ("train", "val", "test"):
        np.testing.assert_array_equal(data.splits[s], plain.splits[s])
    r = label_correlations({t: (data.targets[t], data.masks[t]) for t in names if t != "genre"})
    assert np.abs(r[-2:, :-2]).max() < 0.2  # unrelated to the founding tasks (shared words only)
    assert r[-1, -2] > 0.6  # noisy copies of one factor: 1 / (1 + 0.5²) = 0.8
    assert abs(np.nanmean(data.targets["distractor1"])) < 1e-9  # standardised


def test_task_noise_slows_one_task_down():
    names = ["pop", "pop_rock", "ballad", "loudness", "year"]
    r = {}
    for noise in ("", "pop_rock=4"):
        data = load(n=3000, dim=300, density=0.05, noise=0.5, task_noise=noise)
        r[noise] = label_correlations({t: (data.targets[t], data.masks[t]) for t in names})
    assert r["pop_rock=4"][0, 1] < r[""][0, 1] - 0.15  # pop_rock carries much less signal
    np.testing.assert_allclose(r["pop_rock=4"][0, 2], r[""][0, 2])  # pop–ballad untouched


@pytest.mark.parametrize(
    "value, message",
    [("pop_rock", "malformed task_noise"), ("pop=-1", "malformed"), ("rock=2", "unknown task")],
)
def test_task_noise_errors(value, message):
    from mtl.core.errors import UserError

    with pytest.raises(UserError, match=message):
        load(n=100, dim=50, density=0.1, task_noise=value)
