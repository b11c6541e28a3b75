"""Starting, resuming and evaluating runs: what the CLI commands call."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
from pathlib import Path
from typing import Any

from mtl.core.config import TrainConfig, build_config
from mtl.core.errors import AlreadyFinished, Interrupted, UserError
from mtl.core.experiment import Experiment, prepare
from mtl.core.locks import run_lock
from mtl.core.plugins import Plugins
from mtl.core.reporter import Reporter
from mtl.core.runs import (
    CONFIG,
    DROPPED,
    FINISHED,
    LAST,
    LOCK,
    MANIFEST,
    PREV,
    RESULTS,
    RunDir,
    default_run_dir,
    manifest,
    write_json,
)
from mtl.core.scoring import score_checkpoint
from mtl.core.sharing import check_sharing
from mtl.core.train import STOP_FILE, Trainer
from mtl.core.transfer import freeze, setup_transfer
from mtl.distributed import group
from mtl.distributed.env import warning_signal
from mtl.distributed.preempt import WARN, Preempted, requeue

ALWAYS_ON_REPORTERS = ("jsonl",)
RESUMABLE_OVERRIDES = {
    "epochs", "patience", "report", "device", "eval_batch_size", "log_format", "mlflow_uri",
    "threads", "keep_checkpoints",
}  # fmt: skip


def resolved_config(exp: Experiment, run_dir: Path) -> TrainConfig:
    """The configuration with every default made explicit, as saved in ``config.json``."""
    cfg = exp.config
    return dataclasses.replace(
        cfg,
        tasks=exp.main_task_names,
        dataset_options=dict(exp.options),
        encoder_options=dict(exp.encoder_options),
        weighting_options=dict(exp.weighting_options),
        arch_options=dict(exp.arch_options),
        lr=cfg.learning_rate,
        dropout=cfg.layer_dropout(),
        run_dir=str(run_dir),
    )


def make_reporters(
    plugins: Plugins, config: TrainConfig, extra: list[Reporter] | None
) -> list[Reporter]:
    """The run's reporters, each checked against the config (before anything is written)."""
    if not group.context().is_writer:  # only rank 0 reports and writes the run directory
        return []
    names = config.report
    wanted = list(ALWAYS_ON_REPORTERS) + [n for n in names if n not in ALWAYS_ON_REPORTERS]
    reporters = [plugins.registries.reporters.get(n)() for n in wanted] + list(extra or [])
    for r in reporters:
        r.check(config.to_dict())
    return reporters


def _fit(trainer: Trainer) -> dict[str, Any]:
    trainer.flag.install(warning_signal())
    try:
        results = trainer.fit()
        if trainer.dist.is_writer and results.get("status") in FINISHED:
            # --keep-checkpoints: a finished run keeps best.pt, and last.pt only if asked
            for name in DROPPED[trainer.exp.config.keep_checkpoints]:
                trainer.run.file(name).unlink(missing_ok=True)
        return results
    except KeyboardInterrupt:
        raise Interrupted(trainer.run.path) from None
    except Preempted as exc:
        # the checkpoint is on disk; on the warning signal rank 0 requeues the SLURM job
        if exc.kind == WARN and trainer.dist.is_writer:
            exc.requeued = requeue(where=f"in epoch {exc.epoch} at step {exc.step}")
        raise
    finally:
        trainer.flag.uninstall()
        for r in trainer.reporters:
            r.close()


