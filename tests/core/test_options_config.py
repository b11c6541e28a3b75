import pytest

from mtl.core.config import TrainConfig, build_config, read_toml
from mtl.core.errors import UserError
from mtl.core.options import Option, resolve_options, split_assignments

OPTS = (
    Option("n", int, 100, "examples", min=1),
    Option("rate", float, 0.5, "a rate", min=0, max=1),
    Option("flag", bool, False, "a flag"),
    Option("mode", str, "a", "a mode", choices=("a", "b")),
)


def test_resolve_options_parses_and_defaults():
    got = resolve_options(OPTS, {"n": "2_000", "flag": "yes", "rate": 0.25}, "dataset 'x'")
    assert got == {"n": 2000, "rate": 0.25, "flag": True, "mode": "a"}


@pytest.mark.parametrize(
    "given,message",
    [
        (
            {"mod": "1"},
            "unknown option 'mod' for dataset 'x' \\(did you mean 'mode'\\?\\); valid options: flag, mode, n, rate",
        ),
        ({"n": "ten"}, "option 'n' of dataset 'x' expects an integer, got 'ten'"),
        ({"n": "0"}, "must be at least 1"),
        ({"rate": "2"}, "must be at most 1"),
        ({"flag": "maybe"}, "expects true or false"),
        ({"mode": "c"}, "must be one of a, b"),
    ],
)
def test_resolve_options_errors(given, message):
    with pytest.raises(UserError, match=message):
        resolve_options(OPTS, given, "dataset 'x'")


def test_split_assignments():
    assert split_assignments(["n=1", "path=a=b"]) == {"n": "1", "path": "a=b"}
    with pytest.raises(UserError, match="malformed option 'n'"):
        split_assignments(["n"])


def test_toml_accepts_strings_lists_and_dashes(tmp_path):
    f = tmp_path / "run.toml"
    f.write_text(
        'tasks = ["pop", "pop_rock"]\nbatch-size = 64\nwidths = "64,32"\n'
        "dropout = [0.0, 0.2]\n[dataset-options]\nn = 500\n"
    )
    cfg = build_config(f, {"batch_size": None, "epochs": "3", "dataset_options": ["dim=50"]})
    assert cfg.tasks == ["pop", "pop_rock"]
    assert cfg.batch_size == 64 and cfg.epochs == 3
    assert cfg.widths == [64, 32]
    assert cfg.layer_dropout() == [0.0, 0.2]
    assert cfg.dataset_options == {"n": 500, "dim": "50"}
    cfg = build_config(f, {"tasks": "ballad", "batch_size": 8})
    assert cfg.tasks == ["ballad"] and cfg.batch_size == 8


@pytest.mark.parametrize(
    "text,message",
    [
        ("batchsize = 3", "unknown key 'batchsize'.*did you mean 'batch-size'"),
        ("epochs = 'many'", "'epochs' must be an integer"),
        ("optimizer = 'adamw'", "'optimizer' must be one of adagrad, adam, sgd, adadelta"),
        ("epochs = [", "not valid TOML"),
        ("select-by = 'pop'", "TASK:METRIC"),
        ("clip-grad-norm = 0", "'clip-grad-norm' must be a positive number"),
        ("clip-grad-norm = -1.5", "'clip-grad-norm' must be a positive number"),
        ("clip-grad-norm = 'big'", "'clip-grad-norm' must be a number"),
    ],
)
def test_toml_errors(tmp_path, text, message):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(UserError, match=message):
        read_toml(f)


def test_missing_config_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_toml(tmp_path / "nope.toml")


def test_dropout_placement_follows_founding_study():
    assert TrainConfig().layer_dropout() == [0.0, 0.0, 0.5, 0.5]
    assert TrainConfig(dropout=[0.3]).layer_dropout() == [0.0, 0.0, 0.3, 0.3]
    assert TrainConfig(widths=[8], dropout=[0.3]).layer_dropout() == [0.3]
    with pytest.raises(UserError, match="2 rates for 4 hidden layers"):
        TrainConfig(dropout=[0.1, 0.2]).layer_dropout()


def test_default_learning_rate_depends_on_optimizer():
    assert TrainConfig(optimizer="adam").learning_rate == 1e-3
    assert TrainConfig(optimizer="adagrad", lr=0.5).learning_rate == 0.5


@pytest.mark.parametrize(
    "option,value,message",
    [
        (Option("x", float, 1.0, "", min=0), "nan", "must be a finite number"),
        (Option("x", float, 1.0, "", min=0, max=1), float("inf"), "must be a finite number"),
        (Option("x", float, 1.0, ""), "-inf", "must be a finite number"),
        (Option("x", float, 1.0, "", min=0), "-0.5", "must be at least 0"),
        (Option("x", int, 1, ""), "true", "expects an integer"),
        (Option("x", int, 1, ""), True, "expects an integer"),
        (Option("x", float, 1.0, ""), False, "expects a number"),
        (Option("x", int, 1, ""), float("nan"), "expects an integer"),
        (Option("x", int, 1, ""), 10**30, "is too large"),
        (Option("x", int, 1, ""), "1e999", "expects an integer"),
    ],
)
def test_options_refuse_non_finite_bool_and_huge_numbers(option, value, message):
    with pytest.raises(UserError, match=message):
        option.parse(value, "test")


def test_a_retired_option_says_so_and_is_not_listed():
    from mtl.core.options import Retired

    declared = [Option("n", int, 1, ""), Retired("old", "use n")]
    assert resolve_options(declared, {}, "x") == {"n": 1}
    with pytest.raises(UserError, match="option 'old' of x was retired: use n"):
        resolve_options(declared, {"old": "1"}, "x")


def test_a_key_given_twice_is_an_error_naming_the_flag():
    with pytest.raises(UserError, match="-w c is given twice"):
        split_assignments(["c=1", "c=2"], "-w c=1", "-w")
    with pytest.raises(UserError, match="e.g. --task-weight pop=2"):
        build_config(flags={"task_weights": ["pop"]})
