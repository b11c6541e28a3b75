"""Plugin manager: built-ins and entry points through one path, with safe loading.

Built-in plugins are a fixed list of modules registered exactly like third-party
ones (entry-point group ``mtl``). A plugin that fails to import, implements a hook
that does not exist, or registers a bad or duplicate name is recorded as a
:class:`PluginFailure` and skipped; with ``strict=True`` it is fatal.
``MTL_PLUGINS`` limits which external plugins load: unset loads all, an empty
value loads none, ``a,b`` loads only those entry-point names.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from importlib import import_module, metadata
from types import ModuleType
from typing import Any

import pluggy

from mtl import PROJECT, __version__
from mtl.core import hookspecs
from mtl.core.errors import UserError
from mtl.core.registry import PluginRegistry, RegistrationError, Registries

ENTRY_POINT_GROUP = "mtl"
ENV_VAR = "MTL_PLUGINS"
BUILTIN_PLUGINS = (
    "mtl.plugins.tasks",
    "mtl.plugins.architectures",
    "mtl.plugins.encoders",
    "mtl.plugins.datasets",
    "mtl.plugins.reporters",
    "mtl.plugins.weightings",
)


@dataclass
class PluginInfo:
    """One plugin that loaded: where it came from and what it registered."""

    name: str
    source: str  # "builtin" or "entry point"
    version: str
    module: str
    hooks: list[str] = field(default_factory=list)
    registered: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class PluginFailure:
    """One plugin that was skipped, and why."""

    name: str
    reason: str
    clashes_with: str | None = None  # the plugin that registered the same name first


@dataclass
class Plugins:
    registries: Registries
    loaded: list[PluginInfo]
    failures: list[PluginFailure]

    def warning(self) -> str | None:
        """One line summarising load failures, or ``None``."""
        if not self.failures:
            return None
        names = ", ".join(
            f"{f.name}: a name clash with plugin '{f.clashes_with}'" if f.clashes_with else f.name
            for f in self.failures
        )
        n = len(self.failures)
        return f"{n} plugin{'s' if n > 1 else ''} skipped ({names}); run 'mtl plugins' for details"


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines) if lines else type(exc).__name__


def _allowed_external(env: dict[str, str]) -> set[str] | None:
    value = env.get(ENV_VAR)
    if value is None:
        return None
    return {v.strip() for v in value.split(",") if v.strip()}


def _external_candidates(env: dict[str, str]) -> list[tuple[str, Any]]:
    allowed = _allowed_external(env)
    eps = metadata.entry_points(group=ENTRY_POINT_GROUP)
    return [
        (ep.name, ep)
        for ep in sorted(eps, key=lambda e: e.name)
        if allowed is None or ep.name in allowed
    ]


def _is_entry_point(ref: object) -> bool:
    """The standard library's ``EntryPoint``, or the ``importlib_metadata`` backport's:
    once the backport is imported (mlflow does), ``metadata.entry_points()`` also returns
    the backport's objects for the distributions its finder discovers."""
    return isinstance(ref, metadata.EntryPoint) or (
        type(ref).__name__ == "EntryPoint" and callable(getattr(ref, "load", None))
    )


def _unknown_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    problems = []
    spec_names = [n for n in dir(hookspecs) if n.startswith("mtl_")]
    for attr in dir(plugin):
        opts = pm.parse_hookimpl_opts(plugin, attr)
        if opts is None or opts.get("optionalhook"):
            continue
        if attr not in spec_names:
            close = difflib.get_close_matches(attr, spec_names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(f"implements unknown hook '{attr}'{hint}")
    return problems


def load_plugins(
    strict: bool = False,
    env: dict[str, str] | None = None,
    extra: list[tuple[str, object]] | None = None,
) -> Plugins:
    """Load built-in, entry-point and ``extra`` (name, module-or-object) plugins."""
    env = dict(os.environ) if env is None else env
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    registries = Registries()
    loaded: list[PluginInfo] = []
    failures: list[PluginFailure] = []

    candidates: list[tuple[str, str, str, Any]] = []
    for mod in BUILTIN_PLUGINS:
        candidates.append((mod.rsplit(".", 1)[-1], "builtin", __version__, mod))
    external = _external_candidates(env)
    for name, ep in external:
        version = getattr(ep.dist, "version", "?") if getattr(ep, "dist", None) else "?"
        candidates.append((name, "entry point", version, ep))
    for name in sorted((_allowed_external(env) or set()) - {n for n, _ in external}):
        failures.append(
            PluginFailure(name, f"named in {ENV_VAR} but no plugin of that name is installed")
        )
    for name, obj in extra or []:
        candidates.append((name, "entry point", "?", obj))

    for name, source, version, ref in candidates:
        try:
            if isinstance(ref, str):
                plugin = import_module(ref)
            elif _is_entry_point(ref):
                plugin = ref.load()
            else:
                plugin = ref
        except Exception as exc:  # noqa: BLE001 - any import error is reported, not raised
            failures.append(
                PluginFailure(
                    name, f"error importing plugin: {type(exc).__name__}: {_one_line(exc)}"
                )
            )
            continue
        module_name = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__name__
        problems = _unknown_hooks(pm, plugin)
        if problems:
            failures.append(PluginFailure(name, "; ".join(problems)))
            continue
        try:
            pm.register(plugin, name=name)
        except ValueError:
            failures.append(PluginFailure(name, f"a plugin named '{name}' is already loaded"))
            continue
        except Exception as exc:  # noqa: BLE001 - pluggy's validation of hook signatures
            failures.append(PluginFailure(name, f"invalid plugin: {_one_line(exc)}"))
            continue

        info = PluginInfo(name, source, version, module_name)
        staged: list[PluginRegistry] = []
        error, clash = None, None
        for hook_name, registry in registries.families.items():
            impls = [
                i for i in getattr(pm.hook, hook_name).get_hookimpls() if i.plugin_name == name
            ]
            for impl in impls:
                view = PluginRegistry(registry, name)
                try:
                    impl.function(registry=view)
                except RegistrationError as exc:
                    error, clash = str(exc), exc.other
                except Exception as exc:  # noqa: BLE001
                    error = f"{hook_name} raised {type(exc).__name__}: {_one_line(exc)}"
                if error:
                    break
                staged.append(view)
                info.hooks.append(hook_name)
            if error:
                break
        if error:
            pm.unregister(name=name)
            failures.append(PluginFailure(name, error, clash))
            continue
        for view in staged:
            view.commit()
            if view.added or view.resolvers:
                names = [e.name for e in view.added]
                names += [f"<{r.__name__}>" for r in view.resolvers]
                info.registered.setdefault(view.kind, []).extend(names)
        loaded.append(info)

    if strict and failures:
        f = failures[0]
        raise UserError(f"plugin '{f.name}' failed to load: {f.reason} (strict mode)")
    return Plugins(registries, loaded, failures)


_CACHE: dict[bool, Plugins] = {}


def get_plugins(strict: bool = False) -> Plugins:
    """The process-wide plugins, loaded once."""
    if strict not in _CACHE:
        _CACHE[strict] = load_plugins(strict=strict)
    return _CACHE[strict]
