"""What ``mtl plugins show NAME`` prints: a component's description, options with
defaults and help, and what its kind adds (a dataset's tasks, a task type's metrics)."""

from __future__ import annotations

import difflib
import inspect
from typing import Any

from mtl.core.errors import UserError
from mtl.core.options import Option, Retired, resolve_options
from mtl.core.registry import Registries, Registry


def option_row(option: Option) -> dict[str, Any]:
    """An option as the table shows it: name, type, default, allowed values, help."""
    allowed = ""
    if option.choices:
        allowed = ", ".join(option.choices)
    elif option.min is not None or option.max is not None:
        low = "" if option.min is None else f"{option.min:g} ≤ "
        high = "" if option.max is None else f" ≤ {option.max:g}"
        allowed = f"{low}value{high}"
    return {
        "name": option.name,
        "type": option.type.__name__,
        "default": option.default,
        "allowed": allowed,
        "help": option.help,
    }


def _doc(component: Any) -> str:
    cls = component if isinstance(component, type) else type(component)
    doc = inspect.getdoc(cls) or ""
    base_docs = {inspect.getdoc(b) for b in cls.__mro__[1:]}
    return "" if doc in base_docs else doc  # a docstring inherited from the base says nothing


def _dataset_tasks(dataset: Any, name: str, given: dict[str, Any]) -> dict[str, Any]:
    try:
        options = resolve_options(dataset.options, given, f"dataset '{name}'")
        offered = dataset.offered_tasks(dataset.resolve(options))
    except UserError as exc:  # e.g. the data file is not there yet
        return {"tasks": None, "tasks_note": str(exc)}
    return {
        "tasks": [
            {"name": t.name, "kind": t.kind, "description": getattr(t, "description", "") or ""}
            for t in offered
        ],
        "default_tasks": list(dataset.default_tasks),
    }


def describe(kind: str, registry: Registry, name: str, given: dict[str, Any]) -> dict[str, Any]:
    """One component of ``registry`` as a JSON-ready dict."""
    component = registry.get(name)
    entry = registry.entries.get(name)
    if entry is not None:
        plugin = entry.plugin
    else:  # a name a plugin's resolver accepts (e.g. a sharing pattern such as STST)
        plugin = next((p for r, p in registry.resolvers if r(name) is not None), "")
    out: dict[str, Any] = {
        "kind": kind,
        "name": name,
        "plugin": plugin,
        "description": getattr(component, "description", "") or "",
        "doc": _doc(component),
        "options": [
            option_row(o)
            for o in getattr(component, "options", ()) or ()
            if not isinstance(o, Retired)
        ],
    }
    if kind == "dataset":
        out |= _dataset_tasks(component, name, given)
    if kind == "task type":
        out["primary"] = component.primary
        out["metrics"] = [
            {"name": m.name, "higher_is_better": m.higher_is_better} for m in component.metrics
        ]
    return out


def find_components(
    registries: Registries, name: str, kind: str | None = None, given: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every component called ``name`` (one per family that has it), described.

    Unknown names are a :class:`UserError` with the closest registered names."""
    families = [r for r in registries.families.values() if kind in (None, r.kind)]
    if kind is not None and not families:
        kinds = ", ".join(r.kind for r in registries.families.values())
        raise UserError(f"unknown kind '{kind}'; kinds: {kinds}")
    found = []
    for registry in families:
        try:
            found.append(describe(registry.kind, registry, name, given or {}))
        except UserError as exc:
            if name in registry.entries:  # the component exists; describing it failed
                raise
            if kind is not None:
                raise UserError(str(exc)) from None
    if not found:
        every = sorted({n for r in families for n in r.names()})
        close = difflib.get_close_matches(name, every, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        raise UserError(f"no component named '{name}'{hint}; 'mtl plugins' lists them all")
    return found
