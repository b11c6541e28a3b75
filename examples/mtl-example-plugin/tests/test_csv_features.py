"""The csv-features dataset through mtl's public API: registration, options, data, errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
from mtl.core.errors import UserError
from mtl.core.options import resolve_options
from mtl.core.plugins import load_plugins

import mtl_example_plugin

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "songs.csv"
HEADER = "id,f_a,f_b,valence,genre,split\n"
GOOD = (
    HEADER + "s1,0.5,1,0.2,rock,train\n"
    "s2,1.5,-2,,jazz,train\n"
    "s3,2.5,3e-1,0.9,,val\n"
    "s4,-1,4,0.1,rock,test\n"
    "s5,0,5,0.4,folk,train\n"
)
TARGETS = "valence:regression,genre:multiclass"


@pytest.fixture(scope="module")
def plugins():
    # MTL_PLUGINS="" keeps an installed copy of this package out; we pass the module itself.
    loaded = load_plugins(env={"MTL_PLUGINS": ""}, extra=[("example", mtl_example_plugin)])
    assert loaded.failures == []
    return loaded


@pytest.fixture
def dataset(plugins):
    return plugins.registries.datasets.get("csv-features")


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def options(dataset, **given):
    given = {"targets": TARGETS, **given}
    return resolve_options(dataset.options, given, "dataset 'csv-features'")


def load(dataset, path: Path, tasks=("valence", "genre"), **given):
    return dataset.load(options(dataset, path=str(path), **given), list(tasks))


def test_registered_by_the_example_plugin(plugins):
    reg = plugins.registries
    assert reg.datasets.owner("csv-features") == "example"
    assert reg.reporters.owner("long-csv") == "example"
    info = next(p for p in plugins.loaded if p.name == "example")
    assert info.hooks == ["mtl_register_datasets", "mtl_register_reporters"]
    assert info.registered == {"dataset": ["csv-features"], "reporter": ["long-csv"]}


def test_entry_point_is_declared_in_pyproject():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["entry-points"]["mtl"] == {"example": "mtl_example_plugin"}
    assert "mtl" in meta["project"]["dependencies"]


def test_offered_tasks_carry_kinds_and_sorted_classes(dataset, tmp_path):
    path = write(tmp_path, GOOD)
    specs = dataset.offered_tasks(options(dataset, path=str(path)))
    assert [(s.name, s.kind) for s in specs] == [("valence", "regression"), ("genre", "multiclass")]
    assert specs[0].classes is None
    assert specs[1].classes == ("folk", "jazz", "rock")


def test_numeric_class_names_sort_as_numbers(dataset, tmp_path):
    path = write(tmp_path, "id,f_a,mood\na,1,10\nb,2,2\nc,3,1\nd,4,2\n")
    opts = options(dataset, path=str(path), targets="mood:multiclass")
    assert dataset.offered_tasks(opts)[0].classes == ("1", "2", "10")
    data = dataset.load(opts, ["mood"])
    assert data.targets["mood"].tolist() == [2.0, 1.0, 0.0, 1.0]


def test_inputs_targets_masks_ids_and_split_column(dataset, tmp_path):
    data = load(dataset, write(tmp_path, GOOD))
    assert data.inputs.kind == "dense"
    assert data.inputs.x.shape == (5, 2) and data.inputs.x.dtype == np.float32
    np.testing.assert_allclose(data.inputs.x[:, 1], [1, -2, 0.3, 4, 5], rtol=1e-6)
    assert data.ids.tolist() == ["s1", "s2", "s3", "s4", "s5"]
    assert data.task_names == ["valence", "genre"]
    assert data.masks["valence"].tolist() == [True, False, True, True, True]
    assert data.masks["genre"].tolist() == [True, True, False, True, True]
    np.testing.assert_allclose(data.targets["valence"][data.masks["valence"]], [0.2, 0.9, 0.1, 0.4])
    assert data.targets["genre"][data.masks["genre"]].tolist() == [2.0, 1.0, 2.0, 0.0]
    assert {k: v.tolist() for k, v in data.splits.items()} == {
        "train": [0, 1, 4],
        "val": [2],
        "test": [3],
    }
    assert data.provenance["split"] == "column 'split'"
    assert data.provenance["features"] == ["f_a", "f_b"]
    assert len(data.provenance["sha256"]) == 64


def test_only_requested_tasks_are_loaded(dataset, tmp_path):
    data = load(dataset, write(tmp_path, GOOD), tasks=("genre",))
    assert data.task_names == ["genre"] and set(data.targets) == {"genre"}


def test_random_split_is_seeded_disjoint_and_complete(dataset, tmp_path):
    rows = "".join(f"r{i},{i},{i % 3}\n" for i in range(100))
    path = write(tmp_path, "id,f_x,y\n" + rows)
    kw = dict(targets="y:regression", val_fraction=0.2, test_fraction=0.1)
    a = load(dataset, path, tasks=("y",), **kw)
    b = load(dataset, path, tasks=("y",), **kw)
    c = load(dataset, path, tasks=("y",), seed=1, **kw)
    sizes = {k: len(v) for k, v in a.splits.items()}
    assert sizes == {"train": 70, "val": 20, "test": 10}
    everything = np.concatenate([a.splits[s] for s in ("train", "val", "test")])
    assert sorted(everything.tolist()) == list(range(100))
    assert all(np.array_equal(a.splits[s], b.splits[s]) for s in a.splits)
    assert not np.array_equal(a.splits["val"], c.splits["val"])
    assert a.provenance["split"] == "random, seed 0"


def test_other_columns_are_ignored_and_prefix_is_an_option(dataset, tmp_path):
    path = write(tmp_path, "key,title,x1,x2,y\na,Song A,1,2,0\nb,Song B,3,4,1\nc,C,5,6,1\n")
    data = load(
        dataset,
        path,
        tasks=("y",),
        targets="y:binary",
        features="x",
        id_column="key",
        val_fraction=0.34,
        test_fraction=0,
    )
    assert data.inputs.x.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert data.ids.tolist() == ["a", "b", "c"]


def test_the_shipped_sample_loads(dataset):
    data = load(
        dataset,
        SAMPLE,
        tasks=("valence", "energy", "genre", "instrumental"),
        targets="valence:regression,energy:regression,genre:multiclass,instrumental:binary",
    )
    assert data.inputs.x.shape == (300, 8)
    assert data.task("genre").classes == ("electronic", "folk", "jazz", "rock")
    assert 0 < (~data.masks["valence"]).sum() < 60
    assert set(np.unique(data.targets["instrumental"])) == {0.0, 1.0}


def test_file_is_reread_when_it_changes(dataset, tmp_path):
    path = write(tmp_path, GOOD)
    assert load(dataset, path).n == 5
    path.write_text(GOOD + "s6,1,1,0.5,jazz,train\n")
    assert load(dataset, path).n == 6


# --- option validation --------------------------------------------------------------


def test_unknown_option_suggests_the_right_one(dataset):
    with pytest.raises(UserError, match=r"unknown option 'pth'.*did you mean 'path'"):
        resolve_options(dataset.options, {"pth": "x.csv"}, "dataset 'csv-features'")


def test_fraction_bounds_are_checked(dataset):
    with pytest.raises(UserError, match="val_fraction.*at most 0.5"):
        options(dataset, path="x.csv", val_fraction="0.9")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"targets": None}, r"needs -o path=FILE\.csv"),
        ({"path": "x.csv", "targets": None}, r"needs -o targets=NAME:KIND"),
        ({"path": "x.csv", "targets": "valence"}, r"malformed item 'valence'; write NAME:KIND"),
        ({"path": "x.csv", "targets": "a:regression,a:binary"}, r"names column 'a' twice"),
    ],
)
def test_missing_or_malformed_options(dataset, tmp_path, given, message):
    if given.get("path"):
        given["path"] = str(write(tmp_path, GOOD, "x.csv"))
    with pytest.raises(UserError, match=message):
        dataset.offered_tasks(options(dataset, **given))


# --- file errors name the file, line and column ------------------------------------------


def error_of(dataset, path: Path, **given) -> str:
    with pytest.raises(UserError) as info:
        load(dataset, path, **given)
    return str(info.value)


def test_missing_file(dataset, tmp_path):
    message = error_of(dataset, tmp_path / "nope.csv")
    assert "nope.csv' does not exist" in message and "-o path=" in message


def test_directory_instead_of_file(dataset, tmp_path):
    assert "is a directory" in error_of(dataset, tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "is empty"),
        (HEADER, "has a header but no rows"),
        (HEADER + "s1,0.5,1,0.2,rock,train,extra\n", "line 2: 7 fields, but the header has 6"),
        ("id,f_a,f_a,valence,genre\n", "column 'f_a' appears twice"),
        (GOOD + "s6,1,abc,0.5,jazz,train\n", "line 7, column 'f_b': 'abc' is not a number"),
        (GOOD + "s6,1,,0.5,jazz,train\n", "line 7, column 'f_b': empty cell"),
        (GOOD + "s6,1,nan,0.5,jazz,train\n", "line 7, column 'f_b': 'nan' is not a finite"),
        (GOOD + "s6,1,2,high,jazz,train\n", "line 7, column 'valence': 'high' is not a number"),
        (GOOD + "s6,1,2,0.5,jazz,dev\n", "line 7, column 'split': 'dev' is not one of"),
        (GOOD + "s1,1,2,0.5,jazz,train\n", "line 7, column 'id': id 's1' already used on line 2"),
        (GOOD.replace("val\n", "test\n"), "no row has 'val' in column 'split'"),
        (GOOD.replace(",valence,", ",valance,"), "no target column 'valence' (did you mean"),
        (GOOD.replace("id,", "key,"), "no id column 'id'"),
        (GOOD.replace("f_a,f_b", "a,b"), "no feature columns (names starting with 'f_')"),
    ],
)
def test_malformed_files(dataset, tmp_path, text, expected):
    path = write(tmp_path, text)
    message = error_of(dataset, path)
    assert expected in message
    assert str(path) in message


def test_line_numbers_count_blank_lines_and_quoted_newlines(dataset, tmp_path):
    text = 'id,title,f_a,valence\n\ns1,"two\nlines",1,0.5\ns2,x,oops,0.1\n'
    path = write(tmp_path, text)
    message = error_of(dataset, path, tasks=("valence",), targets="valence:regression")
    assert "line 5, column 'f_a': 'oops' is not a number" in message


def test_excel_style_file_with_bom_and_crlf(dataset, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode())
    data = load(dataset, path)
    assert data.ids.tolist() == ["s1", "s2", "s3", "s4", "s5"]
    assert data.splits["test"].tolist() == [3]


def test_non_utf8_file(dataset, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(GOOD.replace("rock", "r\xf6ck").encode("latin-1"))
    assert "is not UTF-8 text" in error_of(dataset, path)


def test_target_may_not_be_a_feature(dataset, tmp_path):
    path = write(tmp_path, GOOD)
    with pytest.raises(UserError, match="'f_a' is also a feature"):
        dataset.offered_tasks(options(dataset, path=str(path), targets="f_a:regression"))
