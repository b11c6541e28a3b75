"""A sweep's run folder remembers how the sweep was loaded.

``<root>/sweep.json`` records the sweep file, the ``--set`` overrides and the items'
coordinates. :func:`open_sweep` reads a sweep back from its file or from that folder:

- no ``--set`` given: the overrides recorded in the folder apply (a study shortened
  with ``--set epochs=1`` stays that study for ``status``, ``report`` and ``run``);
- the same overrides as recorded (in any order): fine;
- other overrides than recorded: a :class:`UserError` naming both, because the items
  would be another study's in the same folders; ``--set name=…`` makes a separate
  sweep (its own folder) instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path
from typing import Any

from mtl.core.errors import UserError
from mtl.core.runs import read_json, write_json
from mtl.sweep.spec import Sweep, load_sweep

INDEX = "sweep.json"


def write_index(sweep: Sweep) -> None:
    """``<root>/sweep.json``: file, overrides and the items' coordinates."""
    value = {
        "name": sweep.name,
        "file": str(sweep.path.resolve()),
        "sets": list(sweep.sets),
        "description": sweep.description,
        "target": sweep.target,
        "task_sets": sweep.task_sets,
        "axes": sweep.axes,
        "dataset": sweep.dataset,
        "items": [
            {"index": i.index, "kind": i.kind, "labels": i.labels, "run_dir": str(i.run_dir)}
            for i in sweep.items
        ],
    }
    path = sweep.root / INDEX
    with contextlib.suppress(OSError, ValueError):  # missing or unreadable: write it anew
        if json.loads(path.read_text()) == json.loads(json.dumps(value)):
            return
    write_json(path, value)


def normalise_sets(sets: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``KEY=VALUE`` overrides as a mapping (spaces trimmed; a repeated key: the last)."""
    result: dict[str, str] = {}
    for assignment in sets:
        key, _, value = str(assignment).partition("=")
        result[key.strip()] = value.strip()
    return result


def show_sets(sets: tuple[str, ...] | list[str]) -> str:
    """The overrides as the user would type them, or ``none``."""
    shown = normalise_sets(sets)
    return " ".join(f"--set {k}={v}" for k, v in shown.items()) or "none"


def recorded_sets(root: Path) -> tuple[str, ...] | None:
    """The overrides recorded in ``root/sweep.json``; None without a readable record."""
    try:
        meta = json.loads((root / INDEX).read_text())
    except (OSError, ValueError):
        return None
    sets = meta.get("sets") if isinstance(meta, dict) else None
    return tuple(str(s) for s in sets) if isinstance(sets, list) else None


def _check(root: Path, given: tuple[str, ...], recorded: tuple[str, ...]) -> None:
    if normalise_sets(given) != normalise_sets(recorded):
        raise UserError(
            f"'{root}' holds the sweep run with overrides {show_sets(recorded)}, not "
            f"{show_sets(given)}; repeat the recorded overrides (or give none), add "
            "--set name=NEW for a separate sweep, or remove the folder to start over"
        )


def open_sweep(path: Path | str, sets: tuple[str, ...] | list[str] = ()) -> Sweep:
    """A sweep from its file or its run folder, with the overrides its folder records.

    See the module docstring for how given and recorded overrides combine.
    """
    path, sets = Path(path), tuple(sets)
    if path.is_dir():
        return _from_folder(path, sets)
    sweep = load_sweep(path, sets)
    recorded = recorded_sets(sweep.root)
    if recorded is None:
        return sweep
    if not sets:
        if not recorded:
            return sweep
        again = load_sweep(path, recorded)
        return again if again.root == sweep.root else sweep
    _check(sweep.root, sets, recorded)
    return sweep


def _from_folder(root: Path, sets: tuple[str, ...] = ()) -> Sweep:
    index = root / INDEX
    if not index.is_file():
        raise UserError(
            f"'{root}' is not a sweep's run folder (no {INDEX}); give the sweep file instead"
        )
    meta: dict[str, Any] = read_json(index)
    recorded = tuple(str(s) for s in meta.get("sets", ()))
    if sets:
        _check(root, sets, recorded)
    path = Path(meta["file"])
    if not path.is_file():
        raise UserError(f"the sweep file '{path}' recorded in '{index}' is gone")
    sweep = load_sweep(path, recorded)
    if sweep.root.resolve() != root.resolve():  # the folder was moved: follow it
        items = [
            dataclasses.replace(
                i, config=dataclasses.replace(i.config, run_dir=str(root / str(i.index)))
            )
            for i in sweep.items
        ]
        sweep = dataclasses.replace(sweep, root=root, items=items)
    return sweep
