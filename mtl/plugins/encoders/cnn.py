"""Convolutional encoders over padded sequences: 2-D over (time, features), 1-D over time.

``cnn2d`` reads a sequence as a one-channel image, time × features (a spectrogram:
frames × bins), through blocks of conv 3×3 → batch-norm → ReLU → max-pool 2×2 (the
lab's four blocks of 32, 64, 128, 256 channels by default). ``cnn1d`` convolves over
time with the features as input channels, blocks of conv → ReLU → max-pool 2.

Padding is handled so that an example's output does not depend on how far it was
padded (exactly so in evaluation mode): after every ReLU the padded steps are set back
to zero, which is what the zero padding of a convolution sees at the end of the same
sequence unpadded; the max-pools use ``ceil_mode`` and, as activations after ReLU are
non-negative, a window that straddles the end takes the real step's value; the real
length after a pool is ``ceil(length / 2)``. The final global pool (max or mean over
time, and over the remaining frequency bins for ``cnn2d``) covers real steps only.
Batch-norm in training mode takes its statistics over real positions only
(:class:`MaskedBatchNorm2d`), so an example's output does not depend on padding in
training either (it depends, as with any batch-norm, on the other real examples).
"""

from __future__ import annotations

import torch
from torch import nn

from mtl.core.batches import SequenceBatch
from mtl.core.encoder import Encoder, EncoderSpec
from mtl.core.errors import UserError
from mtl.core.features import Feature, grid_feature
from mtl.core.options import Option
from mtl.plugins.encoders.masking import (
    POOLS,
    masked_pool,
    maybe_whiten,
    pooled_lengths,
    time_mask,
)


def channel_list(value: str, encoder: str) -> list[int]:
    try:
        out = [int(v) for v in str(value).split(",") if v.strip()]
    except ValueError:
        out = []
    if not out or min(out) < 1:
        raise UserError(
            f"option 'channels' of encoder '{encoder}' must be comma-separated positive "
            f"integers, e.g. 32,64,128,256; got '{value}'"
        )
    return out