def start_run(
    config: TrainConfig, plugins: Plugins, extra_reporters: list[Reporter] | None = None
) -> tuple[RunDir, dict[str, Any]]:
    """Train a new run; everything is validated before the run directory is created."""
    exp = prepare(config, plugins)
    transfer = setup_transfer(config, exp.model)
    if config.freeze != "none":  # frozen shared layers are not shared parameters to balance
        where = f"{config.arch}' with --freeze '{config.freeze}"
        check_sharing(exp.model, exp.weighting.needs, config.weighting, where)
    reporters = make_reporters(plugins, config, extra_reporters)
    path = Path(config.run_dir) if config.run_dir else default_run_dir(config.dataset, config.arch)
    path = Path(group.broadcast_object(str(path)))  # ranks agree on one directory
    if not group.context().is_writer:
        run = RunDir(path)
        exp.config = resolved_config(exp, run.path)
        group.barrier()  # rank 0 has created it
        return run, _fit(Trainer(exp, run, reporters))
    RunDir.check_new(path)  # before the lock file is put in someone's directory
    with run_lock(path):
        run = RunDir.create(path)
        exp.config = resolved_config(exp, run.path)
        write_json(run.file(CONFIG), exp.config.to_dict())
        write_json(
            run.file(MANIFEST),
            manifest(
                exp.config.to_dict(),
                plugins,
                exp.data.fingerprint(),
                str(exp.device),
                exp.data.provenance,
            ),
        )
        if transfer is not None:  # the source run of --init-from
            write_json(run.file(MANIFEST), run.manifest() | {"init_from": transfer})
        group.barrier()
        return run, _fit(Trainer(exp, run, reporters))


def resume_run(
    path: Path,
    plugins: Plugins,
    flags: dict[str, Any] | None = None,
    extra_reporters: list[Reporter] | None = None,
) -> tuple[RunDir, dict[str, Any]]:
    """Continue an interrupted run from ``last.pt``; ends where an uninterrupted run would.

    The writing process holds the run's lock throughout (a second writer is refused);
    without ``last.pt`` (removed, or lost) the previous one, ``last.prev.pt``, is used.
    """
    run = RunDir.open(path)
    writer = group.context().is_writer
    with run_lock(run.path) if writer else contextlib.nullcontext():
        return _resume(run, plugins, flags, extra_reporters, writer)


def checkpoint_to_resume(run: RunDir) -> str | None:
    """``last.pt``, else ``last.prev.pt`` when only that one is there, else None."""
    for name in (LAST, PREV):
        if run.file(name).is_file():
            return name
    return None


def _resume(
    run: RunDir,
    plugins: Plugins,
    flags: dict[str, Any] | None,
    extra_reporters: list[Reporter] | None,
    writer: bool,
) -> tuple[RunDir, dict[str, Any]]:
    saved = run.config()
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    for key in flags:
        if key not in RESUMABLE_OVERRIDES:
            raise UserError(
                f"--{key.replace('_', '-')} cannot change when resuming (the run was started "
                f"with {saved.get(key)!r}); only {', '.join(sorted(RESUMABLE_OVERRIDES))} may"
            )
    source = checkpoint_to_resume(run)
    if source is None and run.file(RESULTS).is_file():  # finished; resume files dropped
        raise finished(run, flags.get("epochs"), extendable=False)
    if source is None:
        raise UserError(
            f"run '{run.path}' has no checkpoint to resume from (no {LAST} or {PREV}): it "
            "never finished an epoch; start it over with the same command and --resume auto, "
            "or remove the directory"
        )
    config = build_config(base=saved, flags=flags)
    exp = prepare(config, plugins)
    if exp.data.fingerprint() != run.manifest().get("data_fingerprint"):
        raise UserError(
            f"the data of dataset '{config.dataset}' changed since run '{run.path}' started "
            "(fingerprint differs); start a new run"
        )
    state = run.load_checkpoint(source, map_location=exp.device)
    freeze(exp.model, config.freeze)  # weights come from the checkpoint, frozen as before
    reporters = make_reporters(plugins, config, extra_reporters)
    trainer = Trainer(exp, run, reporters)
    trainer.restore(state, source)
    group.barrier()  # every rank has read the checkpoint and seen no STOP file yet
    if writer:
        (run.path / STOP_FILE).unlink(missing_ok=True)
        run.remove_orphans()  # temporary files of a write that a kill interrupted
    if trainer.status == "stopped" or (
        trainer.status == "completed" and trainer.epoch < config.epochs
    ):
        trainer.status = "running"
    if writer:
        write_json(run.file(CONFIG), config.to_dict())
        run.truncate_metrics(trainer.epoch)
    group.barrier()
    if trainer.status != "running" and run.file(RESULTS).exists():
        for r in reporters:
            r.close()
        raise finished(run, flags.get("epochs"), extendable=True)
    return run, _fit(trainer)


