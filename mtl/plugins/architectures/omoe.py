"""OMoE: one-gate mixture of experts, the baseline of the MMoE paper.

Ma, Zhao, Yi, Chen, Hong, Chi. "Modeling Task Relationships in Multi-task Learning
with Multi-gate Mixture-of-Experts." KDD 2018 (section 4, "OMoE").

The model of :mod:`.mmoe` with a single softmax gate shared by every task: all tasks'
towers read the same mixture of experts. Experts and the gate are shared parameters;
the towers are each task's own.
"""

from __future__ import annotations

from mtl.plugins.architectures.mmoe import MMoE


class OMoE(MMoE):
    """One-gate mixture of experts (the MMoE paper's baseline): shared experts mixed by
    one shared softmax gate, one tower per task."""

    description = "one-gate mixture of experts (Ma et al. 2018's baseline): one shared gate"
    one_gate = True
