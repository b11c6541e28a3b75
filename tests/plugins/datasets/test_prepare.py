"""``prepare_msd``: what the prepared file holds, bad input, parallel reading, restarts."""

import math

import h5py
import numpy as np
import pytest
from msd_files import song, tree_path, write_artist_term_db, write_songs_h5, write_track_metadata_db

from mtl.core.errors import UserError
from mtl.plugins.datasets.msd import msd_h5
from mtl.plugins.datasets.msd import prepare as prepare_module
from mtl.plugins.datasets.msd.prepare import PrepareOptions, prepare_msd
from mtl.plugins.datasets.msd.splits import TEST, TRAIN, VAL
from mtl.plugins.datasets.msd.store import PreparedFile


def _opts(small, **kw):
    kw = {"workers": 1, "chunk": 16, **kw}
    return PrepareOptions(
        out=small["dir"] / "out" / "msd.h5", mxm=small["mxm"], msd=small["root"], **kw
    )


def _leftovers(folder):
    return [p.name for p in folder.iterdir()] if folder.exists() else []


def test_prepared_file_holds_csr_ids_splits_labels_and_provenance(small):
    summary = prepare_msd(_opts(small))
    assert summary["lyrics_tracks"] == 96 and summary["kept"] == 90
    assert summary["lyrics_without_msd"] == 6 and summary["msd_without_lyrics"] == 1
    out = small["dir"] / "out" / "msd.h5"
    assert _leftovers(out.parent) == ["msd.h5"]
    by_id = {t: (w, False) for t, _, w in small["train"]} | {
        t: (w, True) for t, _, w in small["test"]
    }
    songs = {s["tid"]: s for s in small["songs"]}
    with PreparedFile(out) as f:
        ids = f.msd_ids().tolist()
        assert len(ids) == 90 and f.vocab() == small["vocab"]
        indptr, indices, counts = f.bow()
        split = f.split()
        artists = f.artist_ids()
        for row, tid in enumerate(ids):
            words, is_test = by_id[tid]
            lo, hi = indptr[row], indptr[row + 1]
            assert (
                dict(zip((indices[lo:hi] + 1).tolist(), counts[lo:hi].tolist(), strict=True))
                == words
            )
            assert (split[row] == TEST) == is_test
            assert artists[row] == songs[tid]["artist"]
        assert not {a for a, s in zip(artists, split, strict=True) if s == VAL} & {
            a for a, s in zip(artists, split, strict=True) if s == TRAIN
        }
        assert (split == VAL).sum() > 0
        table = {r["name"]: r for r in f.task_table()}
        assert {
            "loudness",
            "year",
            "tempo",
            "duration",
            "song_hotttnesss",
            "artist_hotttnesss",
            "artist_familiarity",
            "key",
            "mode",
            "time_signature",
        } <= set(table)
        assert "danceability" not in table and "energy" not in table
        assert {"pop", "pop_rock", "hip_hop", "hip_hop_2", "mb_british"} <= set(table)
        labels = f.labels(["year", "pop", "key", "time_signature"])
        y, m = labels["year"]
        assert m.sum() == table["year"]["labelled"] < 90 and np.isnan(y[~m]).all()
        pop, pm = labels["pop"]
        assert table["pop"]["positives"] == int(pop[pm].sum()) and set(np.unique(pop[pm])) == {
            0.0,
            1.0,
        }
        assert (~pm).sum() > 0  # the artist without terms
        specs = {s.name: s for s in f.task_specs()}
        assert specs["key"].classes[0] == "C" and len(specs["key"].classes) == 12
        assert specs["time_signature"].classes == ("3", "4", "5")
        ts = labels["time_signature"][0]
        assert set(np.unique(ts)) == {0.0, 1.0, 2.0}
        prov = f.provenance()
        assert prov["options"]["tags_top"] == 2000 and prov["summary"]["kept"] == 90
        assert any(
            i["path"].endswith("mxm_dataset_train.txt") and i["bytes"] > 0 for i in prov["inputs"]
        )
        assert f.f.attrs["mtl_version"] and f.f.attrs["created"]


