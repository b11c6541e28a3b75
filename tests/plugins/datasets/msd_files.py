"""Small files in the exact published layouts of musiXmatch and the Million Song Dataset.

Per-track HDF5 files follow the PyTables layout: three groups with a one-row compound
table ``songs`` whose fields are in alphabetical order with the real dtypes
(fixed-length byte strings, int32, float64), chunked and zlib-compressed, and the
array datasets beside it. Aggregate files hold many rows and ``idx_*`` offsets; the
summary file has the tables but no arrays.
"""

from __future__ import annotations

import sqlite3
import string
from pathlib import Path

import h5py
import numpy as np

METADATA = [
    ("analyzer_version", "S32"),
    ("artist_7digitalid", "<i4"),
    ("artist_familiarity", "<f8"),
    ("artist_hotttnesss", "<f8"),
    ("artist_id", "S32"),
    ("artist_latitude", "<f8"),
    ("artist_location", "S1024"),
    ("artist_longitude", "<f8"),
    ("artist_mbid", "S40"),
    ("artist_name", "S1024"),
    ("artist_playmeid", "<i4"),
    ("genre", "S1024"),
    ("idx_artist_terms", "<i4"),
    ("idx_similar_artists", "<i4"),
    ("release", "S1024"),
    ("release_7digitalid", "<i4"),
    ("song_hotttnesss", "<f8"),
    ("song_id", "S32"),
    ("title", "S1024"),
    ("track_7digitalid", "<i4"),
]
ANALYSIS_ARRAYS = [
    "bars_confidence",
    "bars_start",
    "beats_confidence",
    "beats_start",
    "sections_confidence",
    "sections_start",
    "segments_confidence",
    "segments_loudness_max",
    "segments_loudness_max_time",
    "segments_loudness_start",
    "segments_pitches",
    "segments_start",
    "segments_timbre",
    "tatums_confidence",
    "tatums_start",
]
ANALYSIS = sorted(
    [
        ("analysis_sample_rate", "<i4"),
        ("audio_md5", "S32"),
        ("danceability", "<f8"),
        ("duration", "<f8"),
        ("end_of_fade_in", "<f8"),
        ("energy", "<f8"),
        ("key", "<i4"),
        ("key_confidence", "<f8"),
        ("loudness", "<f8"),
        ("mode", "<i4"),
        ("mode_confidence", "<f8"),
        ("start_of_fade_out", "<f8"),
        ("tempo", "<f8"),
        ("time_signature", "<i4"),
        ("time_signature_confidence", "<f8"),
        ("track_id", "S32"),
    ]
    + [(f"idx_{a}", "<i4") for a in ANALYSIS_ARRAYS]
)
MUSICBRAINZ = [("idx_artist_mbtags", "<i4"), ("year", "<i4")]
Z = {"compression": "gzip", "compression_opts": 1, "chunks": True}


