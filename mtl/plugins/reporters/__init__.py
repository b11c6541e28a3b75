"""Built-in reporters: console (progress and tables), jsonl (the run's record), plots,
csv (metrics.csv), tensorboard (event files) and mlflow (tracking store)."""

from mtl import hookimpl
from mtl.plugins.reporters.console import ConsoleReporter
from mtl.plugins.reporters.csv_table import CsvReporter
from mtl.plugins.reporters.jsonl import JsonlReporter
from mtl.plugins.reporters.mlflow_tracking import MlflowReporter
from mtl.plugins.reporters.plots import PlotsReporter
from mtl.plugins.reporters.tensorboard import TensorBoardReporter


@hookimpl
def mtl_register_reporters(registry):
    registry.add("console", ConsoleReporter)
    registry.add("jsonl", JsonlReporter)
    registry.add("plots", PlotsReporter)
    registry.add("csv", CsvReporter)
    registry.add("tensorboard", TensorBoardReporter)
    registry.add("mlflow", MlflowReporter)
