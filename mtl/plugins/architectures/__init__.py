"""Built-in architectures: the sharing patterns of the founding study, and soft sharing
(``cross-stitch``, ``mtan``)."""

from mtl import hookimpl
from mtl.plugins.architectures.cross_stitch import CrossStitchArchitecture
from mtl.plugins.architectures.mtan import MtanArchitecture
from mtl.plugins.architectures.sharing import NAMED_PATTERNS, SharingArchitecture, pattern_resolver


@hookimpl
def mtl_register_architectures(registry):
    for name, (pattern, description) in NAMED_PATTERNS.items():
        registry.add(name, SharingArchitecture(pattern, description))
    registry.add_resolver(pattern_resolver)
    registry.add("cross-stitch", CrossStitchArchitecture())
    registry.add("mtan", MtanArchitecture())
