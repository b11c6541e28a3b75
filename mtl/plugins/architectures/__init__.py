"""Built-in architectures: the sharing patterns of the founding study."""

from mtl import hookimpl
from mtl.plugins.architectures.sharing import NAMED_PATTERNS, SharingArchitecture, pattern_resolver


@hookimpl
def mtl_register_architectures(registry):
    for name, (pattern, description) in NAMED_PATTERNS.items():
        registry.add(name, SharingArchitecture(pattern, description))
    registry.add_resolver(pattern_resolver)
