"""``mtl plugins show NAME``: one component's description, options (with defaults and
help) and, for a dataset, its tasks; for a task type, its metrics."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mtl.cli.common import out, reports_errors
from mtl.cli.common import plugins as load
from mtl.cli.tables import show_table

MAX_TASKS_LISTED = 40


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _print(item: dict[str, Any]) -> None:
    def say(text: str) -> None:
        out.print(text, markup=False, highlight=False, soft_wrap=True)

    say(f"{item['kind']} {item['name']} (plugin {item['plugin']})")
    if item["description"]:
        say(f"  {item['description']}")
    if item["doc"]:
        say(item["doc"])
    if item["options"]:
        keys = ("name", "type", "default", "allowed", "help")
        rows = [[_value(o[k]) for k in keys] for o in item["options"]]
        show_table(["option", "type", "default", "allowed", "help"], rows, set(), "options")
    elif item["kind"] in ("dataset", "encoder", "weighting", "architecture"):
        say("  options: none")
    if "metrics" in item:
        metrics = ", ".join(
            f"{m['name']} ({'higher' if m['higher_is_better'] else 'lower'} is better)"
            for m in item["metrics"]
        )
        say(f"  metrics: {metrics}; primary: {item['primary']}")
    if "tasks" in item:
        if item["tasks"] is None:
            say(f"  tasks: depend on the data ({item['tasks_note']})")
            return
        tasks = item["tasks"]
        shown = ", ".join(f"{t['name']} ({t['kind']})" for t in tasks[:MAX_TASKS_LISTED])
        extra = len(tasks) - MAX_TASKS_LISTED
        more = f", … {extra} more (--json lists all)" if extra > 0 else ""
        say(f"  tasks ({len(tasks)}): {shown}{more}")
        if item.get("default_tasks"):
            say(f"  default tasks: {', '.join(item['default_tasks'])}")


@reports_errors
def show(
    name: Annotated[
        str,
        typer.Argument(help="A dataset, encoder, architecture, weighting, task type or reporter."),
    ],
    kind: Annotated[
        str | None,
        typer.Option(
            help="Only this kind, when a name is used by several: dataset, encoder, architecture, weighting, 'task type', reporter."
        ),
    ] = None,
    dataset_option: Annotated[
        list[str] | None,
        typer.Option(
            "-o",
            "--dataset-option",
            help="Dataset option KEY=VALUE for the task list (repeatable).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """A component's options with defaults and help; a dataset's tasks, a task type's metrics.

    Example: mtl plugins show synthetic ; mtl plugins show lstm ; mtl plugins show binary
    """
    from mtl.core.describe import find_components
    from mtl.core.options import split_assignments
    from mtl.core.runs import dumps

    given = split_assignments(dataset_option or [])
    found = find_components(load().registries, name, kind, given)
    if as_json:
        out.print(dumps(found), markup=False, highlight=False, soft_wrap=True)
        return
    for i, item in enumerate(found):
        if i:
            out.print()
        _print(item)
