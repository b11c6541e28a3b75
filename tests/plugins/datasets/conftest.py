"""Fixtures writing small MSD and musiXmatch files in their published layouts."""

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import msd_files  # noqa: E402


@pytest.fixture(scope="session")
def small_template(tmp_path_factory):
    """Written once: lyrics text files and a per-track tree (90 of the 96 tracks, plus one without lyrics)."""
    base = tmp_path_factory.mktemp("msd-template")
    vocab, songs, train, test = msd_files.collection(96)
    msd_files.write_tree(base / "MillionSong", songs[:90])
    msd_files.write_tree(base / "MillionSong", [msd_files.song("TRZZZZZZZZZZZZZZZZ")])
    msd_files.write_mxm_text(base / "mxm_dataset_train.txt", vocab, train)
    msd_files.write_mxm_text(base / "mxm_dataset_test.txt", vocab, test)
    return base, {"vocab": vocab, "songs": songs, "train": train, "test": test}


@pytest.fixture
def small(small_template, tmp_path):
    """A private copy of the small collection (tests may damage it)."""
    base, content = small_template
    shutil.copytree(base, tmp_path, dirs_exist_ok=True)
    return {
        **content,
        "root": tmp_path / "MillionSong",
        "mxm": [tmp_path / "mxm_dataset_train.txt", tmp_path / "mxm_dataset_test.txt"],
        "dir": tmp_path,
    }
