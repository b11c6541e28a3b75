"""Intermediate features: what an encoder exposes to an architecture that asks for them.

The contract, in three parts:

- An architecture sets ``needs_features = True``. Its ``ModelSpec.features`` then lists
  the width of each level the encoder exposes (``Encoder.feature_dims``), shallowest
  first; an encoder that exposes none (``feature_dims`` returns ``None``, the default
  for third-party encoders) is refused before anything is written, and so is
  ``--encoder-sharing per-task`` (features are those of one shared encoder).
- The built module's ``forward(x, features)`` receives the encoder's final output ``x``
  (``(batch, output_dim)``, what every architecture reads) and ``features``, a list of
  :class:`Feature`, one per level. Without an encoder (``mlp``, dense and sparse inputs)
  ``x`` is the input batch itself and ``features`` is ``[]``: the architecture's own
  layers over the inputs are the levels (:class:`MlpTrunk` builds them and returns
  each layer's activation as a level).
- A :class:`Feature` is ``x`` of shape ``(batch, positions, dim)`` and ``mask`` of shape
  ``(batch, positions)``, True at real positions (``None``: all are real). Positions
  beyond an example's real length hold zeros. Per built-in encoder:

  ======== ====================================================== ===================
  encoder  levels                                                 positions
  ======== ====================================================== ===================
  lstm     one: the top layer's hidden states, both directions    the time steps
           concatenated (``dim = hidden × directions``)
  cnn1d    one per block, after its pool (``dim`` = its channels)  ``ceil(T / 2^b)``
  cnn2d    one per block, after its pool (``dim`` = its channels)  time-major grid:
                                                                  ``t × F_b + f``
  mlp      none (``[]``): the architecture's own layers are the   (``MlpTrunk``: 1)
           levels
  ======== ====================================================== ===================

  where ``b`` counts blocks from 1 and ``F_b`` is the number of frequency bins left
  after block ``b``; a position is real when its time step is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mtl.core.layers import InputLayer


@dataclass
class Feature:
    """One level of intermediate features: ``x`` ``(batch, positions, dim)``, ``mask``
    ``(batch, positions)`` bool (True: real position) or ``None`` (all real)."""

    x: torch.Tensor
    mask: torch.Tensor | None = None

    def mean(self) -> torch.Tensor:
        """``(batch, dim)``: the mean over real positions."""
        if self.mask is None:
            return self.x.mean(dim=1)
        m = self.mask.to(self.x.dtype).unsqueeze(-1)
        return (self.x * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)


def grid_feature(h: torch.Tensor, time_real: torch.Tensor) -> Feature:
    """A ``(batch, channels, time, bins)`` map as a time-major :class:`Feature`;
    ``time_real`` is ``(batch, time)`` bool."""
    b, c, t, f = h.shape
    x = h.permute(0, 2, 3, 1).reshape(b, t * f, c)
    return Feature(x, time_real.unsqueeze(-1).expand(b, t, f).reshape(b, t * f))


class MlpTrunk(nn.Module):
    """Shared ReLU layers of ``widths`` over dense or sparse inputs (or an encoder's
    output), each layer's activation returned as a level (``positions = 1``).

    The first layer is an :class:`~mtl.core.layers.InputLayer` (sparse inputs are never
    densified; whitening folded in); ``dropout[i]`` follows layer ``i``.
    """

    def __init__(
        self,
        in_dim: int,
        widths: list[int],
        dropout: list[float],
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
    ):
        super().__init__()
        self.first = InputLayer(in_dim, widths[0], 1, mean, std)
        self.hidden = nn.ModuleList(
            nn.Linear(widths[i - 1], widths[i]) for i in range(1, len(widths))
        )
        self.dropout = nn.ModuleList(nn.Dropout(p) if p > 0 else nn.Identity() for p in dropout)

    def forward(self, batch) -> list[Feature]:
        h = self.dropout[0](torch.relu(self.first(batch)))
        levels = [Feature(h.unsqueeze(1))]
        for layer, drop in zip(self.hidden, self.dropout[1:], strict=True):
            h = drop(torch.relu(layer(h)))
            levels.append(Feature(h.unsqueeze(1)))
        return levels
