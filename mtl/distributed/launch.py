"""``mtl train`` under a launcher: join the process group, start or resume, stop cleanly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mtl.cli.common import err
from mtl.core.errors import AlreadyFinished, Interrupted
from mtl.distributed import group
from mtl.distributed.preempt import WARN, Preempted

__all__ = ["Preempted", "report_preempted", "train_managed"]


def report_preempted(exc: Preempted) -> int:
    """Say what happened (rank 0 only) and return the exit code."""
    if group.context().is_writer:
        what = "warning signal" if exc.kind == WARN else "SIGTERM"
        err.print(
            f"[yellow]preempted[/] ({what}) in epoch {exc.epoch} at step {exc.step}: "
            f"checkpointed to {exc.run_dir}"
        )
        if exc.requeued:
            err.print(f"  requeued SLURM job {exc.requeued}; it resumes with --resume auto")
        else:
            err.print(f"  continue with: mtl train --run-dir {exc.run_dir} --resume auto")
    return exc.exit_code


def train_managed(
    config_file: Path | None, flags: dict[str, Any], resume: Path | None, plugins: Any
) -> None:
    from mtl.core.config import build_config
    from mtl.core.runner import resume_run, start_or_resume, start_run

    auto = resume is not None and str(resume) == "auto"
    if resume is not None and not auto:
        ctx = group.setup(flags.get("device") or "auto")
    else:
        config = build_config(config_file, flags)
        ctx = group.setup(config.device)
    orderly = False  # every rank finished (or stopped together on a signal)
    try:
        if auto:
            start_or_resume(config, plugins)
        elif resume is not None:
            resume_run(resume, plugins, flags)
        else:
            start_run(config, plugins)
        orderly = True
    except Interrupted as exc:
        if ctx.is_writer:
            err.print("[yellow]interrupted[/]: the last finished epoch is checkpointed")
            err.print(f"  mtl train --resume {exc.run_dir}")
        raise typer.Exit(130) from None
    except AlreadyFinished as exc:
        orderly = True  # every rank read the same finished run
        if ctx.is_writer:
            from rich.markup import escape

            err.print(f"[yellow]note:[/] {escape(str(exc))}")
        raise typer.Exit(0) from None
    except Preempted as exc:
        orderly = True  # all ranks stopped at the same step after a barrier
        raise typer.Exit(report_preempted(exc)) from None
    finally:
        group.teardown(orderly)
