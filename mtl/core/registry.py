"""Typed registries of named components, filled by plugins.

Each component family (datasets, architectures, encoders, task types, reporters) has one
:class:`Registry`. A plugin's registration hook receives a :class:`PluginRegistry`,
a staging view: its additions land only if the whole plugin registers cleanly.
"""

from __future__ import annotations

import difflib
import importlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mtl.core.errors import UserError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class RegistrationError(Exception):
    """A plugin registered something invalid (bad or duplicate name).

    ``other`` names the plugin that registered the name first, for a duplicate.
    """

    def __init__(self, message: str, other: str | None = None):
        super().__init__(message)
        self.other = other


@dataclass
class Entry:
    name: str
    component: Any
    plugin: str


def did_you_mean(name: str, candidates: list[str]) -> str:
    """' (did you mean 'x'?)' for the closest candidate, or ''."""
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown_name_message(kind: str, name: str, known: list[str], hint: str = "") -> str:
    listing = ", ".join(sorted(known)) or "none registered"
    return f"unknown {kind} '{name}'{did_you_mean(name, known)}; available: {listing}{hint}"


MANY_TASKS = 20  # beyond this, an unknown-task error shows close matches, not every name


def unknown_task_message(
    dataset_name: str, name: str, offered: list[str], tasks_command: str = ""
) -> str:
    """'offers no task' with every name when there are few; with many, the close matches
    and the command that lists them all (``tasks_command``, else ``mtl plugins show``)."""
    if len(offered) <= MANY_TASKS:
        return (
            f"dataset '{dataset_name}' offers no task '{name}'"
            f"{did_you_mean(name, offered)}; available: {', '.join(offered)}"
        )
    close = difflib.get_close_matches(name, offered, n=5, cutoff=0.6)
    near = f"; close matches: {', '.join(close)}" if close else "; no close match"
    where = tasks_command or f"mtl plugins show {dataset_name}"
    return (
        f"dataset '{dataset_name}' offers no task '{name}'{near} "
        f"(it offers {len(offered)} tasks; list them with '{where}')"
    )


@dataclass
class Registry:
    """Named components of one family, e.g. ``Registry('dataset', 'mtl.core.dataset:Dataset')``.

    ``base`` names the class components must be instances of (or, with
    ``classes=True``, subclasses of); it is imported only when something registers.
    """

    kind: str
    base: str | None = None
    classes: bool = False
    entries: dict[str, Entry] = field(default_factory=dict)
    resolvers: list[tuple[Callable[[str], Any], str]] = field(default_factory=list)

    def check_type(self, name: str, component: Any) -> None:
        if self.base is None:
            return
        module, _, attr = self.base.partition(":")
        base = getattr(importlib.import_module(module), attr)
        if self.classes:
            ok = isinstance(component, type) and issubclass(component, base)
            want = f"a subclass of {module}.{attr}"
        else:
            ok = isinstance(component, base)
            want = f"an instance of {module}.{attr}"
        if not ok:
            got = (
                f"class {component.__name__}"
                if isinstance(component, type)
                else type(component).__name__
            )
            raise RegistrationError(f"{self.kind} '{name}' must be {want}, got {got}")

    def names(self) -> list[str]:
        return sorted(self.entries)

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries[n] for n in self.names())

    def get(self, name: str) -> Any:
        """The component called ``name``; a :class:`UserError` listing the options if unknown."""
        if name in self.entries:
            return self.entries[name].component
        for resolve, _plugin in self.resolvers:
            component = resolve(name)
            if component is not None:
                return component
        hint = ""
        if self.resolvers:
            docs = [getattr(r, "__doc__", None) for r, _ in self.resolvers]
            hint = "".join(f"; or {d.strip().splitlines()[0]}" for d in docs if d)
        raise UserError(unknown_name_message(self.kind, name, self.names(), hint))

    def owner(self, name: str) -> str:
        return self.entries[name].plugin


class PluginRegistry:
    """What a registration hook receives: records one plugin's additions to one family."""

    def __init__(self, registry: Registry, plugin: str):
        self.kind = registry.kind
        self._registry = registry
        self.plugin = plugin
        self.added: list[Entry] = []
        self.resolvers: list[Callable[[str], Any]] = []

    def add(self, name: str, component: Any) -> None:
        """Register ``component`` under ``name``; duplicate names are rejected."""
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise RegistrationError(f"invalid {self.kind} name {name!r}")
        if name in self._registry.entries:
            other = self._registry.entries[name].plugin
            raise RegistrationError(
                f"{self.kind} '{name}' is registered by two plugins: '{other}' (loaded first, "
                f"kept) and '{self.plugin}' (skipped); either may be the one at fault: rename "
                "it in one of them or uninstall one",
                other=other,
            )
        if any(e.name == name for e in self.added):
            raise RegistrationError(f"{self.kind} '{name}' registered twice")
        self._registry.check_type(name, component)
        self.added.append(Entry(name, component, self.plugin))

    def add_resolver(self, resolve: Callable[[str], Any]) -> None:
        """Accept a family of names: ``resolve(name)`` returns a component or ``None``."""
        self.resolvers.append(resolve)

    def commit(self) -> None:
        for entry in self.added:
            self._registry.entries[entry.name] = entry
        self._registry.resolvers.extend((r, self.plugin) for r in self.resolvers)


@dataclass
class Registries:
    """All component families; ``families`` maps each hook name to its registry."""

    datasets: Registry = field(
        default_factory=lambda: Registry("dataset", "mtl.core.dataset:Dataset")
    )
    architectures: Registry = field(
        default_factory=lambda: Registry("architecture", "mtl.core.architecture:Architecture")
    )
    task_types: Registry = field(
        default_factory=lambda: Registry("task type", "mtl.core.task_type:TaskType")
    )
    encoders: Registry = field(
        default_factory=lambda: Registry("encoder", "mtl.core.encoder:Encoder")
    )
    reporters: Registry = field(
        default_factory=lambda: Registry("reporter", "mtl.core.reporter:Reporter", classes=True)
    )
    weightings: Registry = field(
        default_factory=lambda: Registry("weighting", "mtl.core.weighting:Weighting", classes=True)
    )

    @property
    def families(self) -> dict[str, Registry]:
        return {
            "mtl_register_datasets": self.datasets,
            "mtl_register_architectures": self.architectures,
            "mtl_register_encoders": self.encoders,
            "mtl_register_task_types": self.task_types,
            "mtl_register_reporters": self.reporters,
            "mtl_register_weightings": self.weightings,
        }
