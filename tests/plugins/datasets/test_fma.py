"""The FMA spectrogram lab layout: fma-spectrograms (genre) and fma-multitask (affect)."""

import json

import numpy as np
import pytest
import seqfiles
from typer.testing import CliRunner

from mtl.cli.main import app
from mtl.core.errors import UserError
from mtl.core.options import resolve_options
from mtl.plugins.datasets.fma.arrays import numeric_id
from mtl.plugins.datasets.fma.dataset import FmaMultitask, FmaSpectrograms
from mtl.plugins.datasets.fma.labels import read_affect, read_genres
from mtl.plugins.datasets.fma.mapping import DEFAULT_DROP, DEFAULT_MAP
from mtl.plugins.datasets.fma.splits import carve_stratified

pytestmark = pytest.mark.usefixtures("builtin_plugins_only")


@pytest.fixture(autouse=True)
def no_data_env(monkeypatch):
    """No data location from the environment."""
    monkeypatch.delenv("MTL_DATA", raising=False)


def load(dataset, tasks=None, **given):
    options = resolve_options(dataset.options, given, "test")
    options = dataset.resolve(options)
    names = [t.name for t in dataset.offered_tasks(options)]
    return dataset.load(options, tasks or names)


def expected_class(genre):
    if genre in DEFAULT_DROP:
        return None
    classes = list(dict.fromkeys(DEFAULT_MAP.values()))
    return classes.index(DEFAULT_MAP[genre])


@pytest.fixture(scope="module")
def genre_layout(tmp_path_factory):
    return seqfiles.fma_layout(
        tmp_path_factory.mktemp("fma") / "fma_genre_spectrograms", per_class=3
    )


def test_numeric_id_ignores_prefixes_padding_and_suffixes():
    assert numeric_id("000123.fused.full.npy") == 123
    assert numeric_id("123.full.fused.npy.gz") == 123
    assert numeric_id("fma_0123.beatsync.fused.npy") == 123
    assert numeric_id("notes.txt") is None


@pytest.mark.parametrize(
    "view,rows", [("fused", slice(None)), ("mel", slice(0, 128)), ("chroma", slice(128, 140))]
)
def test_views_are_time_major_frames_padded_with_zeros(genre_layout, view, rows):
    data = load(FmaSpectrograms(), root=str(genre_layout.root), view=view)
    clips = {s: sorted(genre_layout.arrays[s]) for s in ("train", "test")}
    kept = {
        s: [c for c in clips[s] if expected_class(genre_layout.labels[s][c]) is not None]
        for s in clips
    }
    order = kept["train"] + kept["test"]
    assert list(data.ids) == [f"{c:06d}" for c in order]
    longest = max(a.shape[1] for s in clips for a in genre_layout.arrays[s].values())
    assert data.inputs.x.shape == (len(order), longest, len(range(140)[rows]))
    for i, clip in enumerate(order):
        split = "train" if i < len(kept["train"]) else "test"
        array = genre_layout.arrays[split][clip]
        t = array.shape[1]
        assert data.inputs.lengths[i] == t
        np.testing.assert_array_equal(data.inputs.x[i, :t], array[rows].T)
        assert not data.inputs.x[i, t:].any()
        assert data.targets["genre"][i] == expected_class(genre_layout.labels[split][clip])
    assert data.inputs.x.dtype == np.float32
    spec = data.tasks[0]
    assert spec.kind == "multiclass" and spec.classes == tuple(dict.fromkeys(DEFAULT_MAP.values()))
    assert data.masks["genre"].all()
    test = data.splits["test"]
    assert list(test) == list(range(len(kept["train"]), len(order)))
    assert data.provenance["dropped_by_mapping"] == {"train": 3, "test": 2}


def test_splits_are_stratified_seeded_and_deterministic(genre_layout):
    data = load(FmaSpectrograms(), root=str(genre_layout.root), val_fraction=0.34)
    again = load(FmaSpectrograms(), root=str(genre_layout.root), val_fraction=0.34)
    other = load(FmaSpectrograms(), root=str(genre_layout.root), val_fraction=0.34, split_seed=5)
    n_train = len(data.splits["train"]) + len(data.splits["val"])
    assert np.array_equal(data.splits["val"], again.splits["val"])
    assert not np.array_equal(data.splits["val"], other.splits["val"])
    assert sorted([*data.splits["train"], *data.splits["val"]]) == list(range(n_train))
    y = data.targets["genre"]
    # 33 training clips: Rock holds 6 (Rock + Punk), every other class 3; 0.34 of each.
    val_counts = np.bincount(y[data.splits["val"]].astype(int), minlength=10)
    train_counts = np.bincount(y[data.splits["train"]].astype(int), minlength=10)
    assert len(data.splits["val"]) == round(0.34 * n_train)
    assert val_counts[0] == 2 and set(val_counts[1:]) == {1}
    assert train_counts.min() >= 1


