"""musiXmatch text files: comments, the % line, 1-based indices, and every kind of bad line."""

import numpy as np
import pytest
from msd_files import write_mxm_text

from mtl.core.errors import UserError
from mtl.plugins.datasets.msd.mxm_text import read_mxm_text
from mtl.plugins.datasets.msd.problems import Problems

VOCAB = ["i", "the", "you", "to", "and"]
T1, T2, T3 = "TRAAAAV128F421A322", "TRAAABD128F429CF47", "TRAAAED128E0783FAB"


def test_reads_tracks_with_one_based_indices_and_splits_by_file_name(tmp_path):
    train, test = tmp_path / "mxm_dataset_train.txt", tmp_path / "mxm_dataset_test.txt"
    write_mxm_text(train, VOCAB, [(T1, 4623710, {1: 6, 2: 4, 5: 1}), (T2, 6477168, {3: 2})])
    write_mxm_text(test, VOCAB, [(T3, 2, {5: 9})])
    lyrics = read_mxm_text([train, test], Problems())
    assert lyrics.vocab == VOCAB
    assert lyrics.track_ids == [T1, T2, T3]
    assert lyrics.mxm_ids.tolist() == [4623710, 6477168, 2]
    assert lyrics.is_test.tolist() == [False, False, True]
    assert lyrics.indptr.tolist() == [0, 3, 4, 5]
    assert lyrics.indices.tolist() == [0, 1, 4, 2, 4]  # 0-based columns
    assert lyrics.counts.tolist() == [6, 4, 1, 2, 9]


def test_lines_are_classified_by_first_character_not_position(tmp_path):
    path = tmp_path / "mxm_dataset_train.txt"
    path.write_text(
        "\r\n".join(
            [
                "# a comment",
                "",
                "%" + ",".join(VOCAB),
                "# another comment",
                f"{T1},1,2:3",
                "",
                f"{T2},2,1:1,4:2",
            ]
        )
        + "\r\n"
    )
    lyrics = read_mxm_text([path], Problems())
    assert lyrics.track_ids == [T1, T2]
    assert lyrics.counts.tolist() == [3, 1, 2]


@pytest.mark.parametrize(
    "line, kind, says",
    [
        ("TRBAD,1,1:1", "bad track id", "not an MSD track id"),
        (f"{T3},x,1:1", "bad mxm id", "not an integer"),
        (f"{T3},1,6:1", "bad word count", "outside 1..5"),
        (f"{T3},1,0:1", "bad word count", "outside 1..5"),
        (f"{T3},1,1:2.5", "bad word count", "'2.5' is not a positive integer"),
        (f"{T3},1,1:0", "bad word count", "count 0 is not positive"),
        (f"{T3},1,1:1,1:2", "bad word count", "appears twice"),
        (f"{T3},1,1-1", "bad word count", "expected idx:count"),
        (f"{T3},1,5", "bad word count", "expected idx:count"),
        (f"{T3},1,1:2:3,4", "bad word count", "count '2:3' is not a positive integer"),
        (f"{T3},1,1:2,,3:4", "bad word count", "expected idx:count"),
        (f"{T1},9,1:1", "duplicate track", "appears again"),
    ],
)
def test_a_bad_line_is_reported_with_file_and_line_and_skipped(tmp_path, line, kind, says):
    path = tmp_path / "mxm_dataset_train.txt"
    write_mxm_text(path, VOCAB, [(T1, 1, {1: 1}), (T2, 2, {2: 2})], extra=[line])
    problems = Problems()
    lyrics = read_mxm_text([path], problems)
    assert lyrics.track_ids == [T1, T2]
    assert lyrics.counts.tolist() == [1, 2]
    assert problems.counts == {kind: 1}
    message = problems.examples[kind][0]
    assert message.startswith(f"{path}:7:") and says in message, message
    with pytest.raises(UserError, match="--strict"):
        read_mxm_text([path], Problems(strict=True))


def test_duplicate_track_across_the_two_files_keeps_the_first(tmp_path):
    a, b = tmp_path / "mxm_dataset_train.txt", tmp_path / "mxm_dataset_test.txt"
    write_mxm_text(a, VOCAB, [(T1, 1, {1: 1})])
    write_mxm_text(b, VOCAB, [(T1, 1, {2: 1}), (T2, 2, {3: 1})])
    problems = Problems()
    lyrics = read_mxm_text([a, b], problems)
    assert lyrics.track_ids == [T1, T2] and lyrics.is_test.tolist() == [False, True]
    assert problems.counts["duplicate track"] == 1


def test_missing_vocabulary_line_and_mismatched_vocabularies_are_errors(tmp_path):
    a, b = tmp_path / "mxm_dataset_train.txt", tmp_path / "mxm_dataset_test.txt"
    write_mxm_text(a, VOCAB, [(T1, 1, {1: 1})], vocab_line=False)
    with pytest.raises(UserError, match="no '%' vocabulary line"):
        read_mxm_text([a], Problems())
    write_mxm_text(a, VOCAB, [(T1, 1, {1: 1})])
    write_mxm_text(b, VOCAB[::-1], [(T2, 1, {1: 1})])
    with pytest.raises(UserError, match="differs"):
        read_mxm_text([a, b], Problems())
    with pytest.raises(UserError, match="cannot read"):
        read_mxm_text([tmp_path / "absent.txt"], Problems())


def test_parses_many_tracks_in_chunks(tmp_path, monkeypatch):
    from mtl.plugins.datasets.msd import mxm_text

    monkeypatch.setattr(mxm_text, "CHUNK", 7)
    rng = np.random.default_rng(0)
    tracks = [
        (
            f"TR{i:016d}",
            i,
            {
                int(j): int(rng.integers(1, 9))
                for j in rng.choice(np.arange(1, 6), 3, replace=False)
            },
        )
        for i in range(50)
    ]
    path = tmp_path / "mxm_dataset_train.txt"
    write_mxm_text(path, VOCAB, tracks)
    lyrics = read_mxm_text([path], Problems())
    assert lyrics.n == 50
    for row, (_, _, words) in enumerate(tracks):
        lo, hi = lyrics.indptr[row], lyrics.indptr[row + 1]
        assert (
            dict(
                zip(
                    (lyrics.indices[lo:hi] + 1).tolist(), lyrics.counts[lo:hi].tolist(), strict=True
                )
            )
            == words
        )
