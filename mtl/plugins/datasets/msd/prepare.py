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

import json
import math
import time
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
from mtl.plugins.datasets.msd.records import read_aggregate, read_track_tree
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