def test_carve_stratified_keeps_proportions_and_one_per_class_in_train():
    labels = np.repeat([0, 1, 2], [50, 30, 1])
    val = carve_stratified(labels, 0.2, seed=3)
    assert val.sum() == round(0.2 * len(labels))
    assert np.bincount(labels[val], minlength=3).tolist() == [10, 6, 0]
    assert np.array_equal(val, carve_stratified(labels, 0.2, seed=3))
    assert not carve_stratified(labels, 0.0, seed=3).any()


def test_gz_arrays_beat_sibling_and_crop(tmp_path):
    layout = seqfiles.fma_layout(
        tmp_path / "fma_genre_spectrograms_beat",
        per_class=2,
        test_per_class=1,
        gz=True,
        beat=True,
        frames=(6, 10),
    )
    (tmp_path / "fma_genre_spectrograms").mkdir()
    (layout.root / "train" / "._000007.beatsync.fused.npy.gz").write_bytes(b"resource fork")
    with open(layout.root / "train_labels.txt", "a") as f:
        f.write("9999.fused.full.npy\tRock\n")  # a label row without an array is ignored
    base = str(tmp_path / "fma_genre_spectrograms")
    full = load(FmaSpectrograms(), root=base, beat=True, view="chroma", val_fraction=0)
    first = sorted(layout.arrays["train"])[0]
    np.testing.assert_array_equal(
        full.inputs.x[0, : full.inputs.lengths[0]], layout.arrays["train"][first][128:].T
    )
    assert full.provenance["beat_synchronised"] is True
    assert full.provenance["labels_without_arrays"] == {"train": 1, "test": 0}
    assert "9999" not in full.ids
    assert full.provenance["root"].endswith("_beat")
    for crop in ("start", "centre"):
        cropped = load(
            FmaSpectrograms(),
            root=base,
            beat=True,
            view="mel",
            max_frames=4,
            crop=crop,
            val_fraction=0,
        )
        assert cropped.inputs.x.shape[1] == 4 and set(cropped.inputs.lengths) == {4}
        array = layout.arrays["train"][first]
        start = 0 if crop == "start" else (array.shape[1] - 4) // 2
        np.testing.assert_array_equal(cropped.inputs.x[0], array[:128, start : start + 4].T)


def test_mapping_file_and_no_mapping(genre_layout, tmp_path):
    path = seqfiles.write_mapping(
        tmp_path / "map.toml",
        {
            "Rock": "guitar",
            "Punk": "guitar",
            "Folk": "guitar",
            "Electronic": "beats",
            "Hip-Hop": "beats",
        },
        drop=[
            g for g in seqfiles.GENRES if g not in ("Rock", "Punk", "Folk", "Electronic", "Hip-Hop")
        ],
        classes=["beats", "guitar"],
    )
    data = load(FmaSpectrograms(), root=str(genre_layout.root), mapping=str(path), val_fraction=0)
    assert data.tasks[0].classes == ("beats", "guitar")
    labels = {**genre_layout.labels["train"], **genre_layout.labels["test"]}
    raw = [labels[int(i)] for i in data.ids]
    assert [int(v) for v in data.targets["genre"]] == [
        0 if g in ("Electronic", "Hip-Hop") else 1 for g in raw
    ]
    assert len(data.ids) == 5 * (3 + 2)

    data = load(FmaSpectrograms(), root=str(genre_layout.root), mapping="none", val_fraction=0)
    assert data.tasks[0].classes == tuple(sorted(seqfiles.GENRES, key=str.casefold))
    assert len(data.ids) == len(seqfiles.GENRES) * 5


