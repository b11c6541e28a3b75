"""Built-in encoders: ``mlp`` (the default), ``lstm``, ``cnn1d``, ``cnn2d``."""

from mtl import hookimpl
from mtl.plugins.encoders.cnn import Cnn1dEncoder, Cnn2dEncoder
from mtl.plugins.encoders.lstm import LstmEncoder
from mtl.plugins.encoders.mlp import MlpEncoder


@hookimpl
def mtl_register_encoders(registry):
    registry.add("mlp", MlpEncoder())
    registry.add("lstm", LstmEncoder())
    registry.add("cnn1d", Cnn1dEncoder())
    registry.add("cnn2d", Cnn2dEncoder())
