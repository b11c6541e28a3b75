#!/usr/bin/env python
"""Throughput of mtl's trainer against minimal hand-written PyTorch loops of the same model.

The model is the founding study's low-sharing network: pattern SSTT over three binary
tasks (pop, pop_rock, ballad), widths 1024,512,256,128, dropout 0.5 after layers 3
and 4, Adagrad (lr 0.01), batch 128. The data is mtl's ``synthetic`` dataset shaped
like the MSD lyrics (``--n`` rows × ``--dim`` words, about 90 distinct words per row,
counts as values); every contender trains on the same training split of the same
arrays (checked by the data fingerprint).

Contenders, each run in its own subprocess (so peak RSS is its own):

* ``mtl``    - the real trainer, ``mtl.core.runner.start_run``; throughput is
  ``train_samples / train_seconds`` from the run's ``metrics.jsonl`` (the training
  loop only); the end-to-end wall time per epoch (evaluation and checkpoints
  included) is reported beside it.
* ``sparse`` - hand-written: ``nn.EmbeddingBag(dim, 1024, mode="sum")`` weighted by
  the counts (``per_sample_weights``) + bias as the first layer; batches gathered
  from CSR tensors with one ``repeat_interleave`` (the fastest of the natural forms
  measured, see README.md).
* ``dense``  - hand-written: ``nn.Linear(dim, 1024)`` over a dense float32
  ``n × dim`` matrix held on the device; batches by index.

Opt-in contenders (``--contenders``), for information; never the baseline of the ratio:

* ``sparse-grad``  - ``sparse`` with ``EmbeddingBag(sparse=True)``, so Adagrad updates
  only the rows a batch touches (the same arithmetic: Adagrad leaves a row with zero
  gradient unchanged); PyTorch's sparse Adagrad path turns out much slower.
* ``sparse-fused`` - ``sparse`` with ``torch.optim.Adagrad(fused=True)``: what the
  optimiser step costs when done in one kernel per parameter.

Usage::

    python benchmarks/bench_trainer.py [--n 25000] [--dim 5000] [--epochs 3]
        [--repeats 3] [--threads T] [--json out.json]

Each repeat runs every contender once (interleaved, to spread machine noise); a
repeat's throughput is over epochs 2..E (epoch 1 is warm-up) when E >= 2. The table
shows the median over repeats, and the ratio mtl / the faster hand-written loop.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # benchmark this checkout, installed or not
    sys.path.insert(0, str(ROOT))

TASKS = ["pop", "pop_rock", "ballad"]
WIDTHS = [1024, 512, 256, 128]
DROPOUT = 0.5
LR = 0.01
DEFAULT_CONTENDERS = ("mtl", "sparse", "dense")
ALL_CONTENDERS = ("mtl", "sparse", "dense", "sparse-grad", "sparse-fused")
BASELINES = ("sparse", "dense")  # the ratio is mtl / the faster of these
TARGET_RATIO = 0.9


# --- measurements shared by every contender ------------------------------------------


def rss_mb() -> float:
    """Current resident set size of this process, MB."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return float("nan")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MB (ru_maxrss)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def cpu_seconds() -> float:
    """User + system CPU time of this process so far (all threads)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def dataset_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"n": args.n, "dim": args.dim, "density": args.density, "seed": args.data_seed}


def load_data(args: argparse.Namespace):
    """The synthetic dataset exactly as ``start_run`` loads it (same options, same tasks)."""
    from mtl.core.options import resolve_options
    from mtl.plugins.datasets.synthetic import SyntheticDataset

    ds = SyntheticDataset()
    options = resolve_options(ds.options, dataset_options(args), "dataset 'synthetic'")
    return ds.load(options, TASKS).select(TASKS)


def resolve_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def device_peak_mb(device) -> float | None:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return None


# --- contender: the mtl trainer --------------------------------------------------------


def run_mtl(args: argparse.Namespace) -> dict[str, Any]:

    from mtl.core.config import TrainConfig
    from mtl.core.plugins import load_plugins
    from mtl.core.reporter import Reporter
    from mtl.core.runner import start_run
    from mtl.core.train import Trainer

    marks: dict[str, Any] = {"epoch_ends": [], "epoch_cpu": []}

    # CPU time of the training loop: a pass-through wrapper of the trainer's epoch method
    # (metrics.jsonl has its wall time only). Figures stay valid if the method is renamed;
    # only the CPU column is then missing.
    original = getattr(Trainer, "_train_epoch", None)
    if original is not None:

        def timed_epoch(self, *a, **kw):
            c0 = cpu_seconds()
            out = original(self, *a, **kw)
            marks["epoch_cpu"].append(cpu_seconds() - c0)
            return out

        Trainer._train_epoch = timed_epoch

    class Clock(Reporter):
        """Timestamps of the run's phases; on_batch is left as the base no-op."""

        def on_start(self, info) -> None:
            marks["start"] = time.perf_counter()
            marks["rss_before_training_mb"] = rss_mb()

        def on_epoch(self, epoch, records, improved) -> None:
            marks["epoch_ends"].append(time.perf_counter())

        def on_end(self, results) -> None:
            marks["end"] = time.perf_counter()

    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory(prefix="mtl-bench-") as tmp:
        config = TrainConfig(
            dataset="synthetic",
            dataset_options=dataset_options(args),
            # bench_architectures.py runs this contender with other architectures
            arch=getattr(args, "arch", "low"),
            arch_options=dict(getattr(args, "arch_options", {})),
            tasks=list(TASKS),
            epochs=args.epochs,
            batch_size=args.batch_size,
            optimizer="adagrad",
            lr=LR,
            dropout=[DROPOUT],
            widths=list(getattr(args, "widths", WIDTHS)),
            whiten=False,
            seed=args.seed,
            device=device.type,
            run_dir=str(Path(tmp) / "run"),
            report=[],
        )
        t0 = time.perf_counter()
        run, results = start_run(config, load_plugins(), extra_reporters=[Clock()])
        total = time.perf_counter() - t0
        records = [r for r in run.metrics() if r["split"] == "train"]
        fingerprint = run.manifest().get("data_fingerprint")

    ends = marks["epoch_ends"]
    starts = [marks["start"]] + ends[:-1]
    epochs = [
        {
            "epoch": r["epoch"],
            "seconds": r["train_seconds"],
            "samples": r["train_samples"],
            "loss": r["loss"],
            # train + evaluation + checkpoints (the previous epoch's last.pt included)
            "wall_seconds": end - begin,
        }
        for r, begin, end in zip(records, starts, ends, strict=True)
    ]
    if len(marks["epoch_cpu"]) == len(epochs):
        for e, c in zip(epochs, marks["epoch_cpu"], strict=True):
            e["cpu_seconds"] = c
    return {
        "epochs": epochs,
        "data_fingerprint": fingerprint,
        "setup_seconds": marks["start"] - t0,
        "final_scoring_seconds": marks["end"] - ends[-1],
        "run_wall_seconds": total,
        "rss_before_training_mb": marks["rss_before_training_mb"],
        "device_peak_mb": device_peak_mb(device),
        "selected_epoch": results.get("selected_epoch"),
        "val_pop_roc_auc": results.get("val", {}).get("pop", {}).get("roc_auc"),
        "parameters": (results.get("parameters") or {}).get("total"),
    }