def test_tags_top_and_min_tag_count(small):
    prepare_msd(_opts(small, tags_top=2, mbtags_top=0))
    with PreparedFile(small["dir"] / "out" / "msd.h5") as f:
        tags = [r["name"] for r in f.task_table() if r["source"] == "artist_terms"]
        assert len(tags) == 2 and not [r for r in f.task_table() if r["name"].startswith("mb_")]
    prepare_msd(_opts(small, min_tag_count=10_000))
    with PreparedFile(small["dir"] / "out" / "msd.h5") as f:
        assert not [r for r in f.task_table() if r["source"] == "artist_terms"]


def test_worker_pool_gives_the_same_file(small, tmp_path):
    prepare_msd(_opts(small))
    opts = _opts(small, workers=2)
    opts.out = tmp_path / "pool.h5"
    prepare_msd(opts)
    with h5py.File(small["dir"] / "out" / "msd.h5") as a, h5py.File(tmp_path / "pool.h5") as b:
        for name in (
            "bow/indices",
            "bow/counts",
            "tracks/msd_id",
            "tracks/split",
            "labels/loudness",
            "tags/terms/indices",
            "task_table",
        ):
            assert np.array_equal(a[name][:], b[name][:], equal_nan=name.startswith("labels")), name


def test_bad_hdf5_files_are_skipped_and_counted_or_fatal_with_strict(small):
    songs = small["songs"]
    bad = tree_path(small["root"], songs[0]["tid"])
    bad.write_bytes(bad.read_bytes()[:500])
    write_songs_h5(tree_path(small["root"], songs[1]["tid"]), [songs[1]], drop=("analysis/tempo",))
    summary = prepare_msd(_opts(small))
    assert summary["kept"] == 88
    assert summary["skipped"]["counts"] == {"unreadable HDF5": 1, "missing group or field": 1}
    assert str(bad) in summary["skipped"]["examples"]["unreadable HDF5"][0]
    out = small["dir"] / "strict.h5"
    opts = _opts(small, strict=True)
    opts.out = out
    with pytest.raises(UserError, match="--strict"):
        prepare_msd(opts)
    assert not out.exists() and not [
        p for p in small["dir"].iterdir() if p.name.startswith(".strict")
    ]


def test_empty_directory_and_missing_inputs_are_errors(small, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="no MSD per-track files"):
        prepare_msd(PrepareOptions(out=tmp_path / "x.h5", mxm=small["mxm"], msd=empty, workers=1))
    with pytest.raises(UserError, match="does not exist"):
        prepare_msd(
            PrepareOptions(out=tmp_path / "x.h5", mxm=[tmp_path / "nope.txt"], msd=small["root"])
        )
    with pytest.raises(UserError, match="no lyrics given"):
        prepare_msd(PrepareOptions(out=tmp_path / "x.h5", msd=small["root"]))
    assert not (tmp_path / "x.h5").exists()


def test_summary_file_with_artist_term_db_and_track_metadata(small, tmp_path):
    songs = small["songs"][:90]
    summary_file = tmp_path / "msd_summary_file.h5"
    write_songs_h5(summary_file, songs + [song("TRZZZZZZZZZZZZZZZZ")], arrays=False)
    opts = PrepareOptions(out=tmp_path / "s.h5", mxm=small["mxm"], msd=summary_file)
    with pytest.raises(UserError, match="--artist-term-db"):
        prepare_msd(opts)
    write_artist_term_db(tmp_path / "artist_term.db", songs)
    year_missing = next(s for s in songs if s["year"] == 0)
    write_track_metadata_db(
        tmp_path / "track_metadata.db", songs, {year_missing["tid"]: {"year": 1977}}
    )
    opts.artist_term_db = tmp_path / "artist_term.db"
    opts.track_metadata_db = tmp_path / "track_metadata.db"
    summary = prepare_msd(opts)
    assert summary["kept"] == 90 and summary["msd_without_lyrics"] == 1
    prepare_msd(_opts(small))
    with PreparedFile(tmp_path / "s.h5") as s, PreparedFile(small["dir"] / "out" / "msd.h5") as t:
        assert s.msd_ids().tolist() == t.msd_ids().tolist()
        names = [
            r["name"] for r in t.task_table() if r["source"] in ("artist_terms", "musicbrainz_tags")
        ]
        assert [
            r["name"] for r in s.task_table() if r["source"] in ("artist_terms", "musicbrainz_tags")
        ] == names
        for name in names + ["loudness", "mode"]:
            assert np.array_equal(
                s.labels([name])[name][0], t.labels([name])[name][0], equal_nan=True
            ), name
        ys, yt = s.labels(["year"])["year"][0], t.labels(["year"])["year"][0]
        row = s.msd_ids().tolist().index(year_missing["tid"])
        assert ys[row] == 1977 and math.isnan(yt[row])


