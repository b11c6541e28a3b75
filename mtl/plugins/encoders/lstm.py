"""LSTM encoder over packed sequences; optional activation stabilisation.

Sequences are packed (``pack_padded_sequence``, ``enforce_sorted=False``), so padding
never enters the recurrent state; the output is the last layer's final hidden state
of each direction (for the forward direction the state after the last real step, for
the backward one the state after reading back to step 0), concatenated.

Activation stabilisation (Krueger & Memisevic, 2016) adds
``β · mean_i [ Σ_d Σ_{t=1}^{L_i - 1} (‖h_{i,t,d}‖ - ‖h_{i,t-1,d}‖)² / (L_i - 1) ]``
over the top layer's hidden states ``h`` of each direction ``d``, only between
consecutive real steps; a sequence of one step contributes zero.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from mtl.core.batches import SequenceBatch
from mtl.core.encoder import Encoder, EncoderSpec
from mtl.core.features import Feature
from mtl.core.options import Option
from mtl.plugins.encoders.masking import maybe_whiten, time_mask


def stabilisation_penalty(h: torch.Tensor, lengths: torch.Tensor, directions: int) -> torch.Tensor:
    """Mean over examples of the per-step squared change of hidden-state norms.

    ``h`` is ``(batch, steps, directions * hidden)`` with zeros beyond each length.
    """
    b, t, _ = h.shape
    norms = h.view(b, t, directions, -1).norm(dim=-1)  # (batch, steps, directions)
    diff = (norms[:, 1:] - norms[:, :-1]).square().sum(dim=-1)  # (batch, steps - 1)
    pairs = time_mask(lengths - 1, t - 1)
    per_example = (diff * pairs).sum(dim=1) / (lengths - 1).clamp(min=1).to(h.dtype)
    return per_example.mean()


def set_forget_bias(lstm: nn.LSTM, value: float) -> None:
    """Start every forget gate at bias ``value`` (torch orders the gates i, f, g, o).

    torch draws the biases around 0, so a fresh cell forgets about half its state at
    every step and gradients from the last step fade fast; a positive forget bias
    (1, Jozefowicz et al. 2015) keeps the state by default, which lets the LSTM start
    learning from long sequences instead of idling on a plateau."""
    h = lstm.hidden_size
    with torch.no_grad():
        for name, bias in lstm.named_parameters():
            if name.startswith("bias_ih"):
                bias[h : 2 * h] = value
            elif name.startswith("bias_hh"):
                bias[h : 2 * h] = 0.0


class LstmModule(nn.Module):
    def __init__(self, spec: EncoderSpec):
        super().__init__()
        o = spec.options
        self.whiten = maybe_whiten(spec.input_mean, spec.input_std)
        self.directions = 2 if o["bidirectional"] else 1
        self.lstm = nn.LSTM(
            spec.input_dim,
            o["hidden"],
            num_layers=o["layers"],
            batch_first=True,
            bidirectional=o["bidirectional"],
            dropout=o["dropout"] if o["layers"] > 1 else 0.0,
        )
        set_forget_bias(self.lstm, o["forget_bias"])
        self.stabilise = spec.stabilise
        self.penalty: torch.Tensor | None = None

    def forward(self, batch: SequenceBatch, with_features: bool = False):
        """``(batch, hidden × directions)``; with features, also the top layer's states
        over time as one level (:mod:`mtl.core.features`), zero beyond each length."""
        x, lengths = batch.x, batch.lengths
        if self.whiten is not None:
            x = self.whiten(x, lengths)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, (h_n, _) = self.lstm(packed)
        self.penalty = None
        stabilise = self.stabilise > 0 and self.training
        h = None
        if stabilise or with_features:
            h, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        if stabilise:
            self.penalty = self.stabilise * stabilisation_penalty(h, lengths, self.directions)
        final = torch.cat(list(h_n[-self.directions :]), dim=1)
        if not with_features:
            return final
        return final, [Feature(h, time_mask(lengths, h.shape[1]))]


class LstmEncoder(Encoder):
    description = "LSTM over packed sequences; last real hidden state (both directions)"
    options = (
        Option("hidden", int, 128, "hidden units per direction", min=1),
        Option("layers", int, 1, "stacked LSTM layers", min=1),
        Option("bidirectional", bool, False, "also read each sequence backwards"),
        Option("dropout", float, 0.0, "dropout between stacked layers", min=0, max=0.99),
        Option("forget_bias", float, 1.0, "initial forget-gate bias (torch's own: about 0)"),
    )
    recurrent = True

    def output_dim(self, spec: EncoderSpec) -> int:
        return spec.options["hidden"] * (2 if spec.options["bidirectional"] else 1)

    def build(self, spec: EncoderSpec) -> nn.Module:
        return LstmModule(spec)

    def feature_dims(self, spec: EncoderSpec) -> list[int]:
        """One level: the top layer's hidden states at every step."""
        return [self.output_dim(spec)]
