"""Sweep files: a base configuration, named task sets and axes, expanded into numbered items.

A sweep file is TOML::

    name = "rq2_coupling"             # optional; default: the file name without .toml
    description = "tight vs loose × sharing"
    target = "pop"                    # the task comparisons are about; in every task set
    baselines = "all"                 # single-task runs: "all" tasks of the sets, "target", "none"
    reference = { weighting = "ew" }  # optional: also compare every cell with this one

    [base]                            # any `mtl train` option (config-file keys)
    dataset = "synthetic"
    epochs = 12

    [task-sets]
    tight = "pop,pop_rock,ballad"
    loose = "pop,loudness,year"

    [axes]                            # crossed in the order given; the last varies fastest
    arch = ["low", "high", "interspersed"]
    task-set = ["tight", "loose"]
    train-size = [1000]
    seed = [0, 1, 2, 3, 4]

    [datasets.synthetic]              # merged over [base] when that is the dataset in use;
    dataset-options = { n = 8000 }    # may hold `task-sets` and `axes` tables too

Items are the multi-task runs (the product of the axes), then the single-task
baselines: one run with ``arch = "none"`` per task and per combination of the axes
other than ``arch`` and ``task-set`` (same seed, same training size). Item *i* always
means the same configuration and runs in ``<runs>/<name>/<i>/``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtl.core.config import KEYS, TrainConfig, coerce, coerce_settings, normalise_key
from mtl.core.errors import UserError
from mtl.core.registry import did_you_mean, unknown_task_message

TOP_KEYS = ("name", "description", "target", "baselines", "runs-dir", "base", "task-sets")
TOP_KEYS += ("axes", "datasets", "reference")
BASELINES = ("all", "target", "none")
MANAGED = {"run_dir", "tasks"}  # set per item
SINGLE = "single-task"  # baselines: a pattern of T's, one per hidden layer
TASK_SET = "task_set"
OPTION_PREFIX = "dataset_options."
WEIGHTING_PREFIX = "weighting_options."
ARCH_PREFIX = "arch_options."
PREFIXES = {
    OPTION_PREFIX: "dataset_options",
    WEIGHTING_PREFIX: "weighting_options",
    ARCH_PREFIX: "arch_options",
}
OPTION_TABLES = tuple(PREFIXES.values())


def _key(key: str) -> str:
    return normalise_key(key.strip())


def _flag(key: str) -> str:
    return key.replace("_", "-")


def _tasks(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        tasks = [t.strip() for t in value.split(",") if t.strip()]
    elif isinstance(value, list) and all(isinstance(t, str) for t in value):
        tasks = [t.strip() for t in value]
    else:
        raise UserError(f"{where} must be a comma-separated string of task names; got {value!r}")
    if not tasks:
        raise UserError(f"{where} names no task")
    if len(set(tasks)) != len(tasks):
        raise UserError(f"{where} names a task twice: {','.join(tasks)}")
    return tasks


@dataclass
class Item:
    """One run of a sweep: its number, its coordinates and its training configuration."""

    index: int
    kind: str  # "multi" or "single"
    labels: dict[str, Any]  # axis name → value, plus task_set/tasks/task
    config: TrainConfig

    @property
    def run_dir(self) -> Path:
        return Path(self.config.run_dir)

    @property
    def seed(self) -> int:
        return self.config.seed

    def describe(self) -> str:
        parts = [f"{k.replace('_', '-')}={v}" for k, v in self.labels.items() if k != "tasks"]
        return " ".join(parts)


@dataclass
class Sweep:
    """An expanded sweep file: ``items[i]`` runs in ``root / str(i)``."""

    name: str
    path: Path
    description: str
    target: str
    baselines: str
    base: dict[str, Any]
    task_sets: dict[str, list[str]]
    axes: dict[str, list[Any]]
    root: Path
    items: list[Item] = field(default_factory=list)
    sets: tuple[str, ...] = ()  # the --set overrides it was loaded with
    reference: dict[str, Any] = field(default_factory=dict)  # axis → its reference value

    @property
    def dataset(self) -> str:
        return self.base.get("dataset", TrainConfig.dataset)

    def item(self, index: int) -> Item:
        if not 0 <= index < len(self.items):
            raise UserError(
                f"item {index} is out of range: sweep '{self.name}' has {len(self.items)} items "
                f"(0..{len(self.items) - 1})"
            )
        return self.items[index]

    def tasks(self) -> list[str]:
        """Every task the sweep trains, in first-appearance order."""
        seen: dict[str, None] = {}
        for item in self.items:
            seen.update(dict.fromkeys(item.config.tasks))
        return list(seen)

    def validate(self, plugins: Any) -> None:
        """Check names against the registries: dataset, options, architectures, tasks."""
        from mtl.core.options import resolve_options

        reg = plugins.registries
        checked: set[tuple] = set()
        arch_checked: set[str] = set()
        for item in self.items:
            cfg = item.config
            key = (cfg.dataset, repr(sorted(cfg.dataset_options.items())))
            pattern = getattr(reg.architectures.get(cfg.arch), "pattern", None)
            if isinstance(pattern, str) and len(pattern) != len(cfg.widths):
                raise UserError(
                    f"sweep '{self.path}': architecture '{cfg.arch}' ({pattern}) has "
                    f"{len(pattern)} layers but widths {','.join(map(str, cfg.widths))} give "
                    f"{len(cfg.widths)}; give one width per letter"
                )
            for name in cfg.report:
                reg.reporters.get(name)
            method = reg.weightings.get(cfg.weighting)
            resolve_options(method.options, cfg.weighting_options, f"weighting '{cfg.weighting}'")
            self._check_arch(reg, cfg, arch_checked)
            if key in checked:
                continue
            checked.add(key)
            dataset = reg.datasets.get(cfg.dataset)
            options = resolve_options(
                dataset.options, cfg.dataset_options, f"dataset '{cfg.dataset}'"
            )
            offered = {t.name for t in dataset.offered_tasks(options)}
            for set_name, tasks in self.task_sets.items():
                missing = [t for t in tasks if t not in offered]
                if missing:
                    raise UserError(
                        f"task set '{set_name}' of sweep '{self.path}' names "
                        f"{', '.join(missing)}, which dataset '{cfg.dataset}' lacks: "
                        + unknown_task_message(cfg.dataset, missing[0], sorted(offered))
                    )
            missing = [t for t in cfg.tasks if t not in offered]
            if missing:
                raise UserError(
                    f"sweep '{self.path}': dataset '{cfg.dataset}' offers no task "
                    f"'{missing[0]}'{did_you_mean(missing[0], sorted(offered))}"
                )

    def _check_arch(self, reg: Any, cfg: TrainConfig, done: set[str]) -> None:
        """The item's architecture options, and a build check, before any item runs."""
        from mtl.core.architecture import resolve_architecture

        streams = len(cfg.tasks) if cfg.encoder_sharing == "per-task" else 1
        key = repr((cfg.arch, sorted(cfg.arch_options.items()), cfg.widths, cfg.tasks, streams))
        if key in done:
            return
        done.add(key)
        arch = reg.architectures.get(cfg.arch)
        try:
            resolve_architecture(
                arch,
                cfg.arch,
                cfg.arch_options,
                cfg.tasks,
                cfg.widths,
                cfg.layer_dropout(),
                streams,
            )
        except UserError as exc:
            raise UserError(f"sweep '{self.path}': {exc}") from None


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"sweep file '{path}' does not exist") from None
    except IsADirectoryError:
        raise UserError(f"sweep file '{path}' is a directory; give a .toml file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"sweep file '{path}' is not valid TOML: {exc}") from None


def _table(raw: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise UserError(f"'{key}' in sweep file '{path}' must be a table ([{key}])")
    return value


def _apply_sets(raw: dict[str, Any], sets: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``--set KEY=VALUE``: top-level keys, ``axes.X``, ``task-sets.X`` and
    ``dataset-options.X`` / ``weighting-options.X`` / ``arch-options.X`` go into ``raw``;
    anything else is a [base] key, returned."""
    base: dict[str, Any] = {}
    for assignment in sets:
        key, sep, value = assignment.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise UserError(f"malformed --set '{assignment}': write KEY=VALUE, e.g. dataset=msd")
        head, dot, rest = key.partition(".")
        if head in ("axes", "task-sets") and dot:
            table = raw.setdefault(head, {})
            table[rest] = [v.strip() for v in value.split(",")] if head == "axes" else value
        elif key in ("name", "description", "target", "baselines", "runs-dir"):
            raw[key] = value
        elif _key(head) in OPTION_TABLES and dot:
            base.setdefault(head, {})[rest] = value
        else:
            base[key] = value
    return base


def _base(table: dict[str, Any], where: str) -> dict[str, Any]:
    for key in table:
        k = _key(key)
        if k in MANAGED:
            hint = (
                "use [task-sets] and the task-set axis"
                if k == "tasks"
                else "it is <runs>/<name>/<i>"
            )
            raise UserError(f"'{key}' cannot be set in {where}: {hint}")
    return coerce_settings(table, where, {k for k in KEYS if k not in MANAGED})


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if key in OPTION_TABLES:
            out[key] = {**out.get(key, {}), **value}
        else:
            out[key] = value
    return out


def _axis_values(name: str, values: Any, task_sets: dict[str, list[str]], where: str) -> list[Any]:
    if not isinstance(values, list):
        values = [values]
    if not values:
        raise UserError(f"axis '{name}' in {where} has no values")
    if name == TASK_SET:
        for v in values:
            if v not in task_sets:
                raise UserError(
                    f"axis 'task-set' in {where} names an unknown task set '{v}'"
                    f"{did_you_mean(str(v), list(task_sets))}; defined: "
                    f"{', '.join(task_sets) or 'none (add a [task-sets] table)'}"
                )
        out = list(values)
    elif _prefix(name):
        out = list(values)
    else:
        out = [coerce(name, v) for v in values]
        if name in OPTION_TABLES:
            flag = _flag(name)
            raise UserError(f"axis '{flag}' in {where}: name one option, e.g. axes.'{flag}.n'")
    if len({repr(v) for v in out}) != len(out):
        raise UserError(f"axis '{_flag(name)}' in {where} repeats a value: {out}")
    return out


def _axes(table: dict[str, Any], task_sets: dict[str, list[str]], where: str) -> dict[str, list]:
    axes: dict[str, list[Any]] = {}
    valid = sorted(
        [_flag(k) for k in KEYS if k not in MANAGED]
        + ["task-set", "dataset-options.KEY", "weighting-options.KEY", "arch-options.KEY"]
    )
    for key, values in table.items():
        k = _key(key)
        prefix = _prefix(k)
        if prefix and len(k) > len(prefix):
            k = prefix + key.split(".", 1)[1].strip()
        elif k in MANAGED or (k not in KEYS and k != TASK_SET):
            raise UserError(
                f"unknown axis '{key}' in {where}{did_you_mean(key, valid)}; valid axes: "
                f"{', '.join(valid)}"
            )
        axes[k] = _axis_values(k, values, task_sets, where)
    return axes


def load_sweep(path: Path | str, sets: tuple[str, ...] | list[str] = ()) -> Sweep:
    """Read and expand a sweep file; ``sets`` are ``KEY=VALUE`` overrides (``--set``).

    Everything that can be checked without plugins is checked here; call
    :meth:`Sweep.validate` to check names against the registries.
    """
    path = Path(path)
    raw = _read(path)
    where = f"sweep file '{path}'"
    file_base = _base(_table(raw, "base", path), f"[base] of {where}")
    overrides = _base(_apply_sets(raw, sets), "--set")
    for key in raw:
        if key not in TOP_KEYS:
            raise UserError(
                f"unknown key '{key}' in {where}{did_you_mean(key, list(TOP_KEYS))}; "
                f"valid keys: {', '.join(TOP_KEYS)}"
            )
    file_dataset = file_base.get("dataset", TrainConfig.dataset)
    dataset = overrides.get("dataset", file_dataset)
    per_dataset = _table(raw, "datasets", path)
    for name, table in per_dataset.items():
        if not isinstance(table, dict):
            raise UserError(f"[datasets.{name}] in {where} must be a table")
    special = dict(per_dataset.get(dataset, {}))
    task_sets_raw = {**_table(raw, "task-sets", path), **special.pop("task-sets", {})}
    axes_raw = {**_table(raw, "axes", path), **special.pop("axes", {})}
    # precedence: [base] < [datasets.<dataset in use>] < --set
    base = _merge(file_base, _base(special, f"[datasets.{dataset}] of {where}"))
    base = _merge(base, overrides)
    task_sets = {
        str(name): _tasks(tasks, f"task set '{name}' in {where}")
        for name, tasks in task_sets_raw.items()
    }
    axes = _axes(axes_raw, task_sets, where)
    if TASK_SET not in axes and task_sets:
        axes = {TASK_SET: list(task_sets), **axes}
    used_sets = axes.get(TASK_SET, [])
    if not used_sets:
        raise UserError(f"{where} defines no task set; add [task-sets] and the task-set axis")
    target = raw.get("target") or task_sets[used_sets[0]][0]
    for name in used_sets:
        if target not in task_sets[name]:
            raise UserError(
                f"target '{target}' of {where} is not in task set '{name}' "
                f"({','.join(task_sets[name])}); every set must contain the target"
            )
    baselines = str(raw.get("baselines", "all"))
    if baselines not in BASELINES:
        raise UserError(
            f"'baselines' in {where} must be one of {', '.join(BASELINES)}; got '{baselines}'"
        )
    name = str(raw.get("name") or path.stem)
    if dataset != file_dataset and "name" not in [a.partition("=")[0].strip() for a in sets]:
        name = f"{name}-{dataset}"  # its own runs: the items differ
    if not name or "/" in name or name.startswith("."):
        raise UserError(f"sweep name '{name}' must be a plain directory name")
    root = Path(str(raw.get("runs-dir", "runs"))) / name
    sweep = Sweep(
        name=name,
        path=path,
        description=str(raw.get("description", "")),
        target=target,
        baselines=baselines,
        base=base,
        task_sets=task_sets,
        axes=axes,
        root=root,
        sets=tuple(sets),
    )
    from mtl.sweep.items import expand, reference  # they build on Sweep and Item

    sweep.reference = reference(raw.get("reference", {}), axes, where)
    sweep.items = expand(sweep)
    return sweep


def _prefix(key: str) -> str | None:
    """The option-table prefix ``key`` starts with (``dataset_options.``, ...), if any."""
    return next((p for p in PREFIXES if key.startswith(p)), None)
