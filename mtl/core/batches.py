"""Inputs and targets on the device, sliced into batches by index tensors.

Nothing here loops over examples in Python: a sparse batch is gathered from the
CSR arrays with one ``repeat_interleave`` and fed to an embedding-bag layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mtl.core.data import DenseInputs, Inputs, SequenceInputs, SparseInputs


@dataclass
class SparseBatch:
    """Rows of a CSR matrix in embedding-bag form: flat columns, values, row offsets."""

    cols: torch.Tensor
    vals: torch.Tensor
    offsets: torch.Tensor
    size: int


class DeviceDense:
    def __init__(self, inputs: DenseInputs, device: torch.device):
        self.x = torch.as_tensor(inputs.x).to(device)

    def take(self, idx: torch.Tensor) -> torch.Tensor:
        return self.x.index_select(0, idx)


class DeviceSparse:
    def __init__(self, inputs: SparseInputs, device: torch.device):
        self.indptr = torch.as_tensor(inputs.indptr).to(device)
        self.indices = torch.as_tensor(inputs.indices).to(device)
        self.data = torch.as_tensor(inputs.data).to(device)

    def take(self, idx: torch.Tensor) -> SparseBatch:
        starts = self.indptr.index_select(0, idx)
        lengths = self.indptr.index_select(0, idx + 1) - starts
        offsets = torch.cumsum(lengths, 0) - lengths
        total = int(offsets[-1] + lengths[-1]) if len(idx) else 0
        pos = torch.repeat_interleave(starts - offsets, lengths, output_size=total)
        pos += torch.arange(total, device=pos.device)
        return SparseBatch(self.indices[pos], self.data[pos], offsets, len(idx))


@dataclass
class SequenceBatch:
    """Padded sequences ``(batch, time, features)`` cut to the batch's longest, and lengths."""

    x: torch.Tensor
    lengths: torch.Tensor
    size: int


class DeviceSequence:
    def __init__(self, inputs: SequenceInputs, device: torch.device):
        self.x = torch.as_tensor(inputs.x).to(device)
        self.lengths = torch.as_tensor(inputs.lengths).to(device)

    def take(self, idx: torch.Tensor) -> SequenceBatch:
        lengths = self.lengths.index_select(0, idx)
        longest = int(lengths.max()) if len(idx) else 0
        # rows of (time x features) cut to the longest, then one row gather: copies only
        # the batch's real steps and padding up to its longest (not the data's longest)
        n, t, f = self.x.shape
        x = self.x.view(n, t * f)[:, : longest * f].index_select(0, idx).view(len(idx), longest, f)
        return SequenceBatch(x, lengths, len(idx))


def to_device(inputs: Inputs, device: torch.device) -> DeviceDense | DeviceSparse | DeviceSequence:
    if isinstance(inputs, SparseInputs):
        return DeviceSparse(inputs, device)
    if isinstance(inputs, DenseInputs):
        return DeviceDense(inputs, device)
    if isinstance(inputs, SequenceInputs):
        return DeviceSequence(inputs, device)
    raise TypeError(f"unsupported input container {type(inputs).__name__}")
