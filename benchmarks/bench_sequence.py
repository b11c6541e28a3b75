#!/usr/bin/env python
"""Training throughput of mtl's trainer with sequence encoders against a hand-written loop.

Two models, each on ``synthetic-seq`` data (``--n`` sequences of ``--features`` values,
lengths uniform in ``--min-length..--max-length``; one task, ``genre``, 4 classes):

* ``lstm``  - LSTM (``--hidden`` units) over packed sequences, last hidden state →
  Linear(hidden, ``--width``) → ReLU → Linear(width, 4); mtl: ``--encoder lstm
  --arch S --widths W --dropout 0``.
* ``cnn2d`` - the lab's CNN (``--channels`` blocks of conv 3×3 → batch-norm over real
  frames (mtl's ``MaskedBatchNorm2d``, the one layer the hand-written loop borrows) →
  ReLU → max-pool 2×2, padded steps zeroed after each ReLU, global max over real frames) →
  Linear → ReLU → Linear; mtl: ``--encoder cnn2d``.

Contenders per model: ``mtl`` (the real trainer through ``mtl.core.runner.start_run``;
throughput = ``train_samples / train_seconds`` of ``metrics.jsonl``, the training loop
only) in random and in length-bucketed batch order, and ``hand``: a minimal
hand-written PyTorch loop of the same model on the same arrays (``torch.randperm``,
index slices, batches cut to their longest sequence, Adam). Each repeat runs every
contender once, interleaved; throughput is over epochs 2..E (epoch 1 is warm-up) and
the table shows the median over repeats and the ratio mtl / hand (random order).

The padding fraction is the share of the batch tensors' time steps that are padding,
over one epoch of batches in each order. Usage::

    python benchmarks/bench_sequence.py [--n 1200] [--epochs 3] [--repeats 2]
        [--models lstm,cnn2d] [--threads T] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # benchmark this checkout, installed or not
    sys.path.insert(0, str(ROOT))

LR = 1e-3


def data_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "n": args.n,
        "features": args.features,
        "min_length": args.min_length,
        "max_length": args.max_length,
        "seed": args.data_seed,
    }


def load_data(args: argparse.Namespace):
    from mtl.core.options import resolve_options
    from mtl.plugins.datasets.sequences import SyntheticSequenceDataset

    ds = SyntheticSequenceDataset()
    options = resolve_options(ds.options, data_options(args), "dataset 'synthetic-seq'")
    return ds.load(options, ["genre"])


def encoder_options(model: str, args: argparse.Namespace) -> dict[str, Any]:
    if model == "lstm":
        return {"hidden": args.hidden}
    return {"channels": args.channels}


def run_mtl(model: str, order: str, args: argparse.Namespace) -> list[float]:
    """Samples/s of each epoch of the real trainer."""
    from mtl.core.config import TrainConfig
    from mtl.core.plugins import load_plugins
    from mtl.core.runner import start_run

    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(
            dataset="synthetic-seq",
            dataset_options=data_options(args),
            encoder=model,
            encoder_options=encoder_options(model, args),
            arch="S",
            widths=[args.width],
            dropout=[0.0],
            tasks=["genre"],
            epochs=args.epochs,
            batch_size=args.batch_size,
            optimizer="adam",
            lr=LR,
            seed=args.seed,
            device="cpu",
            run_dir=str(Path(tmp) / "run"),
            report=[],
            batch_order=order,
        )
        run, _ = start_run(config, load_plugins(env={"MTL_PLUGINS": ""}))
        records = [r for r in run.metrics() if r["split"] == "train"]
    return [r["train_samples"] / r["train_seconds"] for r in records]


def hand_model(model: str, args: argparse.Namespace):
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence

    from mtl.plugins.encoders.cnn import MaskedBatchNorm2d  # the same layer: BN over real frames

    def mask(lengths, steps):
        return torch.arange(steps).unsqueeze(0) < lengths.unsqueeze(1)

    class Lstm(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(args.features, args.hidden, batch_first=True)
            self.hidden = nn.Linear(args.hidden, args.width)
            self.out = nn.Linear(args.width, 4)

        def forward(self, x, lengths):
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            _, (h, _) = self.lstm(packed)
            return self.out(torch.relu(self.hidden(h[-1])))

    class Cnn(nn.Module):
        def __init__(self):
            super().__init__()
            chans = [1] + [int(c) for c in args.channels.split(",")]
            self.convs = nn.ModuleList(
                nn.Conv2d(a, b, 3, padding=1) for a, b in zip(chans[:-1], chans[1:], strict=True)
            )
            self.norms = nn.ModuleList(MaskedBatchNorm2d(b) for b in chans[1:])
            self.pool = nn.MaxPool2d(2, ceil_mode=True)
            self.hidden = nn.Linear(chans[-1], args.width)
            self.out = nn.Linear(args.width, 4)

        def forward(self, x, lengths):
            h = x.unsqueeze(1)
            for conv, norm in zip(self.convs, self.norms, strict=True):
                m = mask(lengths, h.shape[2])[:, None, :, None]
                h = self.pool(torch.relu(norm(conv(h), m)) * m)
                lengths = (lengths + 1) // 2
            h = h.amax(dim=3).masked_fill(~mask(lengths, h.shape[2]).unsqueeze(1), -1e30)
            return self.out(torch.relu(self.hidden(h.amax(dim=2))))

    return Lstm() if model == "lstm" else Cnn()


def run_hand(model: str, args: argparse.Namespace) -> list[float]:
    """Samples/s of each epoch of a minimal hand-written loop of the same model."""
    import torch
    import torch.nn.functional as F

    data = load_data(args)
    x = torch.as_tensor(data.inputs.x)
    lengths = torch.as_tensor(data.inputs.lengths)
    y = torch.as_tensor(data.targets["genre"]).long()
    train = torch.as_tensor(data.splits["train"])
    torch.manual_seed(args.seed)
    net = hand_model(model, args)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    rates = []
    for epoch in range(args.epochs):
        perm = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(epoch))]
        start = time.perf_counter()
        for s in range(0, len(perm), args.batch_size):
            idx = perm[s : s + args.batch_size]
            lb = lengths[idx]
            xb = x[idx, : int(lb.max())]
            loss = F.cross_entropy(net(xb, lb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        rates.append(len(perm) / (time.perf_counter() - start))
    return rates


def padding_fraction(args: argparse.Namespace) -> dict[str, float]:
    """Share of padded steps in one epoch's batch tensors, random vs bucketed order."""
    import torch

    from mtl.core.train import bucket_by_length

    data = load_data(args)
    lengths = torch.as_tensor(data.inputs.lengths)
    train = torch.as_tensor(data.splits["train"])

    perm = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))]
    out = {}
    for order, rows in (
        ("random", perm),
        ("bucketed", bucket_by_length(lengths, perm, args.batch_size, 0)),
    ):
        cells = real = 0
        for b in torch.split(rows, args.batch_size):
            lb = lengths[b]
            cells += int(lb.max()) * len(b)
            real += int(lb.sum())
        out[order] = 1 - real / cells
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1200)
    p.add_argument("--features", type=int, default=32)
    p.add_argument("--min-length", type=int, default=20)
    p.add_argument("--max-length", type=int, default=200)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--channels", default="8,16,32,64")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--models", default="lstm,cnn2d")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    pad = padding_fraction(args)
    skip = 1 if args.epochs >= 2 else 0
    results: dict[str, dict[str, list[float]]] = {}
    for _ in range(args.repeats):
        for model in args.models.split(","):
            runs = {
                "mtl": lambda m=model: run_mtl(m, "random", args),
                "mtl-bucketed": lambda m=model: run_mtl(m, "bucketed", args),
                "hand": lambda m=model: run_hand(m, args),
            }
            for name, fn in runs.items():
                rates = fn()[skip:]
                results.setdefault(model, {}).setdefault(name, []).append(statistics.mean(rates))
    load_after = os.getloadavg()

    print(
        f"synthetic-seq n={args.n} features={args.features} lengths "
        f"{args.min_length}..{args.max_length}, batch {args.batch_size}, {args.epochs} epochs "
        f"× {args.repeats} repeats, {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}"
    )
    print(
        f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} "
        f"({os.cpu_count()} cores): figures under load vary with it"
    )
    print(
        f"padding fraction of batch tensors: random order {pad['random']:.1%}, "
        f"bucketed {pad['bucketed']:.1%}"
    )
    print(f"{'model':<7} {'contender':<14} {'samples/s':>10}")
    summary: dict[str, Any] = {"padding_fraction": pad, "load": [load_before, load_after]}
    for model, by in results.items():
        med = {k: statistics.median(v) for k, v in by.items()}
        for name, value in med.items():
            print(f"{model:<7} {name:<14} {value:>10.0f}")
        ratio = med["mtl"] / med["hand"]
        print(
            f"{model:<7} ratio mtl / hand (random order): {ratio:.2f}; "
            f"bucketed / random: {med['mtl-bucketed'] / med['mtl']:.2f}"
        )
        summary[model] = {"median": med, "ratio": ratio, "repeats": by}
    if args.json:
        args.json.write_text(
            json.dumps({"args": vars(args) | {"json": str(args.json)}, **summary}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
