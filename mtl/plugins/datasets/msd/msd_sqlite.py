"""MSD SQLite side files: ``track_metadata.db`` and ``artist_term.db``."""

from __future__ import annotations

import math
from pathlib import Path

from mtl.plugins.datasets.msd.sqlite_files import open_db, query

TRACK_METADATA = "track metadata database"
ARTIST_TERM = "artist term database"
# track_metadata.db columns that can fill attributes missing from the HDF5 files
METADATA_COLUMNS = ("year", "duration", "artist_familiarity", "artist_hotttnesss")


def _value(name: str, value: object) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    if not math.isfinite(out):
        return math.nan
    if name == "year":
        return out if out > 0 else math.nan
    if name == "duration":
        return out if out > 0 else math.nan
    return math.nan if out == -1 else out  # NaN floats are stored as -1


def read_track_metadata(path: Path, wanted: set[str]) -> dict[str, dict[str, float]]:
    """``track_id → {year, duration, artist_familiarity, artist_hotttnesss}`` for ``wanted`` tracks.

    Missing values (year 0, -1 for NaN floats) are NaN.
    """
    columns = ("track_id", *METADATA_COLUMNS)
    con = open_db(path, {"songs": set(columns)}, TRACK_METADATA)
    out = {}
    try:
        sql = f"SELECT {', '.join(columns)} FROM songs"
        for row in query(con, sql, path, TRACK_METADATA):
            if row[0] in wanted:
                out[row[0]] = {
                    n: _value(n, v) for n, v in zip(METADATA_COLUMNS, row[1:], strict=True)
                }
    finally:
        con.close()
    return out


def read_artist_terms(
    path: Path, wanted: set[str]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Artist terms and MusicBrainz tags of the ``wanted`` artists from ``artist_term.db``."""
    con = open_db(
        path,
        {"artist_term": {"artist_id", "term"}, "artist_mbtag": {"artist_id", "mbtag"}},
        ARTIST_TERM,
    )
    terms: dict[str, list[str]] = {}
    mbtags: dict[str, list[str]] = {}
    try:
        for table, column, into in (
            ("artist_term", "term", terms),
            ("artist_mbtag", "mbtag", mbtags),
        ):
            sql = f"SELECT artist_id, {column} FROM {table}"
            for artist, tag in query(con, sql, path, ARTIST_TERM):
                if artist in wanted and tag:
                    into.setdefault(artist, []).append(str(tag))
    finally:
        con.close()
    return terms, mbtags


LASTFM = "Last.fm tag database"


def read_lastfm_tags(path: Path, wanted: set[str], min_val: float) -> dict[str, list[str]]:
    """``track_id → tags`` from ``lastfm_tags.db`` for ``wanted`` tracks, tags with ``val >= min_val``.

    ``tid_tag.tid`` and ``tid_tag.tag`` are ROWIDs into ``tids`` and ``tags``; ``val`` is 0–100.
    """
    con = open_db(
        path, {"tids": {"tid"}, "tags": {"tag"}, "tid_tag": {"tid", "tag", "val"}}, LASTFM
    )
    out: dict[str, list[str]] = {}
    try:
        tids = {
            rowid: tid for rowid, tid in query(con, "SELECT ROWID, tid FROM tids", path, LASTFM)
        }
        tags = {
            rowid: tag for rowid, tag in query(con, "SELECT ROWID, tag FROM tags", path, LASTFM)
        }
        for tid_row, tag_row, val in query(con, "SELECT tid, tag, val FROM tid_tag", path, LASTFM):
            tid = tids.get(tid_row)
            tag = tags.get(tag_row)
            if tid in wanted and tag and val is not None and float(val) >= min_val:
                out.setdefault(tid, []).append(str(tag))
    finally:
        con.close()
    return out
