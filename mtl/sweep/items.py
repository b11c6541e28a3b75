"""A sweep's items: the product of its axes (multi-task runs), then the single-task
baselines, each a validated training configuration; and the axis labels that name them
in tables and reports (:mod:`mtl.sweep.spec` reads the file)."""

from __future__ import annotations

import itertools
from typing import Any

from mtl.core.config import TrainConfig, build_config, coerce
from mtl.core.errors import UserError
from mtl.core.registry import did_you_mean
from mtl.sweep.spec import (
    ARCH_PREFIX,
    PREFIXES,
    SINGLE,
    TASK_SET,
    WEIGHTING_PREFIX,
    Item,
    Sweep,
    _flag,
    _key,
    _prefix,
)


def reference(table: Any, axes: dict[str, list[Any]], where: str) -> dict[str, Any]:
    """``reference = { weighting = "ew" }``: per axis, the value every cell is compared with
    (paired by seed and the other coordinates)."""
    if not isinstance(table, dict):
        raise UserError(f"'reference' in {where} must be a table, e.g. {{ weighting = \"ew\" }}")
    out = {}
    for key, value in table.items():
        k = _key(key)
        if k not in axes or k in ("seed", TASK_SET):
            valid = [_flag(a) for a in axes if a not in ("seed", TASK_SET)]
            raise UserError(
                f"reference '{key}' in {where} is not an axis that can be compared"
                f"{did_you_mean(key, valid)}; axes: {', '.join(valid) or 'none'}"
            )
        if not _prefix(k):
            value = coerce(k, value)
        if value not in axes[k]:
            raise UserError(
                f"reference {key} = {value!r} in {where} is not among the axis values "
                f"{', '.join(map(str, axes[k]))}"
            )
        out[axis_label(k)] = label_value(value)
    return out


def _config(sweep: Sweep, point: dict[str, Any], tasks: list[str], arch: str | None, i: int):
    values = dict(sweep.base)
    values.setdefault("report", [])
    for key, value in point.items():
        if key == TASK_SET:
            continue
        prefix = _prefix(key)
        if prefix:
            table = PREFIXES[prefix]
            values[table] = {**values.get(table, {}), key[len(prefix) :]: value}
        else:
            values[key] = value
    if arch == SINGLE:  # nothing shared: 'none' (TTTT), or one T per hidden layer
        layers = len(values.get("widths") or TrainConfig().widths)
        values["arch"] = "none" if layers == 4 else "T" * layers
        values["arch_options"] = {}  # the sharing patterns take none
        values["weighting"], values["weighting_options"] = "ew", {}  # one task: nothing to balance
    elif arch is not None:
        values["arch"] = arch
    values["tasks"] = list(tasks)
    # the target first: it selects the epoch and is what the comparisons are about
    values["run_dir"] = str(sweep.root / str(i))
    return build_config(base=values)


def expand(sweep: Sweep) -> list[Item]:
    """The multi-task items (product of the axes), then the single-task baselines."""
    items: list[Item] = []
    names = list(sweep.axes)
    for combo in itertools.product(*(sweep.axes[n] for n in names)):
        point = dict(zip(names, combo, strict=True))
        tasks = sweep.task_sets[point[TASK_SET]]
        tasks = [sweep.target] + [t for t in tasks if t != sweep.target]
        labels = {axis_label(k): label_value(v) for k, v in point.items()}
        labels.setdefault("arch", sweep.base.get("arch", TrainConfig.arch))
        config = _config(sweep, point, tasks, None, len(items))
        items.append(Item(len(items), "multi", {**labels, "tasks": ",".join(tasks)}, config))
    if sweep.baselines == "none":
        return items
    if sweep.baselines == "target":
        single_tasks = [sweep.target]
    else:
        single_tasks = list(
            dict.fromkeys(t for s in sweep.axes[TASK_SET] for t in sweep.task_sets[s])
        )
    rest = [
        n
        for n in names
        if n not in (TASK_SET, "arch", "weighting")
        and not n.startswith((WEIGHTING_PREFIX, ARCH_PREFIX))
    ]
    for combo in itertools.product(*(sweep.axes[n] for n in rest)):
        point = dict(zip(rest, combo, strict=True))
        for task in single_tasks:
            labels = {"arch": "single-task", TASK_SET: "-"}
            labels |= {axis_label(k): label_value(v) for k, v in point.items()}
            labels["task"] = task
            config = _config(sweep, point, [task], SINGLE, len(items))
            items.append(Item(len(items), "single", {**labels, "tasks": task}, config))
    return items


def axis_label(key: str) -> str:
    return key.replace(".", "_") if _prefix(key) else key


def label_value(value: Any) -> Any:
    """An axis value as a table cell and grouping key: lists (``widths``, ``aux``) as
    ``a,b``, tables as ``k=v,…``."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(label_value(v)) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={label_value(v)}" for k, v in value.items())
    return value
