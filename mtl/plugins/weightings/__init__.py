"""Built-in task-balancing methods, one module each, registered like third-party ones.

``BUILTINS`` maps each method's name to ``module:Class`` under this package; a module
is imported only when the registry is filled, so the CLI starts without torch.
"""

from importlib import import_module

from mtl import hookimpl

BUILTINS: dict[str, str] = {
    "ew": "ew:EqualWeighting",
    "fixed": "fixed:FixedWeighting",
    "rlw": "rlw:RandomLossWeighting",
    "uw": "uw:UncertaintyWeighting",
    "dwa": "dwa:DynamicWeightAverage",
    "gls": "gls:GeometricLossStrategy",
    "imtl-l": "imtl_l:ImpartialLossWeighting",
    "famo": "famo:FastAdaptiveMultitask",
    "stch": "stch:SmoothTchebycheff",
    "gradnorm": "gradnorm:GradNorm",
}


@hookimpl
def mtl_register_weightings(registry):
    for name, target in BUILTINS.items():
        module, _, cls = target.partition(":")
        registry.add(name, getattr(import_module(f"{__name__}.{module}"), cls))
