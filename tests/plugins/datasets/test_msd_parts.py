"""Side files and the small pieces: track_metadata.db, artist_term.db, .cls genres, tags, splits, transforms."""

import math
import sqlite3

import numpy as np
import pytest
from msd_files import song, write_artist_term_db, write_track_metadata_db

from mtl.core.errors import UserError
from mtl.plugins.datasets.msd.genre_cls import read_genre_cls
from mtl.plugins.datasets.msd.msd_sqlite import read_artist_terms, read_track_metadata
from mtl.plugins.datasets.msd.problems import Problems
from mtl.plugins.datasets.msd.splits import TEST, TRAIN, VAL, carve_validation
from mtl.plugins.datasets.msd.tags import choose_tags, identifier
from mtl.plugins.datasets.msd.transforms import transform_counts

A, B = "TRAAAAV128F421A322", "TRAAABD128F429CF47"


def test_track_metadata_minus_one_and_year_zero_are_missing(tmp_path):
    db = tmp_path / "track_metadata.db"
    write_track_metadata_db(
        db, [song(A), song(B)], {B: {"year": 0, "artist_hotttnesss": -1, "duration": 0}}
    )
    got = read_track_metadata(db, {A, B})
    assert got[A] == {
        "year": 1999.0,
        "duration": 200.0,
        "artist_familiarity": 0.6,
        "artist_hotttnesss": 0.4,
    }
    assert (
        math.isnan(got[B]["year"])
        and math.isnan(got[B]["artist_hotttnesss"])
        and math.isnan(got[B]["duration"])
    )
    assert read_track_metadata(db, {A}).keys() == {A}


def test_artist_terms_and_mbtags_from_artist_term_db(tmp_path):
    db = tmp_path / "artist_term.db"
    write_artist_term_db(
        db,
        [
            song(A, artist="AR1", terms=("pop", "rock"), mbtags=("uk",)),
            song(B, artist="AR2", terms=("jazz",)),
        ],
    )
    terms, mbtags = read_artist_terms(db, {"AR1", "AR2"})
    assert terms == {"AR1": ["pop", "rock"], "AR2": ["jazz"]} and mbtags == {"AR1": ["uk"]}
    broken = tmp_path / "broken.db"
    sqlite3.connect(broken).execute("CREATE TABLE artists (artist_id text)").connection.commit()
    with pytest.raises(UserError, match="no table 'artist_term'"):
        read_artist_terms(broken, {"AR1"})


def test_genre_cls_majority_genre_and_bad_lines(tmp_path):
    path = tmp_path / "msd_tagtraum_cd2.cls"
    path.write_text(
        f"# tagtraum genre annotations\n#\n{A}\tRock\tPop\n{B}\tNew Age\nTRBAD\tRock\n{A}\tJazz\n"
    )
    problems = Problems()
    assert read_genre_cls(path, problems) == {A: "Rock", B: "New Age"}
    assert (
        problems.counts["bad genre line"] == 2
        and f"{path}:5" in problems.examples["bad genre line"][0]
    )


@pytest.mark.parametrize(
    "term, name",
    [
        ("pop rock", "pop_rock"),
        ("Hip-Hop", "hip_hop"),
        ("80s", "80s"),
        ("música latina", "musica_latina"),
        ("  r&b ", "r_b"),
    ],
)
def test_tag_names_are_identifiers(term, name):
    assert identifier(term) == name
    assert identifier(term, "mb_") == "mb_" + name


def test_choose_tags_by_track_frequency_with_unique_names():
    artists = ["a", "a", "a", "b", "c", "d"]
    tags = {"a": ["rock", "hip hop"], "b": ["Hip-Hop", "rock"], "c": ["pop"], "d": []}
    fam = choose_tags(
        artists, tags, top=3, min_count=1, prefix="", reserved={"pop"}, source="artist_terms"
    )
    assert fam.terms == ["rock", "hip hop", "Hip-Hop"]  # 4, 3, 1 tracks; ties broken by text
    assert fam.names == ["rock", "hip_hop", "hip_hop_2"]
    assert fam.known.tolist() == [True, True, True, True, True, False]
    assert fam.positives().tolist() == [4, 3, 1]
    fam2 = choose_tags(artists, tags, top=10, min_count=2, prefix="", reserved={"pop"}, source="t")
    assert fam2.terms == ["rock", "hip hop"]
    fam3 = choose_tags(artists, tags, top=10, min_count=1, prefix="", reserved={"pop"}, source="t")
    assert "pop_tag" in fam3.names


def test_validation_is_artist_disjoint_deterministic_and_leaves_test_alone():
    rng = np.random.default_rng(1)
    artists = [f"AR{a}" for a in rng.integers(0, 40, 500)]
    split = np.where(rng.random(500) < 0.2, TEST, TRAIN).astype(np.uint8)
    out = carve_validation(split, artists, 0.1)
    assert np.array_equal(out, carve_validation(split[::1].copy(), list(artists), 0.1))
    assert np.array_equal(out == TEST, split == TEST)
    val_artists = {a for a, s in zip(artists, out, strict=True) if s == VAL}
    train_artists = {a for a, s in zip(artists, out, strict=True) if s == TRAIN}
    assert val_artists and not val_artists & train_artists
    n_train = (split == TRAIN).sum()
    assert 0.1 * n_train <= (out == VAL).sum() < 0.1 * n_train + 40
    assert not (carve_validation(split, artists, 0.0) == VAL).any()


def test_transforms_touch_only_the_nonzeros():
    indptr = np.array([0, 2, 3, 3])
    indices = np.array([0, 2, 2], dtype=np.int32)
    counts = np.array([1, 3, 4], dtype=np.int32)
    train = np.array([0, 1, 2])
    assert transform_counts("counts", indptr, indices, counts, 4, train).tolist() == [1, 3, 4]
    assert transform_counts("binary", indptr, indices, counts, 4, train).tolist() == [1, 1, 1]
    assert np.allclose(
        transform_counts("log1p", indptr, indices, counts, 4, train), np.log1p([1, 3, 4])
    )
    tfidf = transform_counts("tfidf", indptr, indices, counts, 4, train)
    idf = np.log(4 / np.array([2, 3, 3])) + 1  # df: word 0 in 1 row, word 2 in 2 rows
    raw = np.array([1, 3, 4]) * idf
    expected = np.concatenate([raw[:2] / np.linalg.norm(raw[:2]), [1.0]])
    assert np.allclose(tfidf, expected) and tfidf.dtype == np.float32
    from scipy.sparse import csr_matrix
    from sklearn.feature_extraction.text import TfidfTransformer

    dense = TfidfTransformer().fit_transform(csr_matrix((counts, indices, indptr), shape=(3, 4)))
    assert np.allclose(tfidf, dense.tocsr().data)


def test_lastfm_tags_by_rowid_with_a_strength_threshold(tmp_path):
    from msd_files import write_lastfm_db

    from mtl.plugins.datasets.msd.msd_sqlite import read_lastfm_tags

    db = tmp_path / "lastfm_tags.db"
    write_lastfm_db(db, {A: [("rock", 100.0), ("sad", 10.0)], B: [("sad", 60.0)]})
    assert read_lastfm_tags(db, {A, B}, 0) == {A: ["rock", "sad"], B: ["sad"]}
    assert read_lastfm_tags(db, {A, B}, 50) == {A: ["rock"], B: ["sad"]}
    assert read_lastfm_tags(db, {B}, 0) == {B: ["sad"]}
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    with pytest.raises(UserError, match="Last.fm tag database"):
        read_lastfm_tags(garbage, {A}, 0)
