"""A base for gradient methods that turn the present tasks' Gramian into task weights.

Most gradient-balancing methods only need the k×k matrix of task-gradient dot products
``G = J Jᵀ``: they return weights ``w`` and the shared gradient is ``Jᵀw``. This base
does the bookkeeping every such method shares: it restricts the problem to the tasks
present in the step (absent tasks take no part and get weight 0, so a step with an
absent task equals the same step without that task), moves ``G`` to float64 on the
CPU, and puts the weights back on the Jacobian's (or Gramian's) device and dtype. It reads only
``info.gram`` (``gramian_only``): the step may hand it the Gramian without a Jacobian.
"""

from __future__ import annotations

from abc import abstractmethod

import torch
from torch import Tensor

from mtl.core.weighting import Combination, StepInfo, Weighting


class GramianWeighting(Weighting):
    """Weights from the Gramian of the present tasks; subclasses implement :meth:`weigh`."""

    needs = "gradients"
    gramian_only = True

    def combine(self, info: StepInfo) -> Combination:
        assert info.jacobian is not None or info.gramian is not None, (
            f"{type(self).__name__} needs per-task gradients"
        )
        index = info.present.nonzero().flatten().cpu()
        weights = torch.zeros(self.num_tasks, dtype=torch.float64)
        if len(index):
            gram = info.gram.detach().to("cpu", torch.float64)[index][:, index]
            losses = info.losses.detach().to("cpu", torch.float64)[index]
            weights[index] = self.weigh(gram, index, losses)
        like = info.jacobian if info.jacobian is not None else info.gramian
        return Combination(weights=weights.to(like.device, like.dtype))

    @abstractmethod
    def weigh(self, gram: Tensor, index: Tensor, losses: Tensor) -> Tensor:
        """Weights ``(n,)`` of the ``n`` present tasks (float64) from their Gramian ``(n, n)``.

        ``index`` holds the present tasks' positions among all tasks (for methods with
        per-task state) and ``losses`` their losses.
        """