def test_genre_cls_adds_a_multiclass_task(small):
    cls = small["dir"] / "msd_tagtraum_cd2.cls"
    cls.write_text(
        "# comment\n"
        + "".join(
            f"{s['tid']}\t{('Rock', 'Pop')[i % 2]}\n" for i, s in enumerate(small["songs"][:40])
        )
    )
    prepare_msd(_opts(small, genre_cls=cls))
    with PreparedFile(small["dir"] / "out" / "msd.h5") as f:
        spec = {s.name: s for s in f.task_specs()}["genre"]
        assert spec.kind == "multiclass" and spec.classes == ("Pop", "Rock")
        y, m = f.labels(["genre"])["genre"]
        assert m.sum() == 40


def test_interrupted_prepare_restarts_from_saved_chunks(small, monkeypatch):
    def broken_write(path, data):
        raise KeyboardInterrupt

    monkeypatch.setattr(prepare_module, "write_prepared", broken_write)
    with pytest.raises(KeyboardInterrupt):
        prepare_msd(_opts(small))
    out = small["dir"] / "out" / "msd.h5"
    parts = small["dir"] / "out" / "msd.h5.parts"
    assert not out.exists() and len(list(parts.glob("*.json"))) == 6  # 90 files in chunks of 16
    monkeypatch.undo()

    def no_reading(paths):
        raise AssertionError("a finished chunk was read again")

    monkeypatch.setattr(msd_h5, "read_track_files", no_reading)
    summary = prepare_msd(_opts(small))
    assert summary["kept"] == 90 and out.exists() and not parts.exists()


def test_mxm_db_and_an_aggregate_file_give_the_same_file_as_text_and_tree(small, tmp_path):
    from msd_files import write_mxm_db

    prepare_msd(_opts(small))
    db = tmp_path / "mxm_dataset.db"
    write_mxm_db(db, small["vocab"], small["train"], small["test"])
    aggregate = tmp_path / "aggregate.h5"
    write_songs_h5(aggregate, small["songs"][:90])
    out = tmp_path / "other.h5"
    summary = prepare_msd(PrepareOptions(out=out, mxm_db=db, msd=aggregate))
    assert summary["kept"] == 90 and summary["lyrics_without_msd"] == 6
    with h5py.File(small["dir"] / "out" / "msd.h5") as a, h5py.File(out) as b:
        order_a = np.argsort(a["tracks/msd_id"][:])
        order_b = np.argsort(b["tracks/msd_id"][:])
        assert np.array_equal(a["tracks/split"][:][order_a], b["tracks/split"][:][order_b])
        assert np.array_equal(a["task_table"][:], b["task_table"][:])
        for name in ("loudness", "year", "key"):
            ya, yb = a[f"labels/{name}"][:][order_a], b[f"labels/{name}"][:][order_b]
            assert np.array_equal(ya, yb, equal_nan=True), name
        assert a["bow/indices"].shape == b["bow/indices"].shape


def test_lastfm_tags_are_track_level_binary_tasks(small):
    from msd_files import write_lastfm_db

    songs = small["songs"]
    tags = {
        s["tid"]: [("Chill Out", 100.0 if i % 2 else 20.0), ("rock", 50.0)]
        for i, s in enumerate(songs[:30])
    }
    write_lastfm_db(small["dir"] / "lastfm_tags.db", tags)
    prepare_msd(_opts(small, lastfm_db=small["dir"] / "lastfm_tags.db", lastfm_min_val=30))
    with PreparedFile(small["dir"] / "out" / "msd.h5") as f:
        table = {r["name"]: r for r in f.task_table()}
        assert table["lastfm_rock"]["source"] == "lastfm_tags"
        assert table["lastfm_rock"]["labelled"] == 30 and table["lastfm_rock"]["positives"] == 30
        assert table["lastfm_chill_out"]["positives"] == 15
        y, m = f.labels(["lastfm_chill_out"])["lastfm_chill_out"]
        ids = f.msd_ids().tolist()
        row = ids.index(songs[1]["tid"])
        assert m[row] and y[row] == 1.0 and y[ids.index(songs[0]["tid"])] == 0.0
