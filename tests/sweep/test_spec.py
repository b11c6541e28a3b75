"""Sweep files: deterministic expansion, baselines, overrides and bad input."""

import pytest

from mtl.core.errors import UserError
from mtl.core.plugins import load_plugins
from mtl.sweep import load_sweep

STUDY = """
description = "test"
target = "pop"
[base]
dataset = "synthetic"
epochs = 2
widths = "8,8"
dataset-options = { n = 300, dim = 200 }
[task-sets]
tight = "pop_rock,pop,ballad"
loose = "pop,loudness,year"
[axes]
arch = ["SS", "ST"]
task-set = ["tight", "loose"]
train-size = [50, 100]
seed = [0, 1]
[datasets.msd]
widths = "16,16"
task-sets = { loose = "pop,year" }
"""


def write(tmp_path, text=STUDY, name="study.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_expansion_is_deterministic_with_explicit_baselines(tmp_path):
    sweep = load_sweep(write(tmp_path))
    assert sweep.name == "study" and sweep.root.as_posix() == "runs/study"
    multi = [i for i in sweep.items if i.kind == "multi"]
    single = [i for i in sweep.items if i.kind == "single"]
    assert len(multi) == 2 * 2 * 2 * 2
    # one single-task run per task of the sets, per train size and seed
    assert len(single) == 5 * 2 * 2
    assert [i.index for i in sweep.items] == list(range(len(sweep.items)))
    assert all(i.config.run_dir == f"runs/study/{i.index}" for i in sweep.items)
    # the last axis varies fastest; the target comes first (it selects the epoch)
    first = sweep.items[0]
    assert (first.config.arch, first.labels["task_set"], first.config.train_size, first.seed) == (
        "SS",
        "tight",
        50,
        0,
    )
    assert first.config.tasks == ["pop", "pop_rock", "ballad"]
    assert sweep.items[1].seed == 1 and sweep.items[2].config.train_size == 100
    assert {(i.config.arch, tuple(i.config.tasks)) for i in single} == {
        ("TT", (t,)) for t in ("pop", "pop_rock", "ballad", "loudness", "year")
    }
    for m in multi:  # every multi-task run has its baselines with the same seed and size
        for task in m.config.tasks:
            assert any(
                s.config.tasks == [task]
                and s.seed == m.seed
                and s.config.train_size == m.config.train_size
                for s in single
            )
    again = load_sweep(write(tmp_path))
    assert [i.config for i in again.items] == [i.config for i in sweep.items]
    assert sweep.items[0].config.widths == [8, 8] and sweep.items[0].config.epochs == 2


def test_sets_override_base_axes_and_dataset_tables(tmp_path):
    path = write(tmp_path)
    sweep = load_sweep(path, ("epochs=5", "axes.seed=3", "dataset-options.n=400"))
    assert {i.seed for i in sweep.items} == {3}
    assert all(i.config.epochs == 5 for i in sweep.items)
    assert sweep.items[0].config.dataset_options == {"n": "400", "dim": 200}
    msd = load_sweep(path, ("dataset=msd",))
    assert msd.name == "study-msd" and msd.root.as_posix() == "runs/study-msd"
    assert msd.items[0].config.widths == [16, 16]  # [datasets.msd] refines [base]
    assert msd.task_sets["loose"] == ["pop", "year"]
    assert load_sweep(path, ("dataset=msd", "name=mine")).name == "mine"
    assert len(load_sweep(path, ("baselines=target",)).items) == 16 + 4
    assert len(load_sweep(path, ("baselines=none",)).items) == 16


@pytest.mark.parametrize(
    "edit,message",
    [
        (("[base]", "[base]\nepoch = 3"), "unknown key 'epoch' in [base] of sweep file"),
        (("[axes]", "[axes]\nlearning = [1]"), "unknown axis 'learning'"),
        (('arch = ["SS", "ST"]', 'arch = ["SS", "SS"]'), "repeats a value"),
        (('train-size = [50, 100]', 'train-size = [50, "many"]'), "'train_size' must be an integer"),
        (('task-set = ["tight", "loose"]', 'task-set = ["tight", "lose"]'), "unknown task set 'lose' (did you mean 'loose'?)"),
        (('target = "pop"', 'target = "ballad"'), "target 'ballad' of sweep file"),
        (('description = "test"', 'descripton = "x"'), "unknown key 'descripton'"),
        (("[base]", "[base]\ntasks = 'pop'"), "'tasks' cannot be set in [base]"),
        (("[base]", "[base]\nrun-dir = 'x'"), "'run-dir' cannot be set"),
    ],
)  # fmt: skip
def test_bad_sweep_files_are_user_errors(tmp_path, edit, message):
    old, new = edit
    assert old in STUDY
    with pytest.raises(UserError, match=None) as err:
        load_sweep(write(tmp_path, STUDY.replace(old, new, 1)))
    assert message in str(err.value)


def test_registry_checks(tmp_path):
    plugins = load_plugins(env={"MTL_PLUGINS": ""})
    load_sweep(write(tmp_path)).validate(plugins)
    bad_arch = load_sweep(write(tmp_path), ("axes.arch=SS,lw",))
    with pytest.raises(UserError, match="unknown architecture 'lw'"):
        bad_arch.validate(plugins)
    bad_task = load_sweep(write(tmp_path), ("task-sets.tight=pop,popp",))
    with pytest.raises(
        UserError, match="task set 'tight' .* names popp, which dataset 'synthetic' lacks"
    ):
        bad_task.validate(plugins)
    with pytest.raises(
        UserError, match=r"architecture 'SSS' \(SSS\) has 3 layers but widths 8,8 give 2"
    ):
        load_sweep(write(tmp_path), ("axes.arch=SSS",)).validate(plugins)
    with pytest.raises(UserError, match="unknown option 'nn' for dataset 'synthetic'"):
        load_sweep(write(tmp_path), ("dataset-options.nn=3",)).validate(plugins)


def test_index_out_of_range_and_missing_file(tmp_path):
    sweep = load_sweep(write(tmp_path))
    with pytest.raises(
        UserError, match=r"item 36 is out of range: sweep 'study' has 36 items \(0..35\)"
    ):
        sweep.item(36)
    with pytest.raises(UserError, match="does not exist"):
        load_sweep(tmp_path / "nope.toml")
    with pytest.raises(UserError, match="not valid TOML"):
        load_sweep(write(tmp_path, "x = [", "bad.toml"))


def test_shipped_studies_expand_and_validate():
    from pathlib import Path

    plugins = load_plugins(env={"MTL_PLUGINS": ""})
    root = Path(__file__).resolve().parents[2] / "experiments"
    files = sorted(root.glob("rq*.toml"))
    assert [f.stem for f in files] == [
        "rq1_mtl_vs_stl",
        "rq2_coupling",
        "rq3_training_size",
        "rq4_architectures",
        "rq4_degree_of_sharing",
    ]
    for f in files:
        sweep = load_sweep(f)
        sweep.validate(plugins)
        assert len({i.seed for i in sweep.items}) >= 5
        msd = load_sweep(f, ("dataset=msd",))
        assert {t for s in msd.task_sets.values() for t in s} <= {
            "pop", "pop_rock", "ballad", "loudness", "year"
        }  # fmt: skip
        assert len(msd.items) == len(sweep.items)
        for item in sweep.items:  # labels are table cells and group keys
            assert all(isinstance(v, (str, int, float)) for v in item.labels.values()), item
    sizes = load_sweep(root / "rq3_training_size.toml").axes["train_size"]
    assert len(sizes) == 10 and sizes[0] == 500 and sizes[-1] == 25_000
    # the weighting study plants its imbalance with synthetic-only options
    weighting = load_sweep(root / "weighting_methods.toml")
    weighting.validate(plugins)
    assert len({i.seed for i in weighting.items}) >= 5
    assert "ew" in weighting.axes["weighting"] and weighting.reference == {"weighting": "ew"}


def test_shipped_sequence_studies_expand_validate_and_switch_to_real_data():
    from pathlib import Path

    plugins = load_plugins(env={"MTL_PLUGINS": ""})
    root = Path(__file__).resolve().parents[2] / "experiments"
    real = {
        "seq_encoders_views": "fma-spectrograms",
        "seq_affect_multitask": "fma-multitask",
        "seq_regularisers": "msd-genre",
        "seq_snippets": "msd-genre",
        "seq_auxiliary": "msd-genre",
    }
    assert sorted(f.stem for f in root.glob("seq_*.toml")) == sorted(real)
    for stem, dataset in real.items():
        sweep = load_sweep(root / f"{stem}.toml")
        sweep.validate(plugins)
        assert sweep.base["dataset"] == "synthetic-seq"
        assert len({i.seed for i in sweep.items}) >= 5
        assert all(i.config.encoder in ("lstm", "cnn1d", "cnn2d") for i in sweep.items)
        on_real = load_sweep(root / f"{stem}.toml", (f"dataset={dataset}",))
        assert on_real.name == f"{stem}-{dataset}" and len(on_real.items) >= len(sweep.items)
        for item in sweep.items + on_real.items:  # labels are table cells and group keys
            assert all(isinstance(v, (str, int, float)) for v in item.labels.values()), item
    views = load_sweep(root / "seq_encoders_views.toml", ("dataset=fma-spectrograms",))
    assert {(i.config.dataset_options["view"], i.config.dataset_options["beat"]) for i in views.items} == {
        (v, b) for v in ("mel", "chroma", "fused") for b in (False, True)
    }  # fmt: skip


WEIGHTINGS = """
target = "pop"
[base]
dataset = "synthetic"
widths = "8,8,4,4"
weighting = "fixed"
[task-sets]
tight = "pop,ballad"
[axes]
"weighting-options.weights" = ["1,2", "2,1"]
seed = [0, 1]
"""


def test_weighting_and_its_options_are_axes_and_baselines_use_ew(tmp_path):
    sweep = load_sweep(write(tmp_path, WEIGHTINGS))
    multi = [i for i in sweep.items if i.kind == "multi"]
    assert len(multi) == 4
    assert multi[1].labels["weighting_options_weights"] == "1,2"
    assert multi[1].config.weighting == "fixed"
    assert multi[1].config.weighting_options == {"weights": "1,2"}
    assert multi[-1].config.weighting_options == {"weights": "2,1"}
    single = [i for i in sweep.items if i.kind == "single"]
    # one baseline per task and seed: the weighting axes do not multiply them
    assert len(single) == 4
    assert all(i.config.weighting == "ew" and i.config.weighting_options == {} for i in single)
    over = load_sweep(write(tmp_path, WEIGHTINGS), ("weighting-options.weights=3,3",))
    assert over.base["weighting_options"] == {"weights": "3,3"}
    methods = WEIGHTINGS.replace(
        '"weighting-options.weights" = ["1,2", "2,1"]', 'weighting = ["ew", "fixed"]'
    )
    sweep = load_sweep(write(tmp_path, methods))
    assert [i.config.weighting for i in sweep.items if i.kind == "multi"] == ["ew"] * 2 + [
        "fixed"
    ] * 2
    assert len([i for i in sweep.items if i.kind == "single"]) == 4
    plugins = load_plugins(env={"MTL_PLUGINS": ""})
    load_sweep(write(tmp_path, WEIGHTINGS)).validate(plugins)


def test_sweep_validation_checks_weighting_names_and_options(tmp_path):
    plugins = load_plugins(env={"MTL_PLUGINS": ""})
    text = WEIGHTINGS.replace('"fixed"', '"fixd"')
    with pytest.raises(UserError, match="unknown weighting 'fixd' .did you mean 'fixed'"):
        load_sweep(write(tmp_path, text)).validate(plugins)
    text = WEIGHTINGS.replace('"weighting-options.weights"', '"weighting-options.weight"')
    with pytest.raises(UserError, match="unknown option 'weight' for weighting 'fixed'"):
        load_sweep(write(tmp_path, text)).validate(plugins)