# --- contenders: hand-written loops ----------------------------------------------------


def build_handwritten(kind: str, dim: int):
    import math

    import torch
    from torch import nn

    class FirstSparse(nn.Module):
        """Counts-weighted embedding bag + bias: x @ W + b for a bag-of-words row."""

        def __init__(self, sparse_grad: bool):
            super().__init__()
            self.bag = nn.EmbeddingBag(dim, WIDTHS[0], mode="sum", sparse=sparse_grad)
            self.bias = nn.Parameter(torch.empty(WIDTHS[0]))
            bound = 1 / math.sqrt(dim)  # nn.Linear's initialisation, not N(0, 1)
            nn.init.uniform_(self.bag.weight, -bound, bound)
            nn.init.uniform_(self.bias, -bound, bound)

        def forward(self, batch):
            cols, offsets, counts = batch
            return self.bag(cols, offsets, per_sample_weights=counts) + self.bias

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            w = WIDTHS
            first = nn.Linear(dim, w[0]) if kind == "dense" else FirstSparse(kind == "sparse-grad")
            self.shared = nn.Sequential(first, nn.ReLU(), nn.Linear(w[0], w[1]), nn.ReLU())
            self.towers = nn.ModuleList(
                nn.Sequential(
                    nn.Linear(w[1], w[2]),
                    nn.ReLU(),
                    nn.Dropout(DROPOUT),
                    nn.Linear(w[2], w[3]),
                    nn.ReLU(),
                    nn.Dropout(DROPOUT),
                    nn.Linear(w[3], 1),
                )
                for _ in TASKS
            )

        def forward(self, batch):
            h = self.shared(batch)
            return [tower(h).squeeze(1) for tower in self.towers]

    return Net()