def test_multitask_values_and_predict_only_test(tmp_path):
    layout = seqfiles.fma_layout(
        tmp_path / "multitask_dataset", kind="multitask", per_class=1, test_labels=False
    )
    lines = (layout.root / "train_labels.txt").read_text().splitlines()
    lines[1] = lines[1].split(",")[0] + ",,0.5,0.25"  # valence missing for the first clip
    (layout.root / "train_labels.txt").write_text("\n".join(lines) + "\n")
    data = load(FmaMultitask(), root=str(layout.root), view="fused", val_fraction=0.25)
    assert [t.name for t in data.tasks] == ["valence", "energy", "danceability"]
    assert all(t.kind == "regression" for t in data.tasks)
    n_train = len(layout.arrays["train"])
    first = sorted(layout.arrays["train"])[0]
    layout.labels["train"][first] = (np.nan, 0.5, 0.25)
    for i, clip in enumerate(sorted(layout.arrays["train"])):
        for j, task in enumerate(("valence", "energy", "danceability")):
            expected = layout.labels["train"][clip][j]
            assert data.masks[task][i] == (not np.isnan(expected))
            if data.masks[task][i]:
                assert data.targets[task][i] == expected
    test = data.splits["test"]
    assert len(test) == len(layout.arrays["test"]) and not any(
        data.masks[t][test].any() for t in ("valence", "energy")
    )
    assert len(data.splits["val"]) == round(0.25 * n_train)
    assert data.provenance["test_labels"] is False


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_error_line(result, run_dir, message):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert message in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert not run_dir.exists()


def _drop_label_row(layout, split, clip):
    path = layout.root / f"{split}_labels.txt"
    rows = [r for r in path.read_text().splitlines() if not r.startswith(f"{clip}.")]
    path.write_text("\n".join(rows) + "\n")


def _break(case, layout, tmp_path):
    """Damage the layout; return the extra options and the expected message."""
    root = layout.root
    first = sorted(layout.files["train"])[0]
    if case == "root":
        return ["-o", f"root={tmp_path / 'nowhere'}"], "does not exist"
    if case == "label file":
        (root / "test_labels.txt").unlink()
        return [], f"missing label file {root / 'test_labels.txt'}"
    if case == "unlabelled array":
        _drop_label_row(layout, "train", first)
        return [], f"{layout.files['train'][first]} (clip {first}) has no row in"
    if case == "rows":
        seqfiles.write_array(layout.files["train"][first], np.zeros((139, 5), np.float32))
        return [], f"{layout.files['train'][first]} has shape (139, 5); expected (140, frames)"
    if case == "not npy":
        layout.files["train"][first].write_bytes(b"not an array")
        return [], f"{layout.files['train'][first]} is not a readable .npy array"
    if case == "nan":
        array = layout.arrays["train"][first].copy()
        array[3, 1] = np.nan
        seqfiles.write_array(layout.files["train"][first], array)
        return [], f"{layout.files['train'][first]} holds NaN or infinite values (frame 1)"
    if case == "unknown genre":
        path = root / "test_labels.txt"
        path.write_text(path.read_text().replace("\tJazz", "\tPolka", 1))
        return [], "genre 'Polka' is not in the genre mapping"
    if case == "empty class":
        for split in ("train",):
            for clip, genre in layout.labels[split].items():
                if genre == "Classical":
                    layout.files[split][clip].unlink()
        return [], "class 'Classical' has no training clip after the genre mapping"
    if case == "no view files":
        for path in (root / "train").iterdir():
            path.rename(path.with_name(path.name.replace("fused.full", "chroma")))
        return ["-o", "view=mel"], f"no array files for view 'mel' in {root / 'train'}"
    if case == "no arrays":
        for path in (root / "train").iterdir():
            path.unlink()
        return [], f"no .npy or .npy.gz array files in {root / 'train'}"
    if case == "duplicate":
        path = layout.files["train"][first]
        seqfiles.write_array(
            path.with_name(f"{first}.fused.full.npy.gz"), layout.arrays["train"][first]
        )
        return [], f"two array files for clip {first}"
    if case == "mapping key":
        bad = tmp_path / "bad.toml"
        bad.write_text('[mapping]\nRock = "Rock"\n')
        return ["-o", f"mapping={bad}"], "unknown key 'mapping'"
    if case == "mapping file":
        return ["-o", f"mapping={tmp_path / 'none.toml'}"], "does not exist"
    raise AssertionError(case)


