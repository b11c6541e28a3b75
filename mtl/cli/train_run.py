"""What ``mtl train`` does once its flags are parsed: check them, then start or resume
the run (in one process, or under torchrun/srun with preemption handling)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mtl.cli.common import err, plugins


def run_training(config: Path | None, flags: dict[str, Any], resume: Path | None) -> None:
    """Train from ``flags`` (over the TOML ``config``), or resume the run at ``resume``."""
    from mtl.core.config import build_config
    from mtl.core.errors import Interrupted

    # every value is checked before plugins (and torch) load and before anything is written
    checked = build_config(config if resume is None else None, flags)
    if resume is None and checked.run_dir:
        from mtl.core.runs import RunDir

        RunDir.check_path(Path(checked.run_dir))
    from mtl.core.runner import resume_run, start_run

    loaded = plugins()
    if (resume is not None and str(resume) == "auto") or _launched_distributed():
        from mtl.distributed.launch import train_managed  # ranks, --resume auto, preemption

        return train_managed(config, flags, resume, loaded)
    from mtl.distributed.launch import Preempted, report_preempted

    try:
        if resume is not None:
            if config is not None:
                err.print(
                    "[yellow]warning:[/] --config is ignored with --resume (the run's config is used)"
                )
            run, _ = resume_run(resume, loaded, flags)
        else:
            run, _ = start_run(checked, loaded)
            _transfer_note(run.manifest().get("init_from"))
    except Interrupted as exc:
        err.print("[yellow]interrupted[/]: the last finished epoch is checkpointed; continue with")
        err.print(f"  mtl train --resume {exc.run_dir}")
        raise typer.Exit(130) from None
    except Preempted as exc:
        raise typer.Exit(report_preempted(exc)) from None


def _launched_distributed() -> bool:
    """Started by torchrun, or by srun with more than one task."""
    from mtl.distributed.env import discover

    return discover().source != "single"


def _transfer_note(record: dict | None) -> None:
    from rich.markup import escape

    if not record:
        return
    err.print(
        f"initialised {len(record['loaded'])} weights from {record['run_dir']} "
        f"(--init-part {record['init_part']}, {len(record['skipped'])} not matched); "
        f"frozen: {len(record['frozen'])} parameters (--freeze {record['freeze']})",
        markup=False,
    )
    if record["frozen_not_loaded"]:
        err.print(
            "[yellow]warning:[/] frozen but not loaded (kept at their random initial values): "
            + escape(", ".join(record["frozen_not_loaded"]))
        )
