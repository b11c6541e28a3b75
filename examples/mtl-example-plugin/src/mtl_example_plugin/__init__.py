"""An example mtl plugin: the ``csv-features`` dataset and the ``long-csv`` reporter.

mtl finds this module through the entry point declared in ``pyproject.toml``::

    [project.entry-points.mtl]
    example = "mtl_example_plugin"

and calls the hooks below, each with a registry to add components to. A plugin
implements only the hooks it needs; the names must match mtl's hook specs exactly
(``mtl plugins`` reports a misspelled one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mtl import hookimpl

from mtl_example_plugin.csv_features import CsvFeaturesDataset
from mtl_example_plugin.csv_reporter import CsvReporter

if TYPE_CHECKING:
    from mtl.core.registry import PluginRegistry

__version__ = "0.1.0"


@hookimpl
def mtl_register_datasets(registry: PluginRegistry) -> None:
    # Datasets are registered as instances.
    registry.add("csv-features", CsvFeaturesDataset())


@hookimpl
def mtl_register_reporters(registry: PluginRegistry) -> None:
    # Reporters are registered as classes: mtl makes a fresh one for every run.
    # mtl has a built-in "csv" reporter: names are unique, so this one has its own.
    registry.add("long-csv", CsvReporter)
