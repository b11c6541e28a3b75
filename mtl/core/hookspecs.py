"""The plugin contract: every hook a plugin may implement.

Plugins implement these with ``@mtl.hookimpl``; each registration hook receives a
registry and adds named components to it (``registry.add(name, component)``).
Duplicate names and broken plugins are reported and skipped, never fatal unless
``--strict`` is given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

from mtl import PROJECT

if TYPE_CHECKING:
    from mtl.core.registry import PluginRegistry

hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec
def mtl_register_datasets(registry: PluginRegistry) -> None:
    """Add datasets: ``registry.add(name, dataset)``.

    A dataset subclasses :class:`mtl.core.dataset.Dataset`: it declares its options
    and offered tasks, and ``load(options, tasks)`` returns a
    :class:`mtl.core.data.MultiTaskData`.
    """


@hookspec
def mtl_register_architectures(registry: PluginRegistry) -> None:
    """Add architectures: ``registry.add(name, architecture)``.

    An architecture subclasses :class:`mtl.core.architecture.Architecture`; its
    ``build(spec)`` returns a ``torch.nn.Module`` mapping an input batch to one
    output tensor per task. ``registry.add_resolver(fn)`` lets a plugin accept a
    family of names (e.g. sharing patterns such as ``STST``): ``fn(name)`` returns a
    component or ``None``.
    """


@hookspec
def mtl_register_encoders(registry: PluginRegistry) -> None:
    """Add encoders: ``registry.add(name, encoder)``.

    An encoder subclasses :class:`mtl.core.encoder.Encoder`; its ``build(spec)``
    returns a ``torch.nn.Module`` mapping an input batch (e.g. padded sequences with
    lengths) to one feature vector per example, which the architecture reads.
    """


@hookspec
def mtl_register_task_types(registry: PluginRegistry) -> None:
    """Add task types: ``registry.add(kind, task_type)``.

    A task type subclasses :class:`mtl.core.task_type.TaskType`: output size, loss
    over labelled examples, decoding of outputs, and metrics with their directions.
    """


@hookspec
def mtl_register_reporters(registry: PluginRegistry) -> None:
    """Add reporters: ``registry.add(name, reporter_class)``.

    A reporter subclasses :class:`mtl.core.reporter.Reporter`; the trainer calls it
    at the start of a run, after every epoch and at the end.
    """


@hookspec
def mtl_register_weightings(registry: PluginRegistry) -> None:
    """Add task-balancing methods: ``registry.add(name, weighting_class)``.

    A weighting subclasses :class:`mtl.core.weighting.Weighting` (a ``torch.nn.Module``):
    it declares what it needs (``"losses"``, ``"gradients"`` of the shared parameters,
    or the shared ``"representation"``) and its options, and ``combine(info)`` turns a
    step's per-task losses (and, if declared, per-task gradients) into task weights or a
    combined shared gradient. The trainer builds one instance per run.
    """
