"""The ``msd`` dataset: default location, options, transforms, complete cases, errors."""

import numpy as np
import pytest

from mtl.core.errors import UserError
from mtl.core.options import resolve_options
from mtl.core.plugins import load_plugins
from mtl.plugins.datasets.msd.location import default_path
from mtl.plugins.datasets.msd.prepare import PrepareOptions, prepare_msd
from mtl.plugins.datasets.msd.splits import TRAIN, VAL
from mtl.plugins.datasets.msd.store import PreparedFile


@pytest.fixture
def prepared(small):
    out = small["dir"] / "msd.h5"
    prepare_msd(PrepareOptions(out=out, mxm=small["mxm"], msd=small["root"], workers=1))
    return out


@pytest.fixture
def msd():
    plugins = load_plugins(env={"MTL_PLUGINS": ""})
    assert plugins.failures == []
    return plugins.registries.datasets.get("msd")


def _options(msd, **given):
    return resolve_options(msd.options, given, "dataset 'msd'")


def test_default_location_and_environment_variables(monkeypatch, tmp_path):
    monkeypatch.delenv("MTL_MSD", raising=False)
    monkeypatch.delenv("MTL_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_path() == tmp_path / ".cache" / "mtl" / "msd.h5"
    monkeypatch.setenv("MTL_DATA", str(tmp_path / "data"))
    assert default_path() == tmp_path / "data" / "msd.h5"
    monkeypatch.setenv("MTL_MSD", str(tmp_path / "elsewhere.h5"))
    assert default_path() == tmp_path / "elsewhere.h5"


def test_missing_file_says_how_to_prepare_it(msd, monkeypatch, tmp_path):
    monkeypatch.setenv("MTL_MSD", str(tmp_path / "none.h5"))
    with pytest.raises(UserError, match="mtl data prepare msd .* --out .*none.h5"):
        msd.offered_tasks(_options(msd))
    not_ours = tmp_path / "other.h5"
    not_ours.write_bytes(b"not hdf5")
    with pytest.raises(UserError, match="not a readable HDF5"):
        msd.offered_tasks(_options(msd, path=str(not_ours)))


def test_load_gives_sparse_inputs_labels_masks_and_splits(msd, prepared, monkeypatch):
    monkeypatch.setenv("MTL_MSD", str(prepared))
    opts = _options(msd)
    offered = {t.name: t for t in msd.offered_tasks(opts)}
    assert offered["key"].classes[:2] == ("C", "C#") and offered["pop"].kind == "binary"
    data = msd.load(opts, ["pop", "loudness", "key"])
    assert data.inputs.kind == "sparse" and data.inputs.dim == 50 and data.n == 90
    with PreparedFile(prepared) as f:
        split = f.split()
        _, _, counts = f.bow()
    assert np.array_equal(data.splits["val"], np.flatnonzero(split == VAL))
    assert np.array_equal(data.inputs.data, counts.astype(np.float32))
    assert data.masks["pop"].sum() < 90 and np.isnan(data.targets["pop"][~data.masks["pop"]]).all()
    assert data.ids[0].startswith("TR")
    assert data.fingerprint() == msd.load(opts, ["pop", "loudness", "key"]).fingerprint()


@pytest.mark.parametrize("kind", ["binary", "log1p", "tfidf"])
def test_input_transforms_keep_the_sparsity(msd, prepared, kind):
    base = msd.load(_options(msd, path=str(prepared)), ["pop"]).inputs
    data = msd.load(_options(msd, path=str(prepared), input=kind), ["pop"]).inputs
    assert np.array_equal(data.indices, base.indices) and np.array_equal(data.indptr, base.indptr)
    assert not np.array_equal(data.data, base.data)


def test_complete_cases_and_a_new_validation_split(msd, prepared):
    tasks = ["pop", "year", "song_hotttnesss"]
    full = msd.load(_options(msd, path=str(prepared)), tasks)
    cc = msd.load(_options(msd, path=str(prepared), complete_cases="yes"), tasks)
    complete = np.logical_and.reduce([full.masks[t] for t in tasks])
    for split in ("train", "val", "test"):
        assert np.array_equal(cc.splits[split], full.splits[split][complete[full.splits[split]]])
    assert len(cc.splits["train"]) < len(full.splits["train"])
    carved = msd.load(_options(msd, path=str(prepared), val_fraction=0.3), ["pop"])
    with PreparedFile(prepared) as f:
        artists = np.array(f.artist_ids())
    assert len(carved.splits["val"]) > len(full.splits["val"])
    assert not set(artists[carved.splits["val"]]) & set(artists[carved.splits["train"]])
    assert np.array_equal(carved.splits["test"], full.splits["test"])
    assert TRAIN == 0