def track_id(i: int) -> str:
    """A valid, unique MSD-style track id for ``i``."""
    chars = string.ascii_uppercase + string.digits
    tail = "".join(chars[(i // 36**k) % 36] for k in range(8))
    return f"TR{tail}{'A' * 8}"[:18]


def tree_path(root: Path, tid: str) -> Path:
    return root / "data" / tid[2] / tid[3] / tid[4] / f"{tid}.h5"


def song(
    tid: str,
    artist: str = "ARAAAAA1187B9AB1C1",
    terms: tuple[str, ...] = ("pop", "rock"),
    mbtags: tuple[str, ...] = (),
    year: int = 1999,
    loudness: float = -8.0,
    tempo: float = 120.0,
    duration: float = 200.0,
    key: int = 5,
    mode: int = 1,
    time_signature: int = 4,
    song_hotttnesss: float = 0.5,
    artist_hotttnesss: float = 0.4,
    artist_familiarity: float = 0.6,
    title: str = "A Song",
    artist_name: str = "An Artist",
) -> dict:
    return dict(locals())


def _rows(fields: list[tuple[str, str]], values: list[dict]) -> np.ndarray:
    dtype = np.dtype(fields)
    table = np.zeros(len(values), dtype=dtype)
    for i, v in enumerate(values):
        for name, _ in fields:
            if name in v:
                table[name][i] = v[name].encode() if isinstance(v[name], str) else v[name]
    return table


def _table(group: h5py.Group, rows: np.ndarray) -> None:
    ds = group.create_dataset("songs", data=rows, maxshape=(None,), **Z)
    ds.attrs["CLASS"] = np.bytes_("TABLE")
    ds.attrs["TITLE"] = np.bytes_("table of metadata for one song")


def _array(group: h5py.Group, name: str, values: np.ndarray) -> None:
    if len(values):
        group.create_dataset(name, data=values, maxshape=(None,) + values.shape[1:], **Z)
    else:
        group.create_dataset(
            name,
            shape=values.shape,
            dtype=values.dtype,
            maxshape=(None,) + values.shape[1:],
            chunks=True,
        )


def write_songs_h5(
    path: Path, songs: list[dict], arrays: bool = True, drop: tuple[str, ...] = ()
) -> None:
    """An MSD HDF5 file of ``songs`` (one: a per-track file; many: an aggregate file).

    ``arrays=False`` leaves out every array (the summary file's layout); ``drop`` names
    ``group`` or ``group/field`` to leave out (to make broken files).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    meta, analysis, mb = [], [], []
    terms, mbtags, mbcounts = [], [], []
    n_seg = 3
    for i, s in enumerate(songs):
        meta.append(
            {
                "analyzer_version": "",
                "artist_7digitalid": -1,
                "artist_familiarity": s["artist_familiarity"],
                "artist_hotttnesss": s["artist_hotttnesss"],
                "artist_id": s["artist"],
                "artist_latitude": np.nan,
                "artist_location": "",
                "artist_longitude": np.nan,
                "artist_mbid": "",
                "artist_name": s["artist_name"],
                "artist_playmeid": -1,
                "genre": "",
                "idx_artist_terms": len(terms),
                "idx_similar_artists": 0,
                "release": "Some Album",
                "release_7digitalid": -1,
                "song_hotttnesss": s["song_hotttnesss"],
                "song_id": f"SO{s['tid'][2:]}",
                "title": s["title"],
                "track_7digitalid": -1,
            }
        )
        row = {
            "analysis_sample_rate": 22050,
            "audio_md5": "0" * 32,
            "danceability": 0.0,
            "duration": s["duration"],
            "end_of_fade_in": 0.1,
            "energy": 0.0,
            "key": s["key"],
            "key_confidence": 0.5,
            "loudness": s["loudness"],
            "mode": s["mode"],
            "mode_confidence": 0.5,
            "start_of_fade_out": s["duration"] - 5,
            "tempo": s["tempo"],
            "time_signature": s["time_signature"],
            "time_signature_confidence": 0.5,
            "track_id": s["tid"],
        }
        for a in ANALYSIS_ARRAYS:
            row[f"idx_{a}"] = i * n_seg
        analysis.append(row)
        mb.append({"idx_artist_mbtags": len(mbtags), "year": s["year"]})
        terms.extend(s["terms"])
        mbtags.extend(s["mbtags"])
        mbcounts.extend([1] * len(s["mbtags"]))
    with h5py.File(path, "w") as f:
        f.attrs["CLASS"] = np.bytes_("GROUP")
        for group, fields, rows in (
            ("metadata", METADATA, meta),
            ("analysis", ANALYSIS, analysis),
            ("musicbrainz", MUSICBRAINZ, mb),
        ):
            if group in drop:
                continue
            g = f.create_group(group)
            kept = [fd for fd in fields if f"{group}/{fd[0]}" not in drop]
            _table(g, _rows(kept, rows))
        if not arrays:
            return
        if "metadata" not in drop:
            m = f["metadata"]
            _array(m, "artist_terms", np.array([t.encode() for t in terms], dtype="S256"))
            _array(m, "artist_terms_freq", np.linspace(1, 0.5, len(terms)))
            _array(m, "artist_terms_weight", np.linspace(1, 0.5, len(terms)))
            _array(m, "similar_artists", np.zeros(0, dtype="S20"))
        if "analysis" not in drop:
            a = f["analysis"]
            for name in ANALYSIS_ARRAYS:
                shape = (
                    (n_seg * len(songs), 12)
                    if name in ("segments_pitches", "segments_timbre")
                    else (n_seg * len(songs),)
                )
                _array(a, name, np.linspace(0, 1, int(np.prod(shape))).reshape(shape))
        if "musicbrainz" not in drop:
            b = f["musicbrainz"]
            _array(b, "artist_mbtags", np.array([t.encode() for t in mbtags], dtype="S256"))
            _array(b, "artist_mbtags_count", np.array(mbcounts, dtype=np.int32))


def write_tree(root: Path, songs: list[dict]) -> None:
    """Per-track files at ``root/data/A/B/C/TR….h5``."""
    for s in songs:
        write_songs_h5(tree_path(root, s["tid"]), [s])


def mxm_line(tid: str, mxm: int, words: dict[int, int]) -> str:
    return ",".join([tid, str(mxm)] + [f"{i}:{c}" for i, c in words.items()])


def write_mxm_text(
    path: Path,
    vocab: list[str],
    tracks: list[tuple[str, int, dict[int, int]]],
    extra: list[str] = (),
    vocab_line: bool = True,
) -> None:
    """A musiXmatch text file: ``#`` comments, the ``%`` vocabulary, one line per track."""
    lines = [
        "# MUSIXMATCH DATASET FILE",
        "# Each line is a track: TID,MXMID,idx:cnt,idx:cnt,...",
        "# the index starts at 1 (not 0)",
    ]
    if vocab_line:
        lines.append("%" + ",".join(vocab))
    lines += [mxm_line(t, m, w) for t, m, w in tracks]
    lines += list(extra)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_mxm_db(path: Path, vocab: list[str], train: list, test: list) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE words (word TEXT PRIMARY KEY)")
    con.execute("CREATE TABLE lyrics (track_id, mxm_tid INT, word TEXT, count INT, is_test INT)")
    con.executemany("INSERT INTO words VALUES (?)", [(w,) for w in vocab])
    for is_test, tracks in ((0, train), (1, test)):
        con.executemany(
            "INSERT INTO lyrics VALUES (?, ?, ?, ?, ?)",
            [(t, m, vocab[i - 1], c, is_test) for t, m, w in tracks for i, c in w.items()],
        )
    con.commit()
    con.close()


def write_track_metadata_db(
    path: Path, songs: list[dict], overrides: dict[str, dict] | None = None
) -> None:
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE songs (track_id text PRIMARY KEY, title text, song_id text, release text, "
        "artist_id text, artist_mbid text, artist_name text, duration real, artist_familiarity real, "
        "artist_hotttnesss real, year int, track_7digitalid int, shs_perf int, shs_work int)"
    )
    for s in songs:
        v = {**s, **(overrides or {}).get(s["tid"], {})}
        con.execute(
            "INSERT INTO songs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                v["tid"],
                v["title"],
                "SO",
                "",
                v["artist"],
                "",
                v["artist_name"],
                v["duration"],
                v["artist_familiarity"],
                v["artist_hotttnesss"],
                v["year"],
                -1,
                -1,
                0,
            ),
        )
    con.commit()
    con.close()


def write_artist_term_db(path: Path, songs: list[dict]) -> None:
    con = sqlite3.connect(path)
    for table, column in (("artists", "artist_id"), ("terms", "term"), ("mbtags", "mbtag")):
        con.execute(f"CREATE TABLE {table} ({column} text PRIMARY KEY)")
    con.execute(
        "CREATE TABLE artist_term (artist_id text, term text, FOREIGN KEY(artist_id) REFERENCES artists(artist_id))"
    )
    con.execute("CREATE TABLE artist_mbtag (artist_id text, mbtag text)")
    seen = set()
    for s in songs:
        if s["artist"] in seen:
            continue
        seen.add(s["artist"])
        con.execute("INSERT INTO artists VALUES (?)", (s["artist"],))
        con.executemany(
            "INSERT INTO artist_term VALUES (?, ?)", [(s["artist"], t) for t in s["terms"]]
        )
        con.executemany(
            "INSERT INTO artist_mbtag VALUES (?, ?)", [(s["artist"], t) for t in s["mbtags"]]
        )
    con.commit()
    con.close()


def write_lastfm_db(path: Path, tags: dict[str, list[tuple[str, float]]]) -> None:
    """``lastfm_tags.db``: ``tids``, ``tags`` and ``tid_tag`` holding ROWIDs and a 0-100 value."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE tids (tid TEXT)")
    con.execute("CREATE TABLE tags (tag TEXT)")
    con.execute("CREATE TABLE tid_tag (tid INT, tag INT, val FLOAT)")
    tag_rows: dict[str, int] = {}
    for tid, pairs in tags.items():
        tid_row = con.execute("INSERT INTO tids VALUES (?)", (tid,)).lastrowid
        for tag, val in pairs:
            if tag not in tag_rows:
                tag_rows[tag] = con.execute("INSERT INTO tags VALUES (?)", (tag,)).lastrowid
            con.execute("INSERT INTO tid_tag VALUES (?, ?, ?)", (tid_row, tag_rows[tag], val))
    con.commit()
    con.close()


TERMS = ["pop", "rock", "pop rock", "ballad", "hip hop", "jazz", "soul", "Hip-Hop", "folk"]


def collection(n: int, vocab_size: int = 50, n_artists: int = 12, seed: int = 0):
    """A consistent set: vocabulary, lyrics (train and test, artist-disjoint) and songs.

    Labels depend on the words so a model can learn them: tracks of artists with an
    even index use low word ids and carry 'pop'.
    """
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(vocab_size)]
    vocab[:4] = ["i", "the", "you", "to"]
    songs, train, test = [], [], []
    for i in range(n):
        a = i % n_artists
        pop = a % 2 == 0
        tags = [t for j, t in enumerate(TERMS) if (j + a) % 3 == 0 or (t == "pop" and pop)]
        if a == n_artists - 1:
            tags = []  # an artist without terms: tag labels missing
        tid = track_id(i)
        s = song(
            tid,
            artist=f"AR{a:016d}",
            terms=tuple(sorted(set(tags), key=tags.index)),
            mbtags=("british",) if a % 4 == 0 else (),
            year=0 if i % 7 == 3 else 1960 + (i % 50),
            loudness=float(-12 + 6 * pop + rng.normal()),
            tempo=float(90 + 30 * rng.random()),
            key=int(i % 12),
            mode=int(pop),
            time_signature=int((3, 4, 4, 5)[i % 4]),
            song_hotttnesss=float("nan") if i % 5 == 0 else float(rng.random()),
            title=f"Song {i}",
            artist_name=f"Artist {a}",
        )
        songs.append(s)
        lo = 1 if pop else vocab_size // 2
        k = int(rng.integers(3, 8))
        idx = rng.choice(np.arange(lo, lo + vocab_size // 2), size=k, replace=False)
        words = {int(j): int(rng.integers(1, 5)) for j in sorted(idx)}
        (test if a in (1, 2) else train).append((tid, 1000 + i, words))
    return vocab, songs, train, test
