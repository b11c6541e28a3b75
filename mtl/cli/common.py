"""What every command shares: plugin loading, one-line errors, consoles."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False)

STATE: dict[str, Any] = {"strict": False}

THREADS_HELP = (
    "CPU threads torch uses. \\[default: $OMP_NUM_THREADS, else the CPUs this process may "
    "use (its affinity mask, capped by $SLURM_CPUS_PER_TASK)]"
)
ThreadsOpt = Annotated[str | None, typer.Option("--threads", help=THREADS_HELP)]


def use_threads_option(value: str | None) -> None:
    """Apply a command's --threads (a positive integer, else one error line) to its runs."""
    from mtl.core import threads

    threads.override(None if value is None else threads.check_threads(value))


def plugins() -> Any:
    """Load plugins once; print one warning line if some were skipped."""
    from mtl.core.plugins import get_plugins

    loaded = get_plugins(strict=STATE["strict"])
    warning = loaded.warning()
    if warning and not STATE.get("warned"):
        err.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
        STATE["warned"] = True
    return loaded


def fail(message: str, code: int) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    return typer.Exit(code)


def reports_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn user and runtime errors into one line and an exit code (2 and 1), no traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from mtl.core.errors import MtlError

        try:
            return func(*args, **kwargs)
        except MtlError as exc:
            if exc.exit_code == 0:  # nothing to do (e.g. AlreadyFinished): a note, not an error
                err.print(f"[yellow]note:[/] {escape(str(exc))}", soft_wrap=True)
                raise typer.Exit(0) from None
            raise fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None

    return wrapper
