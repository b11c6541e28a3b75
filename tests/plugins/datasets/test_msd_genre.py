"""MSD-10 / MSD-25 genre sequences: both file-name schemes, flat and 3-D inputs, var-length."""

import json

import numpy as np
import pytest
import seqfiles
from typer.testing import CliRunner

from mtl.cli.main import app
from mtl.core.options import resolve_options
from mtl.plugins.datasets.msd_genre.dataset import MsdGenre
from mtl.plugins.datasets.msd_genre.files import MSD10_CLASSES

pytestmark = pytest.mark.usefixtures("builtin_plugins_only")


@pytest.fixture(autouse=True)
def no_data_env(monkeypatch):
    """No data location from the environment."""
    for name in ("MTL_DATA", "MTL_MSD_GENRE"):
        monkeypatch.delenv(name, raising=False)


def load(**given):
    dataset = MsdGenre()
    options = dataset.resolve(resolve_options(dataset.options, given, "test"))
    return dataset.load(options, ["genre"])


def check_values(data, written, order=("train", "valid", "test")):
    """Loaded sequences equal the written ones; NaN padding became zeros and lengths."""
    row = 0
    for split in order:
        x, y = written[split]
        for i in range(len(x)):
            real = ~np.isnan(x[i]).all(axis=1)
            t = int(real.sum())
            assert data.inputs.lengths[row] == t
            np.testing.assert_array_equal(data.inputs.x[row, :t], x[i, :t])
            assert not data.inputs.x[row, t:].any()
            if data.masks["genre"][row]:  # test targets may be absent
                assert data.targets["genre"][row] == y[i]
            assert data.ids[row] == f"{split}-{i:06d}"
            row += 1
    assert row == data.n


@pytest.mark.parametrize(
    "scheme,flat", [("long", False), ("long", True), ("short", True), ("short", False)]
)
def test_fixed_files_in_both_schemes(tmp_path, scheme, flat):
    written = seqfiles.msd_genre_files(tmp_path, scheme=scheme, flat=flat, length=5)
    data = load(root=str(tmp_path))
    assert data.inputs.x.shape == (50, 5, 25) and data.inputs.x.dtype == np.float32
    check_values(data, written)
    assert [len(data.splits[s]) for s in ("train", "val", "test")] == [30, 10, 10]
    assert list(data.splits["val"]) == list(range(30, 40))
    assert data.tasks[0].classes == tuple(f"class {i}" for i in range(10))
    assert data.masks["genre"].all()


def test_default_names_msd25_beside_msd10_and_predict_only_test(tmp_path):
    seqfiles.msd_genre_files(tmp_path, k=10, label_map=False)
    written = seqfiles.msd_genre_files(
        tmp_path, k=25, sizes=(50, 0, 25), test_targets=False, seed=1
    )
    ten = load(root=str(tmp_path))
    assert ten.tasks[0].classes == MSD10_CLASSES
    data = load(root=str(tmp_path), classes="25")
    assert len(data.tasks[0].classes) == 25
    check_values(
        data, {"train": written["train"], "test": written["test"]}, order=("train", "test")
    )
    test = data.splits["test"]
    assert len(test) == 25 and not data.masks["genre"][test].any()
    assert data.masks["genre"][data.splits["train"]].all()
    # no valid file: 0.1 of train carved out, stratified (two tracks of each of 25 styles)
    assert len(data.splits["val"]) == 5
    assert len(set(data.targets["genre"][data.splits["val"]])) == 5
    assert data.provenance["test_labels"] is False


def test_var_length_buckets_placed_by_indices_with_lengths(tmp_path):
    written = seqfiles.msd_genre_files(tmp_path, var_length=(4, 9), flat=True, sizes=(20, 10, 10))
    data = load(root=str(tmp_path), variant="var-length")
    assert data.inputs.x.shape[1] == max(
        int((~np.isnan(x).all(axis=2)).sum(axis=1).max()) for x, _ in written.values()
    )
    check_values(data, written)
    assert data.inputs.lengths.min() >= 1 and len(set(data.inputs.lengths)) > 3


@pytest.mark.parametrize("crop", ["start", "centre"])
def test_max_len_crops(tmp_path, crop):
    written = seqfiles.msd_genre_files(tmp_path, var_length=(4, 9))
    data = load(root=str(tmp_path), variant="var-length", max_len=3, crop=crop)
    assert data.inputs.x.shape[1] == 3
    x, _ = written["train"]
    for i in range(len(x)):
        t = int((~np.isnan(x[i]).all(axis=1)).sum())
        kept = min(t, 3)
        start = 0 if crop == "start" else (t - kept) // 2
        assert data.inputs.lengths[i] == kept
        np.testing.assert_array_equal(data.inputs.x[i, :kept], x[i, start : start + kept])


def test_val_fraction_recarves_train_and_valid_stratified(tmp_path):
    seqfiles.msd_genre_files(tmp_path, sizes=(40, 20, 10))
    a = load(root=str(tmp_path), val_fraction=0.25, split_seed=1)
    b = load(root=str(tmp_path), val_fraction=0.25, split_seed=1)
    c = load(root=str(tmp_path), val_fraction=0.25, split_seed=2)
    assert np.array_equal(a.splits["val"], b.splits["val"])
    assert not np.array_equal(a.splits["val"], c.splits["val"])
    assert len(a.splits["val"]) == 15 and sorted([*a.splits["train"], *a.splits["val"]]) == list(
        range(60)
    )
    counts = np.bincount(a.targets["genre"][a.splits["val"]].astype(int), minlength=10)
    assert counts.max() - counts.min() <= 1


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _rewrite(path, **changes):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del arrays[key]
    np.savez(path, **arrays)


