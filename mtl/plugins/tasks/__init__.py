"""Built-in task types: regression, binary, multiclass, reconstruction."""

from mtl import hookimpl
from mtl.plugins.tasks.binary import BinaryTask
from mtl.plugins.tasks.multiclass import MulticlassTask
from mtl.plugins.tasks.reconstruction import ReconstructionTask
from mtl.plugins.tasks.regression import RegressionTask


@hookimpl
def mtl_register_task_types(registry):
    registry.add("regression", RegressionTask())
    registry.add("binary", BinaryTask())
    registry.add("multiclass", MulticlassTask())
    registry.add("reconstruction", ReconstructionTask())
