"""Built-in datasets: ``synthetic`` (known ground truth), ``dummy`` (smoke runs), ``msd``."""

from mtl import hookimpl
from mtl.plugins.datasets.msd.dataset import MsdDataset
from mtl.plugins.datasets.synthetic import DummyDataset, SyntheticDataset


@hookimpl
def mtl_register_datasets(registry):
    registry.add("synthetic", SyntheticDataset())
    registry.add("dummy", DummyDataset())
    registry.add("msd", MsdDataset())