CASES = [
    "root",
    "label file",
    "unlabelled array",
    "rows",
    "not npy",
    "nan",
    "unknown genre",
    "empty class",
    "no view files",
    "no arrays",
    "duplicate",
    "mapping key",
    "mapping file",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_genre_layouts_are_one_error_line_exit_2(tmp_path, case):
    layout = seqfiles.fma_layout(tmp_path / "fma", per_class=1, test_per_class=1, frames=(2, 4))
    extra, message = _break(case, layout, tmp_path)
    run_dir = tmp_path / "run"
    own_root = any(str(a).startswith("root=") for a in extra)  # a key may be given once
    result = invoke(
        "train",
        "--dataset",
        "fma-spectrograms",
        *([] if own_root else ["-o", f"root={layout.root}"]),
        *extra,
        "--epochs",
        "1",
        "--run-dir",
        run_dir,
    )
    one_error_line(result, run_dir, message)


@pytest.mark.parametrize(
    "row,message",
    [
        ("{clip},high,0.1,0.2", ":2: valence 'high' is not a number"),
        ("{clip},0.1", ":2: expected 4 comma-separated columns"),
        ("track,0.1,0.2,0.3", ":2: 'track' has no numeric clip id"),
    ],
)
def test_bad_multitask_labels_are_one_error_line_exit_2(tmp_path, row, message):
    layout = seqfiles.fma_layout(
        tmp_path / "mt", kind="multitask", per_class=1, test_per_class=1, frames=(2, 3)
    )
    path = layout.root / "train_labels.txt"
    lines = path.read_text().splitlines()
    lines[1] = row.format(clip=lines[1].split(",")[0])
    path.write_text("\n".join(lines) + "\n")
    run_dir = tmp_path / "run"
    result = invoke(
        "train", "--dataset", "fma-multitask", "-o", f"root={layout.root}", "--run-dir", run_dir
    )
    one_error_line(result, run_dir, f"{path}{message}")


def test_missing_root_option_names_the_fix(tmp_path):
    with pytest.raises(UserError, match="pass -o root=DIR"):
        FmaSpectrograms().resolve(resolve_options(FmaSpectrograms.options, {}, "test"))


TINY_NET = ["--widths", "8,8,8,8", "--epochs", "2", "--batch-size", "16", "--seed", "1"]


@pytest.mark.parametrize(
    "dataset,kind,encoder,extra",
    [
        ("fma-spectrograms", "genre", "lstm", ["-o", "view=fused"]),
        ("fma-multitask", "multitask", "cnn2d", ["-o", "view=chroma"]),
    ],
)
def test_train_then_evaluate_end_to_end(tmp_path, monkeypatch, dataset, kind, encoder, extra):
    seqfiles.fma_layout(
        tmp_path / "data", kind=kind, per_class=2, test_per_class=1, frames=(3, 6), gz=True
    )
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "run"
    result = invoke(
        "train", "--dataset", dataset, "-o", "root=data", *extra,
        "--encoder", encoder, *TINY_NET, "--run-dir", run_dir,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    config = json.loads((run_dir / "config.json").read_text())
    assert config["dataset_options"]["root"] == str((tmp_path / "data").resolve())
    results = json.loads((run_dir / "results.json").read_text())
    evaluated = invoke("evaluate", run_dir, "--split", "test", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    scores = json.loads(evaluated.output)
    task = "genre" if kind == "genre" else "energy"
    numbers = {k: v for k, v in results["test"][task].items() if isinstance(v, (int, float))}
    assert numbers and {k: scores["test"][task][k] for k in numbers} == pytest.approx(
        numbers, nan_ok=True
    )
    # 12 genres, 1 test clip each, Soundtrack dropped by the mapping; affect: all 12 labelled
    assert results["test"][task]["n"] == (11 if kind == "genre" else 12)


def test_label_files_with_and_without_header_and_reordered_columns(tmp_path):
    genres = tmp_path / "genres.txt"
    genres.write_text("12.fused.full.npy\tEasy Listening\n0007.npy.gz\tRock\n\n")
    assert read_genres(genres) == {12: "Easy Listening", 7: "Rock"}
    genres.write_text("file genre\n12.fused.full.npy Easy Listening\n")
    assert read_genres(genres) == {12: "Easy Listening"}
    affect = tmp_path / "affect.csv"
    affect.write_text("energy,track,danceability,valence\n0.1,000012.npy,0.2,0.3\n")
    assert read_affect(affect) == {12: (0.3, 0.1, 0.2)}
    affect.write_text("12,0.3,nan,0.2\n")
    value = read_affect(affect)[12]
    assert value[0] == 0.3 and np.isnan(value[1]) and value[2] == 0.2
