"""``mtl reproduce``: train a run again from its saved configuration and compare the metrics."""

from __future__ import annotations

import contextlib
import math
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from mtl.cli.common import ThreadsOpt, err, out, plugins, reports_errors, use_threads_option
from mtl.core.errors import MtlError
from mtl.core.reporter import TIMING_KEYS, Reporter, RunInfo

CLEANUP_SIGNALS = ("SIGHUP", "SIGTERM", "SIGUSR2")


class Signalled(MtlError):
    """A signal ended the re-run; its temporary directory was removed."""

    def __init__(self, signum: int, into: object):
        name = signal.Signals(signum).name
        kept = (
            f"the unfinished re-run stays in {into}" if into else "its temporary re-run was removed"
        )
        super().__init__(f"mtl reproduce stopped by {name}; {kept}")
        self.exit_code = 128 + signum


@contextlib.contextmanager
def _signals_end_the_command() -> Iterator[None]:
    """SIGHUP, SIGTERM, SIGUSR2 raise (so ``finally`` removes the temporary re-run)
    instead of ending the process at once; during training the trainer's own handlers
    (TERM, the warning signal) take over and stop it at the next step."""

    def raise_(signum: int, frame: Any) -> None:
        raise _Caught(signum)

    previous = {}
    for name in CLEANUP_SIGNALS:
        sig = getattr(signal, name)
        previous[sig] = signal.signal(sig, raise_)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Caught(BaseException):  # noqa: N818 - not an error of the code it passes through
    def __init__(self, signum: int):
        self.signum = signum


