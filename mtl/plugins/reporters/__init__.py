"""Built-in reporters: console (progress and tables), jsonl (the run's record), plots."""

from mtl import hookimpl
from mtl.plugins.reporters.console import ConsoleReporter
from mtl.plugins.reporters.jsonl import JsonlReporter
from mtl.plugins.reporters.plots import PlotsReporter


@hookimpl
def mtl_register_reporters(registry):
    registry.add("console", ConsoleReporter)
    registry.add("jsonl", JsonlReporter)
    registry.add("plots", PlotsReporter)
