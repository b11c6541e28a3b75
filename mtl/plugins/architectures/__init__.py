"""Built-in architectures: the sharing patterns of the founding study, expert models
(``mmoe``, ``omoe``, ``cgc``, ``ple``, ``dselect-k``) and soft sharing (``cross-stitch``,
``mtan``)."""

from mtl import hookimpl
from mtl.plugins.architectures.cgc import CGC
from mtl.plugins.architectures.cross_stitch import CrossStitchArchitecture
from mtl.plugins.architectures.dselect_k import DSelectK
from mtl.plugins.architectures.mmoe import MMoE
from mtl.plugins.architectures.mtan import MtanArchitecture
from mtl.plugins.architectures.omoe import OMoE
from mtl.plugins.architectures.ple import PLE
from mtl.plugins.architectures.sharing import NAMED_PATTERNS, SharingArchitecture, pattern_resolver


@hookimpl
def mtl_register_architectures(registry):
    for name, (pattern, description) in NAMED_PATTERNS.items():
        registry.add(name, SharingArchitecture(pattern, description))
    registry.add_resolver(pattern_resolver)
    for arch in (MMoE(), OMoE(), CGC(), PLE(), DSelectK()):
        registry.add(arch.name, arch)
    registry.add("cross-stitch", CrossStitchArchitecture())
    registry.add("mtan", MtanArchitecture())
