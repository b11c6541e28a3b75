"""Reading the MSD records of the tracks that have lyrics: the per-track HDF5 tree (a worker
pool over chunks whose results are saved under ``<out>.parts/`` so an interrupted prepare
reuses them) or an aggregate/summary file read in blocks."""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtl.core.errors import UserError
from mtl.plugins.datasets.msd import msd_h5
from mtl.plugins.datasets.msd.problems import Problems

if TYPE_CHECKING:
    from mtl.plugins.datasets.msd.prepare import PrepareOptions, Progress

BLOCK = 5_000  # rows per read of an aggregate file (about 6 KB a row)


@dataclass
class Records:
    """What the MSD files give for the tracks that have lyrics."""

    values: dict[str, list[float]] = field(default_factory=dict)  # track → msd_h5.VALUES
    # track → (artist id, artist name, title)
    info: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    terms: dict[str, list[str]] = field(default_factory=dict)  # artist → terms
    mbtags: dict[str, list[str]] = field(default_factory=dict)
    files_without_lyrics: int = 0

    def add(self, record: dict[str, Any]) -> None:
        tid, artist = record["track_id"], record["artist_id"]
        self.values[tid] = record["values"]
        self.info[tid] = (artist, record["artist_name"], record["title"])
        if record.get("terms") is not None and artist not in self.terms:
            self.terms[artist] = record["terms"]
        if record.get("mbtags") is not None and artist not in self.mbtags:
            self.mbtags[artist] = record["mbtags"]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _chunk_key(paths: list[str]) -> str:
    return hashlib.sha1("\n".join(paths).encode()).hexdigest()[:20]


def _save_part(parts: Path, key: str, result: tuple[list, list]) -> None:
    tmp = parts / f".{key}.json.tmp"
    tmp.write_text(json.dumps({"records": result[0], "problems": result[1]}))
    os.replace(tmp, parts / f"{key}.json")


def _load_part(parts: Path, key: str) -> tuple[list, list] | None:
    path = parts / f"{key}.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return data["records"], [tuple(p) for p in data["problems"]]
    except (OSError, ValueError, KeyError):
        return None


def _nan_json(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for r in records:  # JSON has no NaN: store None, read back as NaN
        r["values"] = [None if isinstance(v, float) and math.isnan(v) else v for v in r["values"]]
    return records


def _from_json(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for r in records:
        r["values"] = [math.nan if v is None else float(v) for v in r["values"]]
    return records


def _pool(workers: int) -> ProcessPoolExecutor:
    # forkserver: workers do not inherit the progress display's thread (fork would)
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx)


def read_track_tree(
    root: Path, wanted: set[str], opts: PrepareOptions, problems: Problems, progress: Progress
) -> Records:
    """Records of the ``wanted`` tracks from a ``data/A/B/C/TR….h5`` tree, read in parallel."""
    progress.stage("finding per-track HDF5 files")
    paths, unmatched = [], 0
    for tid, path in msd_h5.find_track_files(root):
        if tid in wanted:
            paths.append(path)
        else:
            unmatched += 1
        progress.advance(1)
    if not paths and not unmatched:
        raise UserError(
            f"no MSD per-track files (TR….h5) under '{root}' (expected {root}/data/A/B/C/TRAABC…h5)"
        )
    records = Records(files_without_lyrics=unmatched)
    parts = Path(f"{opts.out}.parts")
    parts.mkdir(parents=True, exist_ok=True)
    chunks = list(_chunks(paths, opts.chunk))
    keys = [_chunk_key(c) for c in chunks]
    progress.stage("reading per-track HDF5 files", len(paths))
    results: dict[int, tuple[list, list]] = {}
    todo = []
    for i, key in enumerate(keys):
        done = _load_part(parts, key)
        if done is None:
            todo.append(i)
        else:
            results[i] = (_from_json(done[0]), done[1])
            progress.advance(len(chunks[i]))

    def finish(i: int, result: tuple[list, list]) -> None:
        _save_part(parts, keys[i], (_nan_json([dict(r) for r in result[0]]), result[1]))
        results[i] = result
        for kind, path, what in result[1]:
            problems.add(kind, path, what)
        progress.advance(len(chunks[i]))

    workers = opts.workers or os.cpu_count() or 1
    if workers <= 1 or len(todo) <= 1:
        for i in todo:
            finish(i, msd_h5.read_track_files(chunks[i]))
    else:
        with _pool(workers) as pool:
            pending = {}
            queue = list(todo)
            try:
                while queue or pending:
                    while queue and len(pending) < 4 * workers:
                        i = queue.pop(0)
                        pending[pool.submit(msd_h5.read_track_files, chunks[i])] = i
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        finish(pending.pop(fut), fut.result())
            except BaseException:
                for fut in pending:
                    fut.cancel()
                raise
    for i in range(len(chunks)):
        for record in results.pop(i)[0]:
            records.add(record)
    return records


def read_aggregate(path: Path, wanted: set[str], problems: Problems, progress: Progress) -> Records:
    """Records of the ``wanted`` tracks from an aggregate or summary file, read in blocks."""
    try:
        f, n_rows = msd_h5.open_aggregate(path)
    except msd_h5.BadFile as exc:
        raise UserError(f"{path}: {exc}") from None
    records = Records()
    progress.stage("reading the MSD aggregate file", n_rows)
    has_terms = "artist_terms" in f["metadata"]
    try:
        for start in range(0, n_rows, BLOCK):
            try:
                block = msd_h5.read_rows(f, start, start + BLOCK)
            except (OSError, KeyError, ValueError, msd_h5.BadFile) as exc:
                raise UserError(f"{path}: rows {start}..{start + BLOCK - 1}: {exc}") from None
            for record in block:
                if record["track_id"] in wanted:
                    if not has_terms:
                        record["terms"] = record["mbtags"] = None
                    records.add(record)
                else:
                    records.files_without_lyrics += 1
            progress.advance(len(block))
    finally:
        f.close()
    return records
