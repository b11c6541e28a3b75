"""Built-in datasets: ``synthetic`` (known ground truth), ``dummy`` (smoke runs), ``msd``,
``fma-spectrograms``, ``fma-multitask`` and ``msd-genre`` (sequences)."""

from mtl import hookimpl
from mtl.plugins.datasets.fma.dataset import FmaMultitask, FmaSpectrograms
from mtl.plugins.datasets.msd.dataset import MsdDataset
from mtl.plugins.datasets.msd_genre.dataset import MsdGenre
from mtl.plugins.datasets.sequences import SyntheticSequenceDataset
from mtl.plugins.datasets.synthetic import DummyDataset, SyntheticDataset


@hookimpl
def mtl_register_datasets(registry):
    registry.add("synthetic", SyntheticDataset())
    registry.add("dummy", DummyDataset())
    registry.add("msd", MsdDataset())
    registry.add("synthetic-seq", SyntheticSequenceDataset())
    registry.add("fma-spectrograms", FmaSpectrograms())
    registry.add("fma-multitask", FmaMultitask())
    registry.add("msd-genre", MsdGenre())