class _Progress(Reporter):
    """The trainer's progress on stderr (a bar on a terminal, else a line per epoch);
    the command's output is the verdict, not the run's result tables."""

    def on_start(self, info: RunInfo) -> None:
        from mtl.plugins.reporters.console import RichConsole, resolve_log_format
        from mtl.plugins.reporters.log_lines import PlainLog

        mode = resolve_log_format("auto")
        self.view = RichConsole() if mode == "rich" else PlainLog(stream=sys.stderr)
        self.view.on_start(info)

    def on_batch(self, epoch: int, step: int, loss: Any) -> None:
        if hasattr(self.view, "on_batch"):
            self.view.on_batch(epoch, step, loss)

    def on_epoch(self, epoch: int, records: list[dict[str, Any]], improved: bool) -> None:
        self.view.on_epoch(epoch, records, improved)

    def close(self) -> None:
        if hasattr(getattr(self, "view", None), "close"):
            self.view.close()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out |= _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(value, list) and value and isinstance(value[0], (list, dict)):
        out = {}
        for i, v in enumerate(value):
            out |= _flatten(v, f"{prefix}[{i}]")
        return out
    return {prefix: value}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def compare_records(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Every flattened key whose value differs (NaN equals NaN; None equals NaN)."""
    a, b = _flatten(old), _flatten(new)
    diffs = []
    for key in sorted(set(a) | set(b)):
        if key.split(".")[-1] in TIMING_KEYS or key.split("]")[-1].lstrip(".") in TIMING_KEYS:
            continue
        x, y = a.get(key), b.get(key)
        fx, fy = _number(x), _number(y)
        if fx is not None and fy is not None:
            if fx == fy or (math.isnan(fx) and math.isnan(fy)):
                continue
        elif x == y or (x is None and fy is not None and math.isnan(fy)):
            continue
        diffs.append((key, x, y))
    return diffs


@reports_errors
def reproduce(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory (mtl train, sweeps).")],
    into: Annotated[
        Path | None,
        typer.Option(help="Keep the new run in this directory. \\[default: a temporary one]"),
    ] = None,
    tolerance: Annotated[
        float,
        typer.Option(
            help="Largest absolute difference still counted as a match. \\[default: 0, exact]",
            show_default=False,
        ),
    ] = 0.0,
    threads: ThreadsOpt = None,
) -> None:
    """Re-run a run from its config.json and manifest; say whether the metrics match.

    The new run uses the saved, fully resolved configuration (every default explicit)
    and must see the same data (same fingerprint). On CPU with the same versions of
    torch, numpy and mtl the metrics match exactly; the manifest differences that can
    explain a mismatch are listed.
    """
    import math

    from mtl.core.config import build_config
    from mtl.core.errors import UserError
    from mtl.core.runs import RunDir

    use_threads_option(threads)
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise UserError(f"--tolerance must be a finite number of at least 0; got {tolerance}")
    if into is not None:
        RunDir.check_new(into)  # before anything is trained
    old = RunDir.open(run_dir)
    old_results = old.results()
    old_manifest = old.manifest()
    old_history = old.metrics()  # a damaged file is reported before anything is trained
    try:
        config = build_config(base=old.config())
    except TypeError as exc:
        raise UserError(
            f"'{old.file('config.json')}' is not an mtl training config ({exc})"
        ) from None
    loaded = plugins()
    with _signals_end_the_command():
        try:
            new, new_results, versions = _rerun(run_dir, into, config, old_manifest, loaded)
        except _Caught as exc:
            raise Signalled(exc.signum, into) from None
    _verdict(old_results, old_history, old_manifest, new, new_results, versions, tolerance)


def _rerun(
    run_dir: Path, into: Path | None, config: Any, old_manifest: dict[str, Any], loaded: Any
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Train ``config`` again into ``into`` (else a temporary directory, always removed)."""
    import dataclasses
    import shutil
    import tempfile

    from mtl.core.errors import UserError
    from mtl.core.experiment import prepare
    from mtl.core.runner import start_run
    from mtl.core.runs import manifest
    from mtl.distributed.preempt import Preempted

    tmp = None
    if into is None:
        tmp = Path(tempfile.mkdtemp(prefix="mtl-reproduce-"))
        target = tmp / "run"
    else:
        target = into
    config = dataclasses.replace(config, run_dir=str(target), report=[])
    try:
        exp = prepare(config, loaded)
        if exp.data.fingerprint() != old_manifest.get("data_fingerprint"):
            raise UserError(
                f"the data of dataset '{config.dataset}' differ from those run '{run_dir}' saw "
                "(fingerprint differs); the metrics cannot be reproduced"
            )
        versions = manifest(config.to_dict(), loaded, "", str(exp.device), {})
        del exp
        err.print(f"re-running [bold]{escape(str(run_dir))}[/] into {escape(str(target))} …")
        new, new_results = start_run(config, loaded, extra_reporters=[_Progress()])
        return new, new_results | {"_metrics": new.metrics()}, versions
    except Preempted as exc:  # TERM or the warning signal, taken by the trainer mid-epoch
        raise _Caught(signal.SIGTERM if exc.exit_code else signal.SIGUSR2) from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _verdict(
    old_results: dict[str, Any],
    old_history: list[dict[str, Any]],
    old_manifest: dict[str, Any],
    new: Any,
    new_results: dict[str, Any],
    versions: dict[str, Any],
    tolerance: float,
) -> None:
    diffs = compare_records(
        {k: old_results.get(k) for k in ("selected_epoch", "val", "test")},
        {k: new_results.get(k) for k in ("selected_epoch", "val", "test")},
    )
    history = compare_records({"epochs": old_history}, {"epochs": new_results["_metrics"]})
    big = [
        d
        for d in diffs + history
        if not (
            _number(d[1]) is not None
            and _number(d[2]) is not None
            and abs(_number(d[1]) - _number(d[2])) <= tolerance
        )
    ]
    changed = [
        f"{k} {old_manifest.get(k)} → {versions.get(k)}"
        for k in (
            "mtl_version",
            "torch_version",
            "numpy_version",
            "python_version",
            "device",
            "git_commit",
        )
        if old_manifest.get(k) != versions.get(k)
    ]
    if not big:
        exact = "exactly" if not diffs and not history else f"within {tolerance:g}"
        out.print(
            f"[green]reproduced[/]: every validation and test metric and the per-epoch record "
            f"match {exact} (selected epoch {new_results['selected_epoch']})"
        )
        if changed:
            out.print("  (manifest differs: " + escape("; ".join(changed)) + ")")
        return
    out.print(f"[red]not reproduced[/]: {len(big)} value(s) differ, e.g.")
    for key, a, b in big[:10]:
        out.print(f"  {escape(key)}: {a!r} → {b!r}", markup=True)
    out.print(
        "  manifest differences that can explain it: "
        + (escape("; ".join(changed)) if changed else "none (same versions and device)")
    )
    raise typer.Exit(1)
