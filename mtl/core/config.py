"""Training configuration: defaults, TOML files and command-line flags, merged and checked.

Precedence: defaults < ``--config FILE.toml`` < flags. TOML keys are the flag names
(``batch-size`` or ``batch_size``); dataset options go in a ``[dataset-options]``
table (or ``dataset-options = ["n=100"]``), encoder options and task weights likewise
in ``[encoder-options]`` and ``[task-weights]``; the balancing method's options
(``--weighting``) in ``[weighting-options]``; the architecture's (``--arch``) in
``[arch-options]``.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Collection
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from mtl.core.errors import UserError
from mtl.core.options import INT_LIMIT, split_assignments
from mtl.core.registry import did_you_mean

OPTIMIZERS = ("adagrad", "adam", "sgd", "adadelta")
ENCODER_SHARING = ("shared", "per-task")
AUX_TASKS = ("one-vs-rest", "autoencode")
COMBINE_RULES = ("max-mean", "max-product", "learned")
BATCH_ORDERS = ("random", "bucketed")
DEFAULT_LR = {"adagrad": 0.01, "adam": 1e-3, "sgd": 0.01, "adadelta": 1.0}
DEVICES = ("auto", "cpu", "cuda")
INIT_PARTS = ("encoder", "all")
FREEZE_MODES = ("none", "encoder", "all-but-heads")
LOG_FORMATS = ("auto", "rich", "plain", "json")
LR_SCHEDULES = ("constant", "cosine", "step", "plateau")
PRECISIONS = ("32", "bf16", "fp16")
KEEP_CHECKPOINTS = ("best", "last", "all")
MAX_SEED = 2**32 - 1  # seeds are mixed into torch seeds (seed × 1,000,003 + rank)
MAX_EPOCHS = 1_000_000
MAX_WIDTH = 65_536  # units in one hidden layer
MAX_WEIGHTS = 1_000_000_000  # weights between consecutive hidden layers (4 GB as float32)


@dataclass
class TrainConfig:
    dataset: str = "synthetic"
    dataset_options: dict[str, Any] = field(default_factory=dict)
    arch: str = "low"
    tasks: list[str] = field(default_factory=list)
    epochs: int = 20
    batch_size: int = 128
    lr: float | None = None
    optimizer: str = "adagrad"
    momentum: float = 0.9
    weight_decay: float = 0.0
    clip_grad_norm: float | None = None
    dropout: list[float] | None = None
    widths: list[int] = field(default_factory=lambda: [1024, 512, 256, 128])
    whiten: bool = False
    train_size: int | None = None
    seed: int = 0
    device: str = "auto"
    run_dir: str | None = None
    report: list[str] = field(default_factory=lambda: ["console"])
    patience: int | None = None
    select_by: str | None = None
    eval_batch_size: int = 1024
    init_from: str | None = None
    init_part: str = "encoder"
    freeze: str = "none"
    encoder: str = "mlp"
    encoder_options: dict[str, Any] = field(default_factory=dict)
    encoder_sharing: str = "shared"
    aux: list[str] = field(default_factory=list)
    aux_weight: float = 1.0
    task_weights: dict[str, float] = field(default_factory=dict)
    stabilise: float = 0.0
    snippets: int = 1
    combine: str = "max-mean"
    batch_order: str = "random"
    log_format: str = "auto"
    mlflow_uri: str | None = None
    weighting: str = "ew"
    weighting_options: dict[str, Any] = field(default_factory=dict)
    arch_options: dict[str, Any] = field(default_factory=dict)
    lr_schedule: str = "constant"
    warmup_epochs: int = 0
    lr_step_size: int = 10
    lr_gamma: float = 0.1
    lr_patience: int = 3
    accumulate: int = 1
    precision: str = "32"
    keep_checkpoints: str = "best"  # what a finished run keeps (mtl.core.runs.DROPPED)
    threads: int | None = None  # torch CPU threads; None: mtl.core.threads.default_threads

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    def layer_dropout(self) -> list[float]:
        """Dropout after each hidden layer: the founding study's 0.5 after the last two by
        default; one value is placed there too; a list gives one rate per layer."""
        n = len(self.widths)
        rates = self.dropout if self.dropout is not None else [0.5]
        if len(rates) == 1:
            return [0.0] * max(n - 2, 0) + [rates[0]] * min(n, 2)
        if len(rates) != n:
            raise UserError(
                f"--dropout gives {len(rates)} rates for {n} hidden layers; "
                "give one rate, or one per layer"
            )
        return list(rates)


KEYS = {f.name: f for f in fields(TrainConfig)}
# KEY=VALUE tables: a flag's entries are merged over the file's, key by key
OPTION_TABLES = (
    "dataset_options", "encoder_options", "weighting_options", "arch_options", "task_weights",
)  # fmt: skip


def _list(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value]
    raise UserError(f"'{key}' must be a comma-separated string or a list; got {value!r}")


def _show(bound: float) -> str:
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


def _numbers(value: Any, key: str) -> list[Any]:
    """The items of a list of numbers; an empty item (``8,,8``) is an error, not skipped."""
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
        if value.strip() and not all(items):
            raise UserError(f"'{key}' has an empty item: {value!r}")
        return [v for v in items if v]
    return _list(value, key)


def _number(
    value: Any,
    key: str,
    kind: type,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
) -> Any:
    """``value`` as a finite ``kind`` within the bounds (``above``: strictly greater)."""
    word = "an integer" if kind is int else "a number"
    try:
        if isinstance(value, bool):  # TOML true/false is no number
            raise ValueError
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        out = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"'{key}' must be {word}; got {value!r}") from None
    if kind is float and not math.isfinite(out):
        raise UserError(f"'{key}' must be a finite number; got {value!r}")
    if above is not None and not out > above:
        bound = "a positive number" if above == 0 else f"greater than {_show(above)}"
        raise UserError(f"'{key}' must be {bound}; got {value!r}")
    if minimum is not None and out < minimum:
        raise UserError(f"'{key}' must be at least {_show(minimum)}; got {out}")
    maximum = INT_LIMIT if maximum is None and kind is int else maximum
    if maximum is not None and out > maximum:
        raise UserError(f"'{key}' must be at most {_show(maximum)}; got {out}")
    return out


CHOICES = {
    "optimizer": OPTIMIZERS,
    "device": DEVICES,
    "init_part": INIT_PARTS,
    "freeze": FREEZE_MODES,
    "encoder_sharing": ENCODER_SHARING,
    "combine": COMBINE_RULES,
    "batch_order": BATCH_ORDERS,
    "log_format": LOG_FORMATS,
    "lr_schedule": LR_SCHEDULES,
    "precision": PRECISIONS,
    "keep_checkpoints": KEEP_CHECKPOINTS,
}


def coerce(key: str, value: Any) -> Any:
    """Parse one setting (from a flag or a TOML file) into its typed value."""
    if value is None:
        return None
    match key:
        case "tasks":
            tasks = _list(value, key)
            if not tasks or not all(tasks):
                raise UserError(
                    f"'tasks' names no task ({value!r}); give task names, e.g. pop,pop_rock, "
                    "or leave it out for the dataset's default tasks"
                )
            if len(set(tasks)) != len(tasks):
                raise UserError(f"'tasks' names a task twice: {', '.join(tasks)}")
            return tasks
        case "report":
            return _list(value, key)
        case "widths":
            widths = [_number(v, key, int, 1, MAX_WIDTH) for v in _numbers(value, key)]
            if not widths:
                raise UserError("'widths' needs at least one layer width, e.g. 1024,512,256,128")
            weights = sum(a * b for a, b in zip(widths, widths[1:], strict=False))
            if weights > MAX_WEIGHTS:
                raise UserError(
                    f"'widths' {','.join(map(str, widths))} give at least {weights:.3g} weights "
                    f"between hidden layers, over the limit of {MAX_WEIGHTS:.0e}; lower them"
                )
            return widths
        case "dropout":
            one = isinstance(value, (int, float)) and not isinstance(value, bool)
            rates = [
                _number(v, key, float, 0.0) for v in ([value] if one else _numbers(value, key))
            ]
            if not rates:
                raise UserError("'dropout' needs a rate, e.g. 0.5")
            if any(r >= 1 for r in rates):
                raise UserError(f"'dropout' rates must be in [0, 1); got {rates}")
            return rates
        case "epochs" | "patience":
            return _number(value, key, int, 1, MAX_EPOCHS)
        case "batch_size" | "eval_batch_size" | "train_size" | "snippets":
            return _number(value, key, int, 1)
        case "seed":
            return _number(value, key, int, 0, MAX_SEED)
        case "warmup_epochs":
            return _number(value, "warmup-epochs", int, 0, MAX_EPOCHS)
        case "lr_step_size" | "lr_patience" | "accumulate":
            return _number(value, key.replace("_", "-"), int, 1)
        case "lr_gamma":
            gamma = _number(value, "lr-gamma", float)
            if not 0 < gamma <= 1:
                raise UserError(f"'lr-gamma' must be in (0, 1]; got {value!r}")
            return gamma
        case "threads":
            from mtl.core.threads import check_threads

            return check_threads(value, "'threads'")
        case "lr":
            return _number(value, key, float, above=0.0)
        case "weight_decay":
            return _number(value, key, float, 0.0)
        case "momentum":
            return _number(value, key, float, 0.0, 1.0)
        case "clip_grad_norm":
            return _number(value, "clip-grad-norm", float, above=0.0)
        case key if key in CHOICES:
            v = str(value).lower()
            if v not in CHOICES[key]:
                raise UserError(
                    f"'{key.replace('_', '-')}' must be one of {', '.join(CHOICES[key])}; got "
                    f"'{value}'{did_you_mean(v, list(CHOICES[key]))}"
                )
            return v
        case "whiten":
            if isinstance(value, bool):
                return value
            raise UserError(f"'whiten' must be true or false; got {value!r}")
        case "aux":
            names = _list(value, key)
            for name in names:
                if name not in AUX_TASKS:
                    raise UserError(
                        f"'aux' must name {' or '.join(AUX_TASKS)}; got '{name}'"
                        f"{did_you_mean(name, list(AUX_TASKS))}"
                    )
            return list(dict.fromkeys(names))
        case "aux_weight" | "stabilise":
            return _number(value, key.replace("_", "-"), float, 0.0)
        case "task_weights":
            raw = value if isinstance(value, dict) else _assignments(value, key)
            return {str(k): _number(v, f"task-weight {k}", float, 0.0) for k, v in raw.items()}
        case "dataset_options" | "encoder_options" | "weighting_options" | "arch_options":
            if isinstance(value, dict):
                return {str(k): v for k, v in value.items()}
            return _assignments(value, key)
        case "weighting":
            name = str(value).strip()
            if not name:
                raise UserError("'weighting' must name a method, e.g. ew, uw or pcgrad")
            return name
        case "select_by":
            task, sep, metric = str(value).partition(":")
            if not sep or not task or not metric:
                raise UserError(f"'select-by' must be TASK:METRIC, e.g. pop:roc_auc; got '{value}'")
            return str(value)
        case _:
            return str(value)


ASSIGNMENT_FLAGS = {  # key → (flag, example of the right form)
    "dataset_options": ("-o", "-o n=1000"),
    "encoder_options": ("-e", "-e hidden=128"),
    "weighting_options": ("-w", "-w alpha=1.5"),
    "arch_options": ("-a", "-a experts=6"),
    "task_weights": ("--task-weight", "--task-weight pop=2"),
}


def _assignments(value: Any, key: str) -> dict[str, str]:
    """``KEY=VALUE`` items (a list of them, or one comma-separated string) as a dict."""
    flag, example = ASSIGNMENT_FLAGS[key]
    items = value if isinstance(value, (list, tuple)) else _list(value, key)
    return split_assignments([str(v) for v in items], example, flag)


def normalise_key(key: str) -> str:
    return key.replace("-", "_")


def read_toml(path: Path) -> dict[str, Any]:
    """Settings from a TOML file, keys checked and values coerced."""
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"config file '{path}' does not exist") from None
    except IsADirectoryError:
        raise UserError(f"config file '{path}' is a directory; give a .toml file") from None
    except (NotADirectoryError, PermissionError) as exc:
        raise UserError(f"config file '{path}' cannot be read ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"config file '{path}' is not valid TOML: {exc}") from None
    return coerce_settings(raw, f"config file '{path}'")


def coerce_settings(
    raw: dict[str, Any], where: str, keys: Collection[str] = KEYS
) -> dict[str, Any]:
    """``raw`` settings (flag or underscore names) checked against ``keys`` and coerced."""
    out = {}
    valid = sorted(k.replace("_", "-") for k in keys)
    for key, value in raw.items():
        k = normalise_key(key.strip())
        if k not in keys:
            raise UserError(
                f"unknown key '{key}' in {where}{did_you_mean(key, valid)}; "
                f"valid keys: {', '.join(valid)}"
            )
        out[k] = coerce(k, value)
    return out


def build_config(
    file: Path | None = None,
    flags: dict[str, Any] | None = None,
    base: dict[str, Any] | None = None,
) -> TrainConfig:
    """Merge ``base`` (e.g. a resumed run's config), a TOML file and flags (None = not given).

    Every value is checked, the base's too: a hand-edited ``config.json`` is no way around
    the checks."""
    merged = {k: coerce(k, v) if k in KEYS else v for k, v in (base or {}).items()}
    if file is not None:
        merged.update(read_toml(file))
    for key, value in (flags or {}).items():
        if value is None:
            continue
        value = coerce(key, value)
        if key in OPTION_TABLES:
            merged[key] = {**merged.get(key, {}), **value}
        else:
            merged[key] = value
    return TrainConfig(**merged)
