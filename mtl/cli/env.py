"""``mtl env``: where this process sits in a distributed job, and what is misconfigured."""

from __future__ import annotations

from typing import Annotated

import typer

from mtl.cli.common import err, out, plugins, reports_errors


@reports_errors
def env(
    device: Annotated[str, typer.Option(help="auto, cpu or cuda, as for 'mtl train'.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Rank, world size, rendezvous, backend and device as 'mtl train' would see them.

    Exit 2 when something is misconfigured (each problem on its own line). Try it
    inside a job: srun mtl env, or torchrun --nproc-per-node 2 -m mtl env.
    """
    import json
    import os

    from mtl.core.config import coerce
    from mtl.core.errors import UserError
    from mtl.distributed.env import (
        backend_for,
        check_devices,
        discover,
        signal_problems,
        warning_signal,
    )

    plugins()  # 'mtl train' would load them: warn (or, with --strict, fail) as it would
    device = coerce("device", device)  # the devices 'mtl train' takes; anything else: exit 2
    d = discover()
    problems = list(d.problems)
    try:
        import torch

        gpus = torch.cuda.device_count()
    except ImportError:  # pragma: no cover - torch is a dependency
        gpus = 0
    use_cuda = device == "cuda" or (device == "auto" and gpus > 0)
    backend = backend_for("cuda" if use_cuda else "cpu")
    try:
        signal = warning_signal()
        problems += signal_problems(signal, backend)
    except UserError as exc:
        signal = os.environ.get("MTL_PREEMPT_SIGNAL", "")
        problems.append(str(exc))
    if d.distributed or device == "cuda":
        problems += check_devices(d, "cuda" if use_cuda else device, gpus)
    dev = f"cuda:{d.local_rank}" if use_cuda else "cpu"
    info = {
        "launcher": d.source,
        "rank": d.rank,
        "local_rank": d.local_rank,
        "world_size": d.world_size,
        "local_world_size": d.local_world_size,
        "master_addr": d.master_addr,
        "master_port": d.master_port,
        "backend": backend if d.distributed else None,
        "device": dev,
        "visible_gpus": gpus,
        "warning_signal": signal,
        "slurm_job": os.environ.get("SLURM_JOB_ID"),
        "problems": problems,
    }
    if as_json:
        typer.echo(json.dumps(info, indent=2))
    else:
        width = max(len(k) for k in info)
        for key, value in info.items():
            if key != "problems":
                out.print(f"{key:<{width}}  {value if value is not None else '-'}")
        for p in problems:
            err.print(f"[bold red]misconfigured:[/] {p}")
    if problems:
        raise typer.Exit(2)