def run_handwritten(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import torch
    from torch import nn

    device = resolve_device(args.device)
    t0 = time.perf_counter()
    data = load_data(args)
    fingerprint = data.fingerprint()
    x = data.inputs
    train = torch.as_tensor(data.splits["train"], device=device)
    y = torch.as_tensor(
        np.stack([data.targets[t] for t in TASKS], axis=1), dtype=torch.float32, device=device
    )
    if kind == "dense":
        dense = np.zeros((x.n, x.dim), dtype=np.float32)  # n × dim float32 (500 MB at MSD size)
        dense[np.repeat(np.arange(x.n), np.diff(x.indptr)), x.indices] = x.data
        X = torch.from_numpy(dense).to(device)
    else:
        crow = torch.as_tensor(x.indptr, device=device)
        col = torch.as_tensor(x.indices, device=device)
        val = torch.as_tensor(x.data, device=device)
    del data, x

    def sparse_batch(idx):
        starts = crow[idx]
        lengths = crow[idx + 1] - starts
        offsets = lengths.cumsum(0) - lengths
        total = int(lengths.sum())
        pos = torch.repeat_interleave(starts - offsets, lengths, output_size=total)
        pos += torch.arange(total, device=device)
        return col[pos], offsets, val[pos]

    torch.manual_seed(args.seed)
    model = build_handwritten(kind, args.dim).to(device)
    # fused=True: one kernel per parameter instead of four passes and a temporary
    opt = torch.optim.Adagrad(model.parameters(), lr=LR, fused=kind == "sparse-fused" or None)
    bce = nn.BCEWithLogitsLoss()
    bs = args.batch_size
    setup = time.perf_counter() - t0
    rss_before = rss_mb()

    epochs = []
    model.train()
    for epoch in range(1, args.epochs + 1):
        sync(device)
        start, cpu_start = time.perf_counter(), cpu_seconds()
        perm = train[torch.randperm(len(train), device=device)]
        loss_sum = torch.zeros((), device=device)
        steps = 0
        for s in range(0, len(perm), bs):
            idx = perm[s : s + bs]
            outputs = model(X[idx] if kind == "dense" else sparse_batch(idx))
            target = y[idx]
            loss = sum(bce(out, target[:, t]) for t, out in enumerate(outputs))
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.detach()
            steps += 1
        sync(device)
        seconds = time.perf_counter() - start
        epochs.append(
            {
                "epoch": epoch,
                "seconds": seconds,
                "cpu_seconds": cpu_seconds() - cpu_start,
                "samples": len(perm),
                "loss": float(loss_sum) / steps,
            }
        )
    return {
        "epochs": epochs,
        "data_fingerprint": fingerprint,
        "setup_seconds": setup,
        "rss_before_training_mb": rss_before,
        "device_peak_mb": device_peak_mb(device),
        "gather": "CSR crow/col/val + repeat_interleave" if kind != "dense" else "dense rows",
    }


def run_contender(args: argparse.Namespace) -> None:
    import warnings

    import torch

    # PyTorch's sparse Adagrad path (sparse-grad) warns about unchecked sparse invariants
    warnings.filterwarnings("ignore", message="Sparse invariant checks")

    torch.set_num_threads(args.threads)
    rss_import = rss_mb()  # the interpreter + torch, before any data
    if args.contender == "mtl":
        result = run_mtl(args)
    else:
        result = run_handwritten(args.contender, args)
    result |= {
        "contender": args.contender,
        "threads": torch.get_num_threads(),
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_import_mb": rss_import,
        "torch": torch.__version__,
        "device": str(resolve_device(args.device)),
    }
    Path(args.result).write_text(json.dumps(result, indent=1))


# --- the driver ------------------------------------------------------------------------


def measured_epochs(epochs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return epochs[1:] if len(epochs) >= 2 else epochs


def throughput(epochs: list[dict[str, Any]]) -> float:
    chosen = measured_epochs(epochs)
    return sum(e["samples"] for e in chosen) / sum(e["seconds"] for e in chosen)


def child_argv(args: argparse.Namespace, contender: str, result: Path) -> list[str]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--contender", contender]
    for key in ("n", "dim", "density", "epochs", "batch_size", "threads", "seed", "data_seed"):
        argv += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    return argv + ["--device", args.device, "--result", str(result)]


def summarise(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [throughput(r["epochs"]) for r in runs]
    first = [r["epochs"][0]["samples"] / r["epochs"][0]["seconds"] for r in runs]
    epoch_rates = [e["samples"] / e["seconds"] for r in runs for e in measured_epochs(r["epochs"])]
    out: dict[str, Any] = {
        "samples_per_second_median": statistics.median(rates),
        "samples_per_second_best": max(rates),
        "best_epoch_samples_per_second": max(epoch_rates),
        "samples_per_second_each": rates,
        "epoch1_samples_per_second_median": statistics.median(first),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "rss_before_training_mb": statistics.median(r["rss_before_training_mb"] for r in runs),
        "rss_after_import_mb": statistics.median(r["rss_after_import_mb"] for r in runs),
        "first_epoch_loss": statistics.median(r["epochs"][0]["loss"] for r in runs),
        "last_epoch_loss": statistics.median(r["epochs"][-1]["loss"] for r in runs),
    }
    if all("cpu_seconds" in e for r in runs for e in r["epochs"]):
        out["samples_per_cpu_second_median"] = statistics.median(
            sum(e["samples"] for e in measured_epochs(r["epochs"]))
            / sum(e["cpu_seconds"] for e in measured_epochs(r["epochs"]))
            for r in runs
        )
    if runs[0].get("device_peak_mb") is not None:
        out["device_peak_mb"] = max(r["device_peak_mb"] for r in runs)
    if name == "mtl":
        chosen = [measured_epochs(r["epochs"]) for r in runs]
        wall = [statistics.mean(e["wall_seconds"] for e in c) for c in chosen]
        train = [statistics.mean(e["seconds"] for e in c) for c in chosen]
        out |= {
            "epoch_wall_seconds_median": statistics.median(wall),
            "epoch_train_seconds_median": statistics.median(train),
            "end_to_end_samples_per_second_median": statistics.median(
                c[0]["samples"] / w for c, w in zip(chosen, wall, strict=True)
            ),
            "setup_seconds_median": statistics.median(r["setup_seconds"] for r in runs),
            "final_scoring_seconds_median": statistics.median(
                r["final_scoring_seconds"] for r in runs
            ),
            "run_wall_seconds_median": statistics.median(r["run_wall_seconds"] for r in runs),
        }
    return out


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):  # no /proc/cpuinfo: keep platform's name
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def drive(args: argparse.Namespace) -> int:
    contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    for c in contenders:
        if c not in ALL_CONTENDERS:
            sys.exit(f"unknown contender '{c}'; choose from {', '.join(ALL_CONTENDERS)}")
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in contenders}
    print(
        f"mtl trainer benchmark: synthetic n={args.n} dim={args.dim} density={args.density}, "
        f"tasks {','.join(TASKS)}, arch low (SSTT {','.join(map(str, WIDTHS))}), "
        f"batch {args.batch_size}, {args.epochs} epochs × {args.repeats} repeats, "
        f"{args.threads} threads, device {args.device}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="mtl-bench-") as tmp:
        for rep in range(1, args.repeats + 1):
            for c in contenders:
                out = Path(tmp) / f"{c}-{rep}.json"
                t0 = time.perf_counter()
                proc = subprocess.run(child_argv(args, c, out), cwd=ROOT)
                if proc.returncode != 0 or not out.exists():
                    print(f"contender {c} failed (exit {proc.returncode})", file=sys.stderr)
                    return 1
                r = json.loads(out.read_text())
                runs[c].append(r)
                losses = " → ".join(f"{e['loss']:.4f}" for e in r["epochs"])
                print(
                    f"  repeat {rep} {c:<11} {throughput(r['epochs']):9.0f} samples/s  "
                    f"loss {losses}  peak RSS {r['peak_rss_mb']:.0f} MB  "
                    f"({time.perf_counter() - t0:.0f} s)",
                    flush=True,
                )

    fingerprints = {c: {r["data_fingerprint"] for r in rs} for c, rs in runs.items()}
    same_data = len(set().union(*fingerprints.values())) == 1
    summary = {c: summarise(c, rs) for c, rs in runs.items()}
    baselines = [c for c in BASELINES if c in summary]
    baseline = (
        max(baselines, key=lambda c: summary[c]["samples_per_second_median"]) if baselines else None
    )
    ratio = ratio_best = ratio_cpu = None
    if baseline and "mtl" in summary:
        ratio = (
            summary["mtl"]["samples_per_second_median"]
            / summary[baseline]["samples_per_second_median"]
        )
        best_baseline = max(summary[c]["best_epoch_samples_per_second"] for c in baselines)
        ratio_best = summary["mtl"]["best_epoch_samples_per_second"] / best_baseline
        cpu_rates = [summary[c].get("samples_per_cpu_second_median") for c in ["mtl", *baselines]]
        if None not in cpu_rates:
            ratio_cpu = cpu_rates[0] / max(cpu_rates[1:])

    skip = ", epoch 1 skipped as warm-up" if args.epochs >= 2 else ""
    print(f"\ntraining-loop throughput (median of {args.repeats} repeats{skip}):")
    header = (
        f"{'contender':<12} {'samples/s':>10} {'epoch 1':>8} {'best epoch':>11} {'per CPU-s':>10} "
        f"{'mtl/this':>9} {'peak RSS MB':>12} {'RSS@train MB':>13}  loss first → last epoch"
    )
    print(header)
    print("-" * len(header))
    loss_ok = True
    for c, s in summary.items():
        rel = (
            summary["mtl"]["samples_per_second_median"] / s["samples_per_second_median"]
            if "mtl" in summary and c != "mtl"
            else None
        )
        cpu = s.get("samples_per_cpu_second_median")
        decreased = s["last_epoch_loss"] < s["first_epoch_loss"]
        loss_ok &= decreased or args.epochs < 2
        flag = "" if decreased or args.epochs < 2 else "  NOT DECREASING"
        print(
            f"{c:<12} {s['samples_per_second_median']:>10.0f} "
            f"{s['epoch1_samples_per_second_median']:>8.0f} "
            f"{s['best_epoch_samples_per_second']:>11.0f} "
            f"{'' if cpu is None else f'{cpu:.0f}':>10} "
            f"{'' if rel is None else f'{rel:.3f}':>9} {s['peak_rss_mb']:>12.0f} "
            f"{s['rss_before_training_mb']:>13.0f}  "
            f"{s['first_epoch_loss']:.4f} → {s['last_epoch_loss']:.4f}{flag}"
        )
    base = statistics.median(s["rss_after_import_mb"] for s in summary.values())
    print(
        f"peak RSS = ru_maxrss of the contender's own process (data generation included); "
        f"RSS@train = resident set as training starts; python + torch alone: {base:.0f} MB"
    )
    if "mtl" in summary:
        m = summary["mtl"]
        print(
            f"\nmtl end to end: {m['epoch_wall_seconds_median']:.2f} s wall per epoch "
            f"({m['end_to_end_samples_per_second_median']:.0f} training samples/s), of which "
            f"training {m['epoch_train_seconds_median']:.2f} s and evaluation + checkpoints "
            f"{m['epoch_wall_seconds_median'] - m['epoch_train_seconds_median']:.2f} s; "
            f"setup (data, model) {m['setup_seconds_median']:.1f} s, final val/test scoring "
            f"{m['final_scoring_seconds_median']:.1f} s, whole run {m['run_wall_seconds_median']:.1f} s"
        )
    if ratio is not None:
        verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
        print(
            f"\nratio mtl / {baseline} (the faster hand-written loop) = {ratio:.3f} "
            f"({verdict} the {TARGET_RATIO}× target)"
        )
        print(f"  on the best single epochs: {ratio_best:.3f}", end="")
        if ratio_cpu is not None:
            print(f"; on samples per CPU-second: {ratio_cpu:.3f}", end="")
        print()
    if not same_data:
        print(
            f"\nWARNING: the contenders did not all see the same data (fingerprints "
            f"{fingerprints}); did mtl's synthetic dataset change during the benchmark?"
        )
    if not loss_ok:
        print("\nWARNING: a contender's loss did not decrease; check its loop")
    if args.epochs < 2:
        print("(one epoch: whether the loss decreases is not checked; use --epochs 2 or more)")

    if args.json:
        report = {
            "settings": {
                k: getattr(args, k)
                for k in (
                    "n",
                    "dim",
                    "density",
                    "epochs",
                    "repeats",
                    "batch_size",
                    "threads",
                    "seed",
                    "data_seed",
                    "device",
                )
            }
            | {"tasks": TASKS, "arch": "low (SSTT)", "widths": WIDTHS, "lr": LR},
            "machine": machine() | {"torch": runs[contenders[0]][0]["torch"]},
            "same_data": same_data,
            "baseline": baseline,
            "ratio": ratio,
            "ratio_best_epochs": ratio_best,
            "ratio_cpu_time": ratio_cpu,
            "target_ratio": TARGET_RATIO,
            "summary": summary,
            "runs": runs,
        }
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"wrote {args.json}")
    if args.min_ratio is not None and (ratio is None or ratio < args.min_ratio):
        return 2
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=25_000, help="examples (all splits)")
    p.add_argument("--dim", type=int, default=5_000, help="vocabulary size")
    p.add_argument("--density", type=float, default=0.018, help="distinct words per row / dim")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="torch threads, all contenders"
    )
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--data-seed", type=int, default=0, help="synthetic data seed")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument(
        "--contenders",
        default=",".join(DEFAULT_CONTENDERS),
        help=f"comma-separated, from {', '.join(ALL_CONTENDERS)}",
    )
    p.add_argument("--json", help="write every figure to this file")
    p.add_argument("--min-ratio", type=float, help="exit 2 if mtl / faster baseline is below this")
    p.add_argument("--contender", choices=ALL_CONTENDERS, help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.contender:
        run_contender(args)
        return 0
    return drive(args)


if __name__ == "__main__":
    sys.exit(main())
