"""``mtl hpc``: SLURM job scripts from run configs and sweeps; submission that returns at once."""

# no "from __future__ import annotations": the options depend on the factory's argument
from pathlib import Path
from typing import Annotated

import typer

from mtl.cli.common import reports_errors

app = typer.Typer(
    help="SLURM jobs: render the templates in hpc/ from a run config or sweep, or submit them.",
    no_args_is_help=True,
)

TEMPLATE_HELP = "cpu, gpu, array (a sweep), ddp-torchrun or ddp-srun."


def _command(submitting: bool):
    def command(
        template: Annotated[str, typer.Argument(help=TEMPLATE_HELP)],
        config: Annotated[
            Path | None, typer.Option(help="Run config (TOML, the keys of 'mtl train').")
        ] = None,
        sweep: Annotated[Path | None, typer.Option(help="Sweep file (array template).")] = None,
        set_: Annotated[
            list[str] | None,
            typer.Option("--set", help="Sweep override KEY=VALUE (repeatable, array only)."),
        ] = None,
        run_dir: Annotated[
            Path | None,
            typer.Option(
                help="Fixed run directory, resumed on requeue. (default: runs/<config name>)"
            ),
        ] = None,
        job_name: Annotated[
            str | None, typer.Option(help="Job name. (default: the run or sweep name)")
        ] = None,
        time: Annotated[str, typer.Option(help="Time limit, HH:MM:SS or D-HH:MM:SS.")] = "01:00:00",
        cpus_per_task: Annotated[int, typer.Option(help="CPUs per task.")] = 4,
        mem: Annotated[str | None, typer.Option(help="Memory per node, e.g. 16G.")] = None,
        nodes: Annotated[int, typer.Option(help="Nodes (DDP templates).")] = 1,
        gpus_per_node: Annotated[int, typer.Option(help="GPUs per node (DDP templates).")] = 0,
        procs_per_node: Annotated[
            int | None,
            typer.Option(help="Processes per node for CPU DDP. (default: GPUs per node)"),
        ] = None,
        partition: Annotated[str | None, typer.Option(help="Partition.")] = None,
        account: Annotated[str | None, typer.Option(help="Account.")] = None,
        signal: Annotated[
            str,
            typer.Option(
                help="Warning signal and its lead in seconds before the time limit; "
                "the job checkpoints and requeues itself (USR1 clashes with NCCL)."
            ),
        ] = "USR2@180",
        parallel: Annotated[
            int | None, typer.Option(help="Array tasks running at once. (default: all)")
        ] = None,
        log_dir: Annotated[
            Path, typer.Option(help="Folder for the logs (%x-%j.out) and the submitted script.")
        ] = Path("logs"),
        setup: Annotated[
            str | None,
            typer.Option(help="Shell line run before training, e.g. 'module load cuda'."),
        ] = None,
        sbatch: Annotated[
            list[str] | None,
            typer.Option("--sbatch", help="Extra sbatch option (repeatable), e.g. --qos=low."),
        ] = None,
        dry_run: Annotated[
            bool,
            typer.Option(
                "--dry-run", help="Print the script instead of submitting.", hidden=not submitting
            ),
        ] = False,
    ) -> None:
        from mtl.hpc.render import JobSpec, render, submit

        spec = JobSpec(
            template=template,
            config=config,
            sweep=sweep,
            sets=list(set_ or []),
            run_dir=run_dir,
            job_name=job_name,
            time=time,
            cpus_per_task=cpus_per_task,
            mem=mem,
            nodes=nodes,
            gpus_per_node=gpus_per_node,
            procs_per_node=procs_per_node,
            partition=partition,
            account=account,
            signal=signal,
            parallel=parallel,
            log_dir=log_dir,
            setup=setup,
            extra=list(sbatch or []),
        )
        script = render(spec)
        if not submitting or dry_run:
            typer.echo(script, nl=False)
            return
        job = submit(spec, script)
        # plain lines, never wrapped: scripts parse them
        typer.echo(f"submitted job {job.job_id}")
        typer.echo(f"  log:    {job.log}")
        typer.echo(f"  script: {job.script}")
        if job.queue is not None:
            typer.echo(f"  state:  {job.queue.explain()}")

    return reports_errors(command)


app.command(
    "render",
    help="Print a job script for a template, filled from --config (or --sweep for arrays).\n\n"
    "Example: mtl hpc render gpu --config run.toml > job.sbatch",
)(_command(False))
app.command(
    "submit",
    help="Render and sbatch a job; prints its id and log path and returns at once.\n\n"
    "Example: mtl hpc submit ddp-torchrun --config run.toml --nodes 2 --gpus-per-node 4 "
    "--time 12:00:00",
)(_command(True))


@app.command("status")
@reports_errors
def status(
    job_id: Annotated[
        str | None, typer.Argument(help="Job id, e.g. 1234 or 1234_5. (default: your jobs)")
    ] = None,
) -> None:
    """State and pending reason of a job (or of your queued jobs), from squeue.

    A pending job whose reason means it can never start (PartitionConfig, …) says so.
    Example: mtl hpc status 1234
    """
    import getpass

    from mtl.core.errors import UserError
    from mtl.hpc.cluster import queued

    jobs = queued(job_id, None if job_id else getpass.getuser())
    if job_id and not jobs:
        raise UserError(
            f"job {job_id} is not in the queue; finished jobs leave it after SLURM's "
            "MinJobAge: read its log instead"
        )
    if not jobs:
        typer.echo("no queued jobs")
        return
    for job in jobs:  # plain lines, never wrapped: scripts parse them
        typer.echo(
            f"{job.job_id}  {job.name}  {job.explain()}  elapsed {job.elapsed} of "
            f"{job.time_limit}  nodes {job.nodes}  partition {job.partition}"
            + (f"  on {job.nodelist}" if job.nodelist else "")
        )