def _break(case, root, tmp_path):
    train = root / "msd-10-genre-train.npz"
    with np.load(train) as f:
        x, y = f["inputs"].copy(), f["targets"].copy()
    if case == "root":
        return ["-o", f"root={tmp_path / 'nowhere'}"], "does not exist"
    if case == "no files":
        return ["-o", "classes=25"], f"no MSD-25 training file in {root}"
    if case == "var-length absent":
        return ["-o", "variant=var-length"], "msd-10-genre-train-var-length.npz"
    if case == "shape":
        _rewrite(train, inputs=x.reshape(len(x), -1)[:, :-1])
        return [], f"{train}: 'inputs' has shape (30, 124); expected N×3000 or N×120×25"
    if case == "nan inside":
        x[2, 1] = np.nan
        _rewrite(train, inputs=x)
        return [], f"{train}: 'inputs' has NaN outside the padding (track 2, segment 1)"
    if case == "nan partial":
        x[4, -1, 3] = np.nan
        _rewrite(train, inputs=x)
        return [], "(track 4, segment 4)"
    if case == "target range":
        y[0] = 10
        _rewrite(train, targets=y)
        return [], f"{train}: 'targets' holds class id 10, outside 0..9"
    if case == "empty class":
        _rewrite(train, targets=np.where(y == 9, 0, y))
        return [], "class 9 ('class 9') has no training track"
    if case == "label map":
        _rewrite(train, label_map=np.array(["a", "b"]))
        return [], "label_map names 2 classes; MSD-10 has 10"
    if case == "label maps differ":
        _rewrite(root / "msd-10-genre-valid.npz", label_map=np.array([f"x{i}" for i in range(10)]))
        return [], "msd-10-genre-valid.npz: label_map differs from the other files'"
    if case == "no targets":
        _rewrite(train, targets=None)
        return [], "has no 'targets'"
    if case == "pickled label map":
        _rewrite(train, label_map=np.array({f"c{i}": i for i in range(10)}, dtype=object))
        return [], "'label_map' is stored as pickled Python objects, which mtl never unpickles"
    if case == "not npz":
        train.write_bytes(b"junk")
        return [], f"{train} is not a readable .npz file"
    if case == "two schemes":
        np.savez(root / "msd10-train.npz", inputs=x, targets=y)
        return [], "keep one naming scheme"
    raise AssertionError(case)


CASES = [
    "root",
    "no files",
    "var-length absent",
    "shape",
    "nan inside",
    "nan partial",
    "target range",
    "empty class",
    "label map",
    "label maps differ",
    "no targets",
    "pickled label map",
    "not npz",
    "two schemes",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_files_are_one_error_line_exit_2(tmp_path, case):
    root = tmp_path / "msd"
    seqfiles.msd_genre_files(root, length=5)
    extra, message = _break(case, root, tmp_path)
    run_dir = tmp_path / "run"
    own_root = any(str(a).startswith("root=") for a in extra)  # a key may be given once
    result = invoke(
        "train",
        "--dataset",
        "msd-genre",
        *([] if own_root else ["-o", f"root={root}"]),
        *extra,
        "--epochs",
        "1",
        "--run-dir",
        run_dir,
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert message in lines[0], lines[0]
    assert not run_dir.exists()


def test_bad_var_length_indices(tmp_path):
    seqfiles.msd_genre_files(tmp_path, var_length=(4, 9))
    path = tmp_path / "msd-10-genre-valid-var-length.npz"
    with np.load(path) as f:
        indices = f["indices_4"].copy()
    indices[0] = indices[1]
    _rewrite(path, indices_4=indices)
    result = invoke(
        "train", "--dataset", "msd-genre", "-o", f"root={tmp_path}", "-o", "variant=var-length"
    )
    assert result.exit_code == 2 and "must together hold each of 0..9 once" in result.output


@pytest.mark.parametrize("variant", ["fixed", "var-length"])
def test_train_then_evaluate_end_to_end(tmp_path, variant):
    seqfiles.msd_genre_files(
        tmp_path / "msd",
        sizes=(20, 10, 10),
        var_length=(4, 7) if variant == "var-length" else None,
        flat=True,
    )
    run_dir = tmp_path / "run"
    result = invoke(
        "train", "--dataset", "msd-genre", "-o", f"root={tmp_path / 'msd'}", "-o", f"variant={variant}",
        "--encoder", "lstm", "--widths", "8,8,8,8", "--epochs", "2", "--batch-size", "8",
        "--run-dir", run_dir,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    results = json.loads((run_dir / "results.json").read_text())
    assert results["test"]["genre"]["n"] == 10 and results["val"]["genre"]["n"] == 10
    evaluated = invoke("evaluate", run_dir, "--split", "test", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    scores = json.loads(evaluated.output)["test"]["genre"]
    for metric in ("accuracy", "macro_f1", "weighted_f1", "n"):
        assert scores[metric] == pytest.approx(results["test"]["genre"][metric])


def test_any_split_may_come_as_inputs_and_targets_files(tmp_path):
    written = seqfiles.msd_genre_files(tmp_path, length=4)
    train = tmp_path / "msd-10-genre-train.npz"
    with np.load(train) as f:
        np.savez(tmp_path / "msd-10-genre-train-inputs.npz", inputs=f["inputs"])
        np.savez(tmp_path / "msd-10-genre-train-targets.npz", targets=f["targets"])
    train.unlink()
    check_values(load(root=str(tmp_path)), written)
