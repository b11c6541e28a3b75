"""Built-in datasets: ``synthetic`` (known ground truth) and ``dummy`` (smoke runs)."""

from mtl import hookimpl
from mtl.plugins.datasets.synthetic import DummyDataset, SyntheticDataset


@hookimpl
def mtl_register_datasets(registry):
    registry.add("synthetic", SyntheticDataset())
    registry.add("dummy", DummyDataset())
