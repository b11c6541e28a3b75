"""Equal weighting: the sum of the task losses (the default, and the trainer's loss
before weightings existed; ``--task-weight`` still scales each task's loss)."""

from __future__ import annotations

from mtl.core.weighting import Combination, StepInfo, Weighting


class EqualWeighting(Weighting):
    """Every present task weighs 1: ``sum_i c_i * loss[i]``, ``c`` the ``--task-weight``s."""

    description = "equal weighting: the sum of the task losses (default)"

    def combine(self, info: StepInfo) -> Combination:
        return Combination(weights=info.present.to(info.losses.dtype))

    def static_weights(self) -> list[float]:
        return [1.0] * self.num_tasks
