"""MSD HDF5 files: per-track files in the data/A/B/C tree, aggregate and summary files."""

import math

import h5py
import numpy as np
import pytest
from msd_files import song, tree_path, write_songs_h5, write_tree

from mtl.plugins.datasets.msd import msd_h5

TID = "TRAAABD128F429CF47"


def test_fixture_layout_is_the_published_one(tmp_path):
    # the 3rd to 5th characters of the id: TRAABCL… lives in data/A/A/B/
    assert (
        tree_path(tmp_path, "TRAABCL128F4286650").relative_to(tmp_path).as_posix()
        == "data/A/A/B/TRAABCL128F4286650.h5"
    )
    path = tree_path(tmp_path, TID)
    write_songs_h5(path, [song(TID)])
    with h5py.File(path) as f:
        for group in ("metadata", "analysis", "musicbrainz"):
            names = f[group]["songs"].dtype.names
            assert list(names) == sorted(names)
            assert f[group]["songs"].shape == (1,)
        assert f["metadata/songs"].dtype["artist_id"] == np.dtype("S32")
        assert f["analysis/songs"].dtype["key"] == np.dtype("<i4")
        assert f["metadata/artist_terms"].dtype == np.dtype("S256")
        assert f["analysis/segments_timbre"].shape[1] == 12


def test_reads_one_track_by_field_name_with_missing_values(tmp_path):
    path = tree_path(tmp_path, TID)
    s = song(
        TID,
        terms=("pop rock", "ballad"),
        mbtags=("british",),
        year=0,
        song_hotttnesss=math.nan,
        tempo=0.0,
        key=11,
        mode=0,
    )
    write_songs_h5(path, [s])
    r = msd_h5.read_track_file(path)
    v = dict(zip(msd_h5.VALUES, r["values"], strict=True))
    assert r["track_id"] == TID and r["artist_id"] == s["artist"] and r["title"] == "A Song"
    assert r["terms"] == ["pop rock", "ballad"] and r["mbtags"] == ["british"]
    assert math.isnan(v["year"]) and math.isnan(v["song_hotttnesss"]) and math.isnan(v["tempo"])
    assert v["key"] == 11 and v["mode"] == 0 and v["loudness"] == -8.0 and v["time_signature"] == 4


def test_empty_arrays_are_no_tags(tmp_path):
    path = tree_path(tmp_path, TID)
    write_songs_h5(path, [song(TID, terms=(), mbtags=())])
    r = msd_h5.read_track_file(path)
    assert r["terms"] == [] and r["mbtags"] == []


@pytest.mark.parametrize(
    "damage, kind",
    [
        ("truncate", "unreadable HDF5"),
        ("garbage", "unreadable HDF5"),
        ("no-group", "missing group or field"),
        ("no-field", "missing group or field"),
        ("no-terms", "missing group or field"),
        ("other-id", "track id mismatch"),
    ],
)
def test_bad_files_raise_bad_file_with_a_kind(tmp_path, damage, kind):
    path = tree_path(tmp_path, TID)
    if damage == "no-group":
        write_songs_h5(path, [song(TID)], drop=("musicbrainz",))
    elif damage == "no-field":
        write_songs_h5(path, [song(TID)], drop=("analysis/loudness",))
    elif damage == "no-terms":
        write_songs_h5(path, [song(TID)], arrays=False)
    elif damage == "other-id":
        write_songs_h5(path, [song("TRAAAAV128F421A322")])
    else:
        write_songs_h5(path, [song(TID)])
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3] if damage == "truncate" else b"\x00garbage" * 200)
    with pytest.raises(msd_h5.BadFile) as info:
        msd_h5.read_track_file(path)
    assert info.value.kind == kind
    records, problems = msd_h5.read_track_files([str(path)])
    assert records == [] and problems[0][:2] == (kind, str(path))


def test_aggregate_file_slices_arrays_by_idx_across_blocks(tmp_path):
    songs = [
        song(
            f"TR{i:016d}",
            artist=f"AR{i:016d}",
            terms=tuple(f"t{i}_{j}" for j in range(i % 3)),
            mbtags=("x",) * (i % 2),
            year=1990 + i,
        )
        for i in range(7)
    ]
    path = tmp_path / "aggregate.h5"
    write_songs_h5(path, songs)
    f, n = msd_h5.open_aggregate(path)
    with f:
        assert n == 7
        records = msd_h5.read_rows(f, 0, 3) + msd_h5.read_rows(f, 3, 5) + msd_h5.read_rows(f, 5, 99)
    assert [r["track_id"] for r in records] == [s["tid"] for s in songs]
    assert [r["terms"] for r in records] == [list(s["terms"]) for s in songs]
    assert [r["mbtags"] for r in records] == [list(s["mbtags"]) for s in songs]
    assert [r["values"][msd_h5.VALUES.index("year")] for r in records] == [
        1990.0 + i for i in range(7)
    ]


def test_summary_file_has_no_arrays(tmp_path):
    path = tmp_path / "msd_summary_file.h5"
    write_songs_h5(path, [song(f"TR{i:016d}") for i in range(3)], arrays=False)
    f, n = msd_h5.open_aggregate(path)
    with f:
        records = msd_h5.read_rows(f)
    assert n == 3 and all(r["terms"] is None and r["mbtags"] is None for r in records)


def test_finds_track_files_in_the_tree(tmp_path):
    ids = ["TRAAABD128F429CF47", "TRBBBBB128F429CF47", "TRAAAAV128F421A322"]
    write_tree(tmp_path, [song(t) for t in ids])
    (tmp_path / "data" / "A" / "notes.txt").write_text("x")
    found = dict(msd_h5.find_track_files(tmp_path))
    assert sorted(found) == sorted(ids)
    assert found[ids[1]].endswith("data/B/B/B/TRBBBBB128F429CF47.h5")
    assert dict(msd_h5.find_track_files(tmp_path / "data")) == found
