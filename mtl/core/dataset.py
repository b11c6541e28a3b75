"""The dataset component interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from mtl.core.data import MultiTaskData, TaskSpec
from mtl.core.errors import UserError
from mtl.core.options import Option

GENERATED_LIMIT = 1_000_000_000  # values a generated dataset may hold (about 8 GB as float64)


def check_generated_size(owner: str, values: float, what: str) -> None:
    """A :class:`UserError` before a generator allocates more than :data:`GENERATED_LIMIT`
    values (``what`` names the options that set the size, e.g. ``n × dim``)."""
    if values > GENERATED_LIMIT:
        raise UserError(
            f"dataset '{owner}': {what} asks for about {values:.3g} generated values, over the "
            f"limit of {GENERATED_LIMIT:.0e}; lower them"
        )


class Dataset(ABC):
    """A source of :class:`MultiTaskData`.

    Subclasses set ``description``, ``options`` (the ``-o KEY=VALUE`` settings they
    accept) and ``default_tasks``; the core validates options and task names before
    calling :meth:`load`, so ``load`` receives parsed values and offered task names.
    ``tasks_command`` is a command that lists the tasks in detail, named when a task is
    unknown (``{option}`` fields are filled from the resolved options, e.g. ``mtl data
    tasks {path}``); without one, ``mtl plugins show NAME`` is named.
    """

    description: str = ""
    options: tuple[Option, ...] = ()
    default_tasks: tuple[str, ...] = ()
    tasks_command: str = ""

    def resolve(self, options: dict[str, Any]) -> dict[str, Any]:
        """The options with anything found implicitly made explicit (e.g. a data file
        located through an environment variable), as ``config.json`` records them so
        ``mtl evaluate`` and ``--resume`` do not depend on the environment."""
        return options

    @abstractmethod
    def offered_tasks(self, options: dict[str, Any]) -> list[TaskSpec]:
        """Every task this dataset can provide with these options (cheap to call)."""

    @abstractmethod
    def load(self, options: dict[str, Any], tasks: list[str]) -> MultiTaskData:
        """Load inputs, the named tasks' targets and masks, and the splits."""