class MaskedBatchNorm2d(nn.BatchNorm2d):
    """Batch-norm whose training statistics cover real positions only (``mask`` True).

    Evaluation mode is plain batch-norm with the running statistics. In training mode
    the per-channel mean and (biased) variance are taken over the real (example, step,
    bin) positions, and the running statistics are updated from them as
    :class:`torch.nn.BatchNorm2d` does (unbiased variance), so padded zeros neither
    shift nor shrink them.
    """

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if not self.training or mask is None:
            return super().forward(h)
        w = mask.to(h.dtype).expand(h.shape[0], 1, h.shape[2], h.shape[3])
        count = w.sum()
        mean = (h * w).sum(dim=(0, 2, 3)) / count
        centred = h - mean.view(1, -1, 1, 1)
        var = (centred.square() * w).sum(dim=(0, 2, 3)) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 0.1
                unbiased = var * count / (count - 1).clamp(min=1)
                self.running_mean.mul_(1 - m).add_(m * mean)
                self.running_var.mul_(1 - m).add_(m * unbiased)
        out = centred * torch.rsqrt(var + self.eps).view(1, -1, 1, 1)
        return out * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class Cnn2dModule(nn.Module):
    def __init__(self, spec: EncoderSpec, channels: list[int]):
        super().__init__()
        o = spec.options
        self.whiten = maybe_whiten(spec.input_mean, spec.input_std)
        k = o["kernel"]
        self.blocks = nn.ModuleList()
        c_in = 1
        for c in channels:
            self.blocks.append(
                nn.Sequential(
                    nn.Conv2d(c_in, c, k, padding=k // 2),
                    MaskedBatchNorm2d(c),
                    nn.ReLU(),
                )
            )
            c_in = c
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.how = o["pool"]

    def forward(self, batch: SequenceBatch, with_features: bool = False):
        """``(batch, channels[-1])``; with features, also each block's pooled map as a
        level (:func:`mtl.core.features.grid_feature`: time-major positions)."""
        x, lengths = batch.x, batch.lengths
        if self.whiten is not None:
            x = self.whiten(x, lengths)
        h = x.unsqueeze(1)  # (batch, 1, time, features)
        levels = []
        for conv, norm, relu in self.blocks:
            mask = time_mask(lengths, h.shape[2])[:, None, :, None]
            h = relu(norm(conv(h), mask)) * mask
            h = self.pool(h)
            lengths = pooled_lengths(lengths)
            if with_features:
                levels.append(grid_feature(h, time_mask(lengths, h.shape[2])))
        h = h.amax(dim=3) if self.how == "max" else h.mean(dim=3)  # over frequency bins
        out = masked_pool(h, lengths, self.how)
        return (out, levels) if with_features else out


class Cnn2dEncoder(Encoder):
    description = "2-D CNN over (time, features): conv 3x3, batch-norm, ReLU, max-pool blocks"
    options = (
        Option("channels", str, "32,64,128,256", "channels of each block, comma-separated"),
        Option("kernel", int, 3, "convolution kernel size (odd)", min=1),
        Option("pool", str, "max", "global pool over real frames and bins", choices=POOLS),
    )

    def output_dim(self, spec: EncoderSpec) -> int:
        return channel_list(spec.options["channels"], "cnn2d")[-1]

    def build(self, spec: EncoderSpec) -> nn.Module:
        if spec.options["kernel"] % 2 == 0:
            raise UserError("option 'kernel' of encoder 'cnn2d' must be odd, e.g. -e kernel=3")
        return Cnn2dModule(spec, channel_list(spec.options["channels"], "cnn2d"))

    def feature_dims(self, spec: EncoderSpec) -> list[int]:
        """One level per block: its channels."""
        return channel_list(spec.options["channels"], "cnn2d")


class Cnn1dModule(nn.Module):
    def __init__(self, spec: EncoderSpec, channels: list[int]):
        super().__init__()
        o = spec.options
        self.whiten = maybe_whiten(spec.input_mean, spec.input_std)
        k = o["kernel"]
        c_in = spec.input_dim
        self.convs = nn.ModuleList()
        for c in channels:
            self.convs.append(nn.Conv1d(c_in, c, k, padding=k // 2))
            c_in = c
        self.pool = nn.MaxPool1d(2, ceil_mode=True)
        self.how = o["pool"]

    def forward(self, batch: SequenceBatch, with_features: bool = False):
        """``(batch, channels[-1])``; with features, also each block's pooled output
        ``(batch, steps, channels)`` as a level."""
        x, lengths = batch.x, batch.lengths
        if self.whiten is not None:
            x = self.whiten(x, lengths)
        h = x.transpose(1, 2)  # (batch, features, time)
        levels = []
        for conv in self.convs:
            h = torch.relu(conv(h)) * time_mask(lengths, h.shape[2]).unsqueeze(1)
            h = self.pool(h)
            lengths = pooled_lengths(lengths)
            if with_features:
                levels.append(Feature(h.transpose(1, 2), time_mask(lengths, h.shape[2])))
        out = masked_pool(h, lengths, self.how)
        return (out, levels) if with_features else out


class Cnn1dEncoder(Encoder):
    description = "1-D CNN over time, features as channels: conv, ReLU, max-pool blocks"
    options = (
        Option("channels", str, "64,128", "channels of each block, comma-separated"),
        Option("kernel", int, 5, "convolution kernel size over time (odd)", min=1),
        Option("pool", str, "max", "global pool over real steps", choices=POOLS),
    )

    def output_dim(self, spec: EncoderSpec) -> int:
        return channel_list(spec.options["channels"], "cnn1d")[-1]

    def build(self, spec: EncoderSpec) -> nn.Module:
        if spec.options["kernel"] % 2 == 0:
            raise UserError("option 'kernel' of encoder 'cnn1d' must be odd, e.g. -e kernel=5")
        return Cnn1dModule(spec, channel_list(spec.options["channels"], "cnn1d"))

    def feature_dims(self, spec: EncoderSpec) -> list[int]:
        """One level per block: its channels."""
        return channel_list(spec.options["channels"], "cnn1d")
