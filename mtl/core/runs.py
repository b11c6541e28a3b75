"""Run directories: layout, atomic writes, checkpoints and the manifest.

A run directory holds ``config.json``, ``manifest.json``, ``metrics.jsonl``,
``checkpoints/best.pt`` and ``checkpoints/last.pt``, ``results.json`` and plots.
Every file but one is written to a temporary file in the same directory, fsynced,
then renamed, so a reader never sees half a file. The exception is
``metrics.jsonl``, which grows by one append (one ``write``, then ``fsync``) per
epoch: a process killed in the middle of that append can leave a torn last line.
Resuming drops it (and every record after the checkpoint's epoch) and rewrites the
file atomically; every other reader names the file and the line. See
docs/reliability.md.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mtl.core.errors import UserError
from mtl.core.locks import LOCK

CONFIG = "config.json"
MANIFEST = "manifest.json"
METRICS = "metrics.jsonl"
RESULTS = "results.json"
BEST = "checkpoints/best.pt"
LAST = "checkpoints/last.pt"
PREV = "checkpoints/last.prev.pt"  # the last.pt before the latest one (a hard link)
# --keep-checkpoints: what a finished run drops (best.pt, the selected model, always stays)
DROPPED = {"best": (LAST, PREV), "last": (PREV,), "all": ()}
FINISHED = ("completed", "early_stopped")  # results written, nothing left to run


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _clean(value: Any) -> Any:
    """NaN/inf → None so files stay strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def dumps(value: Any, indent: int | None = 2) -> str:
    return json.dumps(_clean(value), indent=indent, default=_json_default, allow_nan=False)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[Any], None], binary: bool = False) -> None:
    """Write via ``write(fileobj)`` to a temp file beside ``path``, fsync, then rename.

    The file gets the permissions a plain ``open`` would give (``0o666`` less the
    umask), not ``mkstemp``'s owner-only ``0o600``: on a shared cluster, colleagues in
    the group read the runs.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb" if binary else "w") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, value: Any) -> None:
    atomic_write(path, lambda fh: fh.write(dumps(value) + "\n"))


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"'{path}' is missing") from None
    except json.JSONDecodeError as exc:
        raise UserError(
            f"'{path}' is not valid JSON ({exc}); the run directory is damaged"
        ) from None


def git_commit(start: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(start), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def default_run_dir(dataset: str, arch: str, root: Path = Path("runs")) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = root / f"{dataset}-{arch}-{stamp}"
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    return path


class RunDir:
    """A run directory on disk."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    @classmethod
    def open(cls, path: Path) -> RunDir:
        """An existing run directory; a :class:`UserError` if ``path`` is not one."""
        path = Path(path)
        if not path.is_dir():
            raise UserError(f"run directory '{path}' does not exist")
        if not (path / CONFIG).is_file() or not (path / MANIFEST).is_file():
            raise UserError(
                f"'{path}' is not an mtl run directory (no {CONFIG} / {MANIFEST}); "
                "give the directory 'mtl train' printed"
            )
        return cls(path)

    @staticmethod
    def check_path(path: Path) -> None:
        """A :class:`UserError` unless ``path`` is a directory or can be made one: not a
        file, not under a file, each name short enough, its first existing parent writable."""
        path = Path(path)
        long = next((p for p in path.parts if len(os.fsencode(p)) > 255), None)
        if long is not None:  # before any stat, which fails on such a name
            raise UserError(
                f"run directory '{path}' has a name longer than 255 bytes ('{long[:40]}…'); "
                "choose a shorter --run-dir"
            )
        if path.exists() and not path.is_dir():
            raise UserError(f"run directory '{path}' is a file; choose another --run-dir")
        parent = path
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if parent == path:
            return
        if not parent.is_dir():
            raise UserError(
                f"run directory '{path}' would be inside '{parent}', which is a file; "
                "choose another --run-dir"
            )
        if not os.access(parent, os.W_OK | os.X_OK):
            raise UserError(
                f"run directory '{path}' cannot be created: '{parent}' is not writable; "
                "choose another --run-dir"
            )

    @staticmethod
    def check_new(path: Path) -> None:
        """A :class:`UserError` unless ``path`` can become a new run directory (missing,
        or empty but for a lock file)."""
        path = Path(path)
        RunDir.check_path(path)
        if path.exists() and any(p.name != LOCK for p in path.iterdir()):
            hint = "use --resume to continue it" if (path / CONFIG).exists() else "choose another"
            raise UserError(f"run directory '{path}' already exists and is not empty; {hint}")

    @classmethod
    def create(cls, path: Path) -> RunDir:
        """A new run directory; refuses to reuse a non-empty one."""
        cls.check_new(path)
        (Path(path) / "checkpoints").mkdir(parents=True, exist_ok=True)
        return cls(Path(path))

    def config(self) -> dict[str, Any]:
        return read_json(self.file(CONFIG))

    def manifest(self) -> dict[str, Any]:
        return read_json(self.file(MANIFEST))

    def results(self) -> dict[str, Any]:
        return read_json(self.file(RESULTS))

    def append_metrics(self, records: list[dict[str, Any]]) -> None:
        """Append one epoch's records in one ``write``, then fsync: the records are on
        disk before the epoch's ``last.pt`` is, so a checkpoint never gets ahead of them."""
        data = "".join(dumps(r, indent=None) + "\n" for r in records).encode()
        fd = os.open(self.file(METRICS), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        finally:
            os.close(fd)

    def metrics(self, torn_tail_ok: bool = False) -> list[dict[str, Any]]:
        """The records of ``metrics.jsonl``; a line that is not JSON is a :class:`UserError`
        naming the file and line, except a torn last line when ``torn_tail_ok``
        (what a process killed while appending leaves), which is left out."""
        path = self.file(METRICS)
        try:
            text = path.read_bytes().decode()
        except FileNotFoundError:
            return []
        except UnicodeDecodeError as exc:
            raise UserError(
                f"'{path}' is not text (byte {exc.start}); the run directory is damaged, "
                "restore the file"
            ) from None
        lines = text.split("\n")
        records = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                last = not any(rest.strip() for rest in lines[number:])
                if torn_tail_ok and last:
                    break
                where = "last line, torn" if last else "a damaged line"
                raise UserError(
                    f"'{path}' line {number} is not valid JSON ({where}: {exc.msg} at column "
                    f"{exc.colno}); the run was killed while appending or the file was cut: "
                    f"'mtl train --resume {self.path}' drops a torn last line, otherwise "
                    "restore the file"
                ) from None
        return records

    def truncate_metrics(self, last_epoch: int) -> None:
        """Keep only whole records up to ``last_epoch`` (used when resuming): a torn last
        line and the records of epochs after the checkpoint are dropped, so the resumed
        run writes each epoch exactly once."""
        keep = [r for r in self.metrics(torn_tail_ok=True) if r.get("epoch", 0) <= last_epoch]
        atomic_write(
            self.file(METRICS), lambda fh: fh.write("".join(dumps(r, None) + "\n" for r in keep))
        )

    def remove_orphans(self) -> list[Path]:
        """Delete the temporary files of atomic writes that a killed process left
        (``.NAME.*.tmp``); only safe while holding the run's lock."""
        gone = []
        for folder in (self.path, self.path / "checkpoints"):
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
                gone.append(tmp)
        return gone

    def save_checkpoint(self, name: str, state: dict[str, Any]) -> None:
        import torch

        atomic_write(self.file(name), lambda fh: torch.save(state, fh), binary=True)

    def load_checkpoint(self, name: str, map_location: Any = "cpu") -> dict[str, Any]:
        import torch

        path = self.file(name)
        if not path.is_file():
            raise UserError(
                f"checkpoint '{path}' is missing: the run never finished an epoch, or the file "
                "was removed"
            )
        try:
            state = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if "Weights only load failed" in str(exc):  # torch's advice would run its code
                reason = (
                    "it holds Python objects besides tensors and numbers; mtl never unpickles those"
                )
            raise UserError(
                f"checkpoint '{path}' is corrupted or not an mtl checkpoint ({reason}); "
                "re-run training or restore the file"
            ) from None
        if not isinstance(state, dict) or "model" not in state:
            raise UserError(f"checkpoint '{path}' is not an mtl checkpoint (no model state)")
        return state


def manifest(
    config: dict[str, Any], plugins: Any, fingerprint: str, device: str, provenance: dict[str, Any]
) -> dict[str, Any]:
    import numpy
    import torch

    from mtl import __version__
    from mtl.core.training_options import training_options

    return {
        "mtl_version": __version__,
        "torch_version": torch.__version__,
        "numpy_version": numpy.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "hostname": platform.node(),
        "command": sys.argv,
        "git_commit": git_commit(Path(__file__).resolve().parent),
        "plugins": [
            {"name": p.name, "source": p.source, "version": p.version, "module": p.module}
            for p in plugins.loaded
        ],
        "data_fingerprint": fingerprint,
        "data_provenance": provenance,
        "seed": config["seed"],
        "training": training_options(config),
        "device": device,
        "threads": torch.get_num_threads(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
