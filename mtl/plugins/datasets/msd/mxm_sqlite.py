"""musiXmatch SQLite ``mxm_dataset.db``: ``words(word)`` and ``lyrics(track_id, mxm_tid, word, count, is_test)``.

The ROWID of ``words`` (1-based, frequency order) is the text files' word index.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mtl.plugins.datasets.msd.lyrics import TRACK_ID, Lyrics, csr_from_rows
from mtl.plugins.datasets.msd.problems import Problems
from mtl.plugins.datasets.msd.sqlite_files import open_db, query

WHAT = "musiXmatch database"


def read_mxm_db(path: Path, problems: Problems) -> Lyrics:
    """Every track of ``mxm_dataset.db`` with its word counts; bad rows go to ``problems``."""
    con = open_db(
        path,
        {"words": {"word"}, "lyrics": {"track_id", "mxm_tid", "word", "count", "is_test"}},
        WHAT,
    )
    try:
        rows = query(con, "SELECT ROWID, word FROM words ORDER BY ROWID", path, WHAT)
        vocab, word_index = [], {}
        for rowid, word in rows:
            word_index[word] = len(vocab)
            vocab.append(word)
            if rowid != len(vocab):
                problems.add(
                    "bad vocabulary", f"{path}: words", f"ROWID {rowid} is not {len(vocab)}"
                )
        track_row: dict[str, int] = {}
        bad_tracks: set[str] = set()
        mxm_ids, is_test = [], []
        rows_of, cols, vals = [], [], []
        sql = "SELECT track_id, mxm_tid, word, count, is_test FROM lyrics"
        for tid, mxm, word, count, test in query(con, sql, path, WHAT):
            if tid in bad_tracks:
                continue
            where = f"{path}: lyrics"
            if not isinstance(tid, str) or not TRACK_ID.fullmatch(tid):
                problems.add("bad track id", where, f"'{str(tid)[:40]}' is not an MSD track id")
                bad_tracks.add(tid)
                continue
            col = word_index.get(word)
            if col is None or not isinstance(count, int) or count < 1:
                what = (
                    f"unknown word '{word}'" if col is None else f"count {count!r} is not positive"
                )
                problems.add("bad word count", where, f"track {tid}: {what}")
                bad_tracks.add(tid)
                continue
            row = track_row.get(tid)
            if row is None:
                row = track_row[tid] = len(mxm_ids)
                mxm_ids.append(int(mxm) if mxm is not None else -1)
                is_test.append(bool(test))
            rows_of.append(row)
            cols.append(col)
            vals.append(count)
    finally:
        con.close()
    rows_arr = np.asarray(rows_of, dtype=np.int64)
    cols_arr = np.asarray(cols, dtype=np.int32)
    vals_arr = np.asarray(vals, dtype=np.int32)
    ids = list(track_row)
    keep = np.array([t not in bad_tracks for t in ids], dtype=bool)
    # a track whose later rows were bad is dropped whole
    order = np.argsort(rows_arr, kind="stable")
    rows_arr, cols_arr, vals_arr = rows_arr[order], cols_arr[order], vals_arr[order]
    key = rows_arr * (len(vocab) + 1) + cols_arr
    for pos in np.flatnonzero(np.diff(key) == 0):
        row = int(rows_arr[pos])
        if keep[row]:
            problems.add(
                "duplicate word",
                f"{path}: lyrics",
                f"track {ids[row]}: word '{vocab[cols_arr[pos]]}' twice",
            )
            keep[row] = False
    nz_keep = keep[rows_arr]
    new_row = np.cumsum(keep) - 1
    lengths = np.bincount(new_row[rows_arr[nz_keep]], minlength=int(keep.sum()))
    return Lyrics(
        vocab=vocab,
        track_ids=[t for t, k in zip(ids, keep, strict=True) if k],
        mxm_ids=np.asarray(mxm_ids, dtype=np.int64)[keep],
        is_test=np.asarray(is_test, dtype=bool)[keep],
        indptr=csr_from_rows(lengths),
        indices=cols_arr[nz_keep],
        counts=vals_arr[nz_keep],
        sources=[str(path)],
    )