def finished(run: RunDir, epochs: int | None, extendable: bool) -> Exception:
    """What ``--resume`` of a finished run says: :class:`AlreadyFinished` (exit 0) with
    how to train it further, or a :class:`UserError` when more epochs were asked of a run
    that kept no resume checkpoint."""
    results = run.results()
    status, done = results.get("status", "completed"), results.get("epochs_run")
    what = f"run '{run.path}' is finished ({status.replace('_', ' ')} after {done} epochs)"
    if not extendable:
        text = (
            f"{what} and kept only best.pt (--keep-checkpoints "
            f"{run.config().get('keep_checkpoints', 'best')}), so it cannot be resumed or "
            "extended; to train longer start a new run with more --epochs (with "
            "--keep-checkpoints last, a finished run can be extended by --resume)"
        )
        if epochs is not None and done is not None and epochs > done:
            return UserError(text)
        return AlreadyFinished(text)
    if status == "early_stopped":
        return AlreadyFinished(
            f"{what}: it stopped early (--patience) and is not continued; start a new run "
            "to train it otherwise"
        )
    return AlreadyFinished(
        f"{what}; nothing to do. To train it further: mtl train --resume {run.path} "
        f"--epochs N (N > {done})"
    )


def start_or_resume(
    config: TrainConfig, plugins: Plugins, extra_reporters: list[Reporter] | None = None
) -> tuple[RunDir, dict[str, Any]]:
    """``--resume auto``: continue the run in ``config.run_dir`` if it has a checkpoint,
    else start it there (what a requeued SLURM job does on every start).

    A run killed before its first checkpoint (while loading data or in its first epoch)
    is started over: its directory is emptied, under the run's lock.
    """
    if not config.run_dir:
        raise UserError("--resume auto needs a fixed --run-dir (or run-dir in the config file)")
    path = Path(config.run_dir)
    writer = group.context().is_writer
    if writer and path.exists() and not path.is_dir():
        raise UserError(f"--run-dir '{path}' is a file, not a directory; choose another path")
    with run_lock(path) if writer and path.is_dir() else contextlib.nullcontext():
        run = RunDir(path)
        if run.file(CONFIG).is_file() and checkpoint_to_resume(run) is not None:
            return resume_run(path, plugins, {}, extra_reporters)
        if run.file(CONFIG).is_file() and run.file(RESULTS).is_file():  # finished, lean
            raise finished(run, config.epochs, extendable=False)
        if writer and path.is_dir():
            _clear_unstarted(run)
        group.barrier()
        return start_run(config, plugins, extra_reporters)


def _clear_unstarted(run: RunDir) -> None:
    """Empty a run directory that never got a checkpoint (keeping the lock file), if it
    is an mtl run's; anything else is left for :meth:`RunDir.create` to refuse."""
    entries = [p for p in run.path.iterdir() if p.name != LOCK]
    ours = any(p.name in (CONFIG, MANIFEST, "checkpoints") for p in entries)
    if not ours:
        return
    if run.file(RESULTS).exists():  # finished, its resume checkpoints dropped
        raise finished(run, run.config().get("epochs"), extendable=False)
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)


def load_experiment(
    path: Path, plugins: Plugins, device: str | None = None
) -> tuple[RunDir, Experiment]:
    """A finished or running run's experiment, rebuilt from its saved configuration."""
    run = RunDir.open(path)
    try:
        config = build_config(base=run.config(), flags={"device": device})
    except TypeError as exc:
        raise UserError(
            f"'{run.file(CONFIG)}' does not hold an mtl training config ({exc})"
        ) from None
    return run, prepare(config, plugins)


def evaluate_run(
    path: Path, plugins: Plugins, splits: tuple[str, ...], device: str | None = None
) -> dict[str, Any]:
    """Reload ``best.pt`` and score ``splits``: the numbers ``results.json`` holds."""
    run, exp = load_experiment(path, plugins, device)
    return score_checkpoint(exp, run, splits=splits)
