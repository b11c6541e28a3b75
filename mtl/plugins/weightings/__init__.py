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
    "mgda": "mgda:MGDA",
    "mgda-ub": "mgda:MGDAUB",
    "pcgrad": "pcgrad:PCGrad",
    "gradvac": "gradvac:GradVac",
    "cagrad": "cagrad:CAGrad",
    "imtl-g": "imtl_g:IMTLG",
    "nash-mtl": "nash_mtl:NashMTL",
    "aligned-mtl": "aligned_mtl:AlignedMTL",
    "upgrad": "upgrad:UPGrad",
    "db-mtl": "db_mtl:DBMTL",
    "fairgrad": "fairgrad:FairGrad",
}


@hookimpl
def mtl_register_weightings(registry):
    for name, target in BUILTINS.items():
        module, _, cls = target.partition(":")
        registry.add(name, getattr(import_module(f"{__name__}.{module}"), cls))
