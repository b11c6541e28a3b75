"""The ``mtl`` command: one small Typer app per command module, composed here."""

from __future__ import annotations

from typing import Annotated

import typer

from mtl import __version__
from mtl.cli import correlate, data, dummy, evaluate, hpc, plugins, reproduce, train
from mtl.cli import env as env_cmd
from mtl.cli import predict as predict_cmd
from mtl.cli import runs as runs_cli
from mtl.cli import sweep as sweep_cli
from mtl.cli.common import STATE

app = typer.Typer(
    name="mtl",
    help="Multi-task learning for music research: pick data, tasks and a sharing "
    "architecture; train, evaluate and compare.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mtl {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail when any plugin cannot be loaded.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    STATE["strict"] = strict


app.command("train")(train.train)
app.command("evaluate")(evaluate.evaluate)
app.command("dummy")(dummy.dummy)
app.add_typer(plugins.app, name="plugins")
app.add_typer(data.app, name="data")
app.command("correlate")(correlate.correlate)
app.command("predict")(predict_cmd.predict)
app.command("env")(env_cmd.env)
app.add_typer(hpc.app, name="hpc")
app.add_typer(sweep_cli.app, name="sweep")
app.command("reproduce")(reproduce.reproduce)
app.add_typer(runs_cli.app, name="runs")


def run() -> None:
    """The ``mtl`` entry point: a usage error (an option of the wrong type, an unknown
    option, a missing argument) is one ``error:`` line and exit 2, like every other input
    error; ``mtl`` alone (or a group without its command) prints its help."""
    import sys

    from mtl.cli.common import fail

    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # the click exceptions Typer raises
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()
            sys.exit(exc.exit_code)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        fail(f"{exc.format_message()}{hint}", exc.exit_code)
        sys.exit(exc.exit_code)
    except typer.Abort:
        fail("aborted", 1)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
