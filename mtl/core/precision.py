"""Mixed precision (``--precision 32|bf16|fp16``): autocast forward, fp16 loss scaling.

- ``32`` (the default): nothing changes; the trainer runs as without this module.
- ``bf16``: the training forward runs under ``torch.autocast`` (CPU or CUDA); the
  model's outputs are cast back to float32 before the losses, so losses, the backward
  into the float32 weights, the optimiser and every weighting's arithmetic stay float32.
  Per-task Jacobians (gradient methods) are float32 gradients of the float32 weights,
  back-propagated through the bfloat16 forward; representation methods' Jacobians are
  cast to float32 before the method sees them.
- ``fp16``: as bf16 with float16, plus ``torch.amp.GradScaler``: the loss is scaled
  before the backward, gradients are unscaled before clipping, a step with inf/NaN
  gradients is skipped and the scale lowered. The scaler's state is in ``last.pt``.
  Only ``--weighting ew`` and ``fixed`` (one backward of a weighted sum) are scaled;
  other weightings are refused with fp16 (use bf16, which needs no scaling).

Evaluation and test scoring always run in float32: the selected checkpoint's metrics do
not depend on the training precision's rounding. Weights are stored in float32.
"""

from __future__ import annotations

from typing import Any

import torch

from mtl.core.config import TrainConfig
from mtl.core.errors import UserError

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(config: TrainConfig, static: bool, device: torch.device) -> None:
    """One line when the precision cannot work here (nothing is written)."""
    dtype = DTYPES.get(config.precision)
    if dtype is None:
        return
    if config.precision == "fp16" and not static:
        raise UserError(
            f"--precision fp16 scales the loss of --weighting ew or fixed only; weighting "
            f"'{config.weighting}' combines task gradients itself: use --precision bf16"
        )
    try:
        with torch.autocast(device.type, dtype=dtype):
            x = torch.ones(2, 2, device=device)
            works = (x @ x).dtype == dtype
        if config.precision == "fp16":
            torch.amp.GradScaler(device.type)
    except (RuntimeError, ValueError, AttributeError):
        works = False
    if not works:
        raise UserError(
            f"--precision {config.precision} is not available on {device.type} with torch "
            f"{torch.__version__}; use --precision 32 or bf16"
        )


class Precision:
    """The training step's autocast, backward and optimiser step for one precision."""

    def __init__(self, kind: str, device: torch.device):
        self.kind = kind
        self.dtype = DTYPES.get(kind)
        self.device_type = device.type
        self.scaler = torch.amp.GradScaler(device.type) if kind == "fp16" else None

    def forward(self, net: Any, inputs: Any) -> Any:
        """``net(inputs)``; under autocast, with the outputs cast back to float32."""
        if self.dtype is None:
            return net(inputs)
        with torch.autocast(self.device_type, dtype=self.dtype):
            outputs = net(inputs)
        return [o.float() for o in outputs]

    def backward(self, loss: torch.Tensor) -> None:
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()

    def step(self, optimizer: torch.optim.Optimizer, params: list, clip: float | None) -> None:
        """Clip (the unscaled gradients) and step; fp16 skips a step with inf/NaN."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)
        if clip is not None:  # the gradients are global: every rank clips alike
            torch.nn.utils.clip_grad_norm_(params, clip)
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)
        self.scaler.update()

    def state_dict(self) -> dict[str, Any] | None:
        return None if self.scaler is None else self.scaler.state_dict()

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
