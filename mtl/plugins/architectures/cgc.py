"""CGC: customized gate control, one level of PLE.

Tang, Liu, Zhao, Gong. "Progressive Layered Extraction (PLE): A Novel Multi-Task
Learning (MTL) Model for Personalized Recommendations." RecSys 2020 (section 4.2).

Shared experts and each task's own experts; task ``t``'s gate mixes the shared experts
and its own into its tower's input. The model of :mod:`.ple` with one level and no
shared gate: the shared experts are shared, each task's experts, gate and tower are
its own.
"""

from __future__ import annotations

from mtl.core.architecture import ModelSpec
from mtl.plugins.architectures.experts import EXPERT_WIDTHS
from mtl.plugins.architectures.ple import PLE, SHARED_EXPERTS, TASK_EXPERTS


class CGC(PLE):
    """Customized gate control (Tang et al., RecSys 2020): shared and task experts, one
    gate and one tower per task."""

    description = "customized gate control (Tang et al. 2020): shared and task experts, one level"
    options = (SHARED_EXPERTS, TASK_EXPERTS, EXPERT_WIDTHS)
    name = "cgc"

    def levels(self, spec: ModelSpec) -> int:
        return 1
