"""musiXmatch mxm_dataset.db: the same tracks and counts as the text files."""

import sqlite3

import numpy as np
import pytest
from msd_files import collection, write_mxm_db, write_mxm_text

from mtl.core.errors import UserError
from mtl.plugins.datasets.msd.mxm_sqlite import read_mxm_db
from mtl.plugins.datasets.msd.mxm_text import read_mxm_text
from mtl.plugins.datasets.msd.problems import Problems


def _by_track(lyrics):
    out = {}
    for row, tid in enumerate(lyrics.track_ids):
        lo, hi = lyrics.indptr[row], lyrics.indptr[row + 1]
        out[tid] = (
            sorted(zip(lyrics.indices[lo:hi].tolist(), lyrics.counts[lo:hi].tolist(), strict=True)),
            bool(lyrics.is_test[row]),
        )
    return out


def test_database_reads_like_the_text_files(tmp_path):
    vocab, _, train, test = collection(40)
    db = tmp_path / "mxm_dataset.db"
    write_mxm_db(db, vocab, train, test)
    write_mxm_text(tmp_path / "mxm_dataset_train.txt", vocab, train)
    write_mxm_text(tmp_path / "mxm_dataset_test.txt", vocab, test)
    from_db = read_mxm_db(db, Problems())
    from_text = read_mxm_text(
        [tmp_path / "mxm_dataset_train.txt", tmp_path / "mxm_dataset_test.txt"], Problems()
    )
    assert from_db.vocab == vocab
    assert _by_track(from_db) == _by_track(from_text)
    mxm = dict(zip(from_db.track_ids, from_db.mxm_ids.tolist(), strict=True))
    assert mxm == dict(zip(from_text.track_ids, from_text.mxm_ids.tolist(), strict=True))
    assert from_db.indices.dtype == np.int32


def test_unknown_word_drops_the_track_and_is_reported(tmp_path):
    vocab, _, train, test = collection(10)
    db = tmp_path / "mxm_dataset.db"
    write_mxm_db(db, vocab, train, test)
    con = sqlite3.connect(db)
    con.execute("INSERT INTO lyrics VALUES (?, 1, 'zzzunknown', 2, 0)", (train[0][0],))
    con.commit()
    con.close()
    problems = Problems()
    lyrics = read_mxm_db(db, problems)
    assert train[0][0] not in lyrics.track_ids and lyrics.n == 9
    assert "unknown word 'zzzunknown'" in problems.examples["bad word count"][0]


def test_unreadable_or_wrong_database_is_one_error(tmp_path):
    bad = tmp_path / "mxm_dataset.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(UserError, match="cannot read musiXmatch database"):
        read_mxm_db(bad, Problems())
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE words (word TEXT)").connection.commit()
    with pytest.raises(UserError, match="no table 'lyrics'"):
        read_mxm_db(other, Problems())
    with pytest.raises(UserError, match="does not exist"):
        read_mxm_db(tmp_path / "absent.db", Problems())
