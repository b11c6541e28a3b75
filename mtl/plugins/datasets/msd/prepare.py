"""``mtl data prepare msd``: musiXmatch lyrics + MSD attributes and tags → one HDF5 file.

Stages: read the lyrics (text files or ``mxm_dataset.db``); find the MSD records of those
tracks (per-track HDF5 files read by a worker pool, or an aggregate/summary file read in
blocks); add ``track_metadata.db``, ``artist_term.db`` and a genre ``.cls`` when given;
choose the tag tasks; carve the validation split; write the file atomically.

Only what goes into the output is held in memory: per track a few numbers and ids, per
artist its tags. The per-track files are read in chunks whose results are saved under
``<out>.parts/``; an interrupted run that is started again with the same inputs reuses
them, and the folder is removed once the output is written.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from mtl.core.errors import UserError
from mtl.plugins.datasets.msd import msd_h5, msd_sqlite
from mtl.plugins.datasets.msd.genre_cls import read_genre_cls
from mtl.plugins.datasets.msd.lyrics import Lyrics
from mtl.plugins.datasets.msd.mxm_sqlite import read_mxm_db
from mtl.plugins.datasets.msd.mxm_text import read_mxm_text
from mtl.plugins.datasets.msd.problems import Problems
from mtl.plugins.datasets.msd.splits import NAMES, TEST, TRAIN, carve_validation
from mtl.plugins.datasets.msd.store import PreparedData, ScalarTask, write_prepared
from mtl.plugins.datasets.msd.tags import choose_tags

KEYS = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
REGRESSIONS = {  # name → (units, description)
    "loudness": ("dB", "overall loudness"),
    "year": ("year", "release year (MusicBrainz)"),
    "tempo": ("BPM", "estimated tempo"),
    "duration": ("s", "track length"),
    "song_hotttnesss": (None, "song hotttnesss (0..1)"),
    "artist_hotttnesss": (None, "artist hotttnesss (0..1)"),
    "artist_familiarity": (None, "artist familiarity (0..1)"),
}
TAG_PREFIX = {"terms": "", "mbtags": "mb_", "lastfm": "lastfm_"}
TAG_SOURCE = {"terms": "artist_terms", "mbtags": "musicbrainz_tags", "lastfm": "lastfm_tags"}
BLOCK = 5_000  # rows per read of an aggregate file (about 6 KB a row)


@dataclass
class PrepareOptions:
    out: Path
    mxm: list[Path] = field(default_factory=list)
    mxm_db: Path | None = None
    msd: Path | None = None
    artist_term_db: Path | None = None
    track_metadata_db: Path | None = None
    genre_cls: Path | None = None
    lastfm_db: Path | None = None
    tags_top: int = 2000
    min_tag_count: int = 1
    mbtags_top: int = 200
    lastfm_top: int = 200
    lastfm_min_val: float = 0.0
    val_fraction: float = 0.1
    seed: int = 0
    workers: int = 0  # 0: one per CPU
    chunk: int = 256
    strict: bool = False


class Progress:
    """What ``prepare`` tells about its progress; the CLI draws it, tests ignore it."""

    def stage(self, name: str, total: float | None = None) -> None:
        """A new stage; ``total`` is in the unit of :meth:`advance` (None: unknown)."""

    def advance(self, amount: float = 1) -> None:
        """Progress within the current stage."""


def _inputs(opts: PrepareOptions) -> list[Path]:
    given = [
        *opts.mxm,
        opts.mxm_db,
        opts.msd,
        opts.artist_term_db,
        opts.track_metadata_db,
        opts.genre_cls,
        opts.lastfm_db,
    ]
    return [Path(p) for p in given if p is not None]


def _check_inputs(opts: PrepareOptions) -> None:
    if opts.mxm and opts.mxm_db:
        raise UserError("give the lyrics as --mxm text files or as --mxm-db, not both")
    if not opts.mxm and not opts.mxm_db:
        raise UserError(
            "no lyrics given: pass --mxm mxm_dataset_train.txt --mxm mxm_dataset_test.txt "
            "or --mxm-db mxm_dataset.db"
        )
    if opts.msd is None:
        raise UserError(
            "give the MSD records with --msd DIR (per-track HDF5 tree) or --msd FILE (aggregate/summary .h5)"
        )
    for p in _inputs(opts):
        if not Path(p).exists():
            raise UserError(f"input '{p}' does not exist")
    if opts.out.is_dir():
        raise UserError(
            f"--out '{opts.out}' is a directory; give a file name such as {opts.out / 'msd.h5'}"
        )


def _sizes(opts: PrepareOptions) -> list[dict[str, Any]]:
    return [
        {"path": str(p.resolve()), "bytes": p.stat().st_size if p.is_file() else None}
        for p in _inputs(opts)
    ]


def read_lyrics(opts: PrepareOptions, problems: Problems, progress: Progress) -> Lyrics:
    if opts.mxm_db is not None:
        progress.stage("reading mxm_dataset.db")
        return read_mxm_db(opts.mxm_db, problems)
    total = sum(Path(p).stat().st_size for p in opts.mxm)
    progress.stage("parsing musiXmatch text", total)
    return read_mxm_text(opts.mxm, problems, progress=progress.advance)


# --- MSD records -----------------------------------------------------------------------


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


# --- assembling ------------------------------------------------------------------------


def _scalar_tasks(
    values: np.ndarray, genre: dict[str, str] | None, ids: list[str], genre_source: str
) -> list[ScalarTask]:
    col = {name: i for i, name in enumerate(msd_h5.VALUES)}
    tasks = [
        ScalarTask(name, "regression", "msd", values[:, col[name]], units=units, description=desc)
        for name, (units, desc) in REGRESSIONS.items()
    ]
    tasks.append(
        ScalarTask(
            "key",
            "multiclass",
            "msd",
            values[:, col["key"]],
            classes=KEYS,
            description="estimated key (12 pitch classes)",
        )
    )
    tasks.append(
        ScalarTask(
            "mode", "binary", "msd", values[:, col["mode"]], description="1 = major, 0 = minor"
        )
    )
    ts = values[:, col["time_signature"]]
    observed = sorted({int(v) for v in ts[~np.isnan(ts)]})
    lookup = {v: i for i, v in enumerate(observed)}
    ts_ids = np.array([lookup[int(v)] if not np.isnan(v) else np.nan for v in ts], dtype=np.float64)
    tasks.append(
        ScalarTask(
            "time_signature",
            "multiclass",
            "msd",
            ts_ids,
            classes=tuple(str(v) for v in observed),
            description="beats per bar",
        )
    )
    if genre is not None:
        classes = tuple(sorted(set(genre.values())))
        lookup_g = {g: i for i, g in enumerate(classes)}
        y = np.array([lookup_g[genre[t]] if t in genre else np.nan for t in ids], dtype=np.float64)
        tasks.append(
            ScalarTask(
                "genre",
                "multiclass",
                genre_source,
                y,
                classes=classes,
                description=f"genre from {genre_source}",
            )
        )
    return tasks


def prepare_msd(opts: PrepareOptions, progress: Progress | None = None) -> dict[str, Any]:
    """Build the prepared file ``opts.out``; returns the summary (also stored as provenance)."""
    progress = progress or Progress()
    started = time.perf_counter()
    opts.out = Path(opts.out).expanduser()
    _check_inputs(opts)
    problems = Problems(strict=opts.strict)
    lyrics = read_lyrics(opts, problems, progress)
    lyrics_seconds = time.perf_counter() - started
    wanted = set(lyrics.track_ids)
    msd_path = Path(opts.msd)
    t0 = time.perf_counter()
    if msd_path.is_dir():
        records = read_track_tree(msd_path, wanted, opts, problems, progress)
    else:
        records = read_aggregate(msd_path, wanted, problems, progress)
    msd_seconds = time.perf_counter() - t0

    progress.stage("assembling")
    rows = np.array(
        [i for i, t in enumerate(lyrics.track_ids) if t in records.values], dtype=np.int64
    )
    kept = lyrics.take(rows)
    ids = kept.track_ids
    if not ids:
        raise UserError(
            "no track has both lyrics and an MSD record: do --mxm/--mxm-db and --msd describe the same tracks?"
        )
    values = np.array([records.values[t] for t in ids], dtype=np.float64).reshape(
        len(ids), len(msd_h5.VALUES)
    )
    if opts.track_metadata_db is not None:
        extra = msd_sqlite.read_track_metadata(opts.track_metadata_db, set(ids))
        for name in msd_sqlite.METADATA_COLUMNS:
            c = msd_h5.VALUES.index(name)
            fill = np.array([extra.get(t, {}).get(name, math.nan) for t in ids])
            missing = np.isnan(values[:, c])
            values[missing, c] = fill[missing]
    artists = [records.info[t][0] for t in ids]
    terms, mbtags = records.terms, records.mbtags
    if opts.artist_term_db is not None:
        terms, mbtags = msd_sqlite.read_artist_terms(opts.artist_term_db, set(artists))
    elif not terms and opts.tags_top > 0:
        raise UserError(
            f"'{msd_path}' has no artist terms (the summary file has none): pass --artist-term-db "
            "artist_term.db for the tag tasks, or --tags-top 0 for none"
        )
    genre = genre_source = None
    if opts.genre_cls is not None:
        genre = read_genre_cls(opts.genre_cls, problems)
        genre_source = Path(opts.genre_cls).name
    scalars = _scalar_tasks(values, genre, ids, genre_source or "")
    reserved = {t.name for t in scalars}
    families = {}
    sources = [
        ("terms", opts.tags_top, artists, terms),
        ("mbtags", opts.mbtags_top, artists, mbtags),
    ]
    if opts.lastfm_db is not None:
        lastfm = msd_sqlite.read_lastfm_tags(opts.lastfm_db, set(ids), opts.lastfm_min_val)
        sources.append(("lastfm", opts.lastfm_top, ids, lastfm))  # tags of tracks, not artists
    for key, tops, owners, tags in sources:
        if tops > 0 and tags:
            fam = choose_tags(
                owners, tags, tops, opts.min_tag_count, TAG_PREFIX[key], reserved, TAG_SOURCE[key]
            )
            reserved |= set(fam.names)
            families[key] = fam
    split = np.where(kept.is_test, TEST, TRAIN).astype(np.uint8)
    split = carve_validation(split, artists, opts.val_fraction, opts.seed)

    summary = {
        "lyrics_tracks": lyrics.n,
        "kept": len(ids),
        "lyrics_without_msd": lyrics.n - len(ids),
        "msd_without_lyrics": records.files_without_lyrics,
        "skipped": problems.to_dict(),
        "splits": {NAMES[s]: int((split == s).sum()) for s in NAMES},
        "vocabulary": len(lyrics.vocab),
        "nonzeros": int(kept.nnz),
        "tasks": len(scalars) + sum(len(f.names) for f in families.values()),
        "seconds": {"lyrics": round(lyrics_seconds, 3), "msd": round(msd_seconds, 3)},
    }
    options = asdict(opts)
    provenance = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "inputs": _sizes(opts),
        "options": json.loads(json.dumps(options, default=str)),
        "summary": summary,
    }
    progress.stage("writing")
    data = PreparedData(
        vocab=lyrics.vocab,
        msd_ids=ids,
        mxm_ids=kept.mxm_ids,
        artist_ids=artists,
        artist_names=[records.info[t][1] for t in ids],
        titles=[records.info[t][2] for t in ids],
        split=split,
        indptr=kept.indptr,
        indices=kept.indices,
        counts=kept.counts,
        scalars=scalars,
        tag_families=families,
        provenance=provenance,
    )
    write_prepared(opts.out, data)
    parts = Path(f"{opts.out}.parts")
    if parts.is_dir():
        for p in parts.iterdir():
            p.unlink(missing_ok=True)
        parts.rmdir()
    summary["seconds"]["total"] = round(time.perf_counter() - started, 3)
    return summary
