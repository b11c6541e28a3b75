#!/usr/bin/env python
"""Throughput of mtl's trainer with the expert architectures against a hand-written loop.

The founding study's input (``synthetic`` shaped like the MSD lyrics: sparse
bag-of-words, ``--dim`` 5,000 words, about 90 distinct words per row), three binary
tasks (pop, pop_rock, ballad), batch 128, AdaGrad (lr 0.01), ``--widths``
1024,512,256,128 (dropout 0.5 after the last two layers). Models (``--models``):

* ``low``  - hard sharing, pattern SSTT: the baseline, as in ``bench_trainer.py``;
* ``mmoe`` - MMoE with 6 experts (``-a experts=6``): experts 1024-512-256, a softmax gate
  per task over the input, towers 128 → 1;
* ``ple``  - PLE with 2 levels, 2 shared experts and 1 expert per task per level.

Per model, two contenders, each in its own subprocess (so peak RSS is its own):

* ``mtl``  - the real trainer (``start_run``, equal weighting); throughput is
  ``train_samples / train_seconds`` of ``metrics.jsonl`` (the training loop only);
* ``hand`` - the same model (built by the same architecture class from the same
  spec and seed: every expert, gate and tower a batched product) trained in a plain
  loop: ``randperm``, index slices, the CSR ``repeat_interleave`` gather of
  ``bench_trainer.py`` into a ``SparseBatch``, BCE-with-logits per task summed,
  ``torch.optim.Adagrad(fused=True)`` (the optimiser mtl builds).

Each repeat runs every model's two contenders, interleaved; a repeat's throughput is
over epochs 2..E (epoch 1 is warm-up). The table shows medians over repeats, the ratio
mtl / hand (target 0.9) and peak RSS (``ru_maxrss`` of the contender's process, data
generation included). On a shared machine, read the ratios, not the absolute figures.

Usage::

    python benchmarks/bench_architectures.py              # n 25000, 3 epochs x 2 repeats
    python benchmarks/bench_architectures.py --quick      # n 5000, 2 epochs x 1 repeat
    python benchmarks/bench_architectures.py --models mmoe --threads 1 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import bench_trainer as bt  # noqa: E402  (the shared data, timing and memory helpers)

MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "low": ("low", {}),
    "mmoe": ("mmoe", {"experts": 6}),
    "ple": ("ple", {"levels": 2, "shared-experts": 2, "task-experts": 1}),
}
CONTENDERS = ("mtl", "hand")
TARGET_RATIO = bt.TARGET_RATIO


def build_model(args: argparse.Namespace, dim: int):
    """The model ``start_run`` builds for ``args.model``, from the same class and spec."""
    from mtl.core.architecture import ModelSpec, resolve_architecture
    from mtl.core.config import build_config
    from mtl.core.plugins import load_plugins

    name, given = MODELS[args.model]
    arch = load_plugins().registries.architectures.get(name)
    config = build_config(base={"widths": args.widths, "tasks": list(bt.TASKS)})
    options = resolve_architecture(
        arch, name, given, bt.TASKS, list(args.widths), config.layer_dropout()
    )
    spec = ModelSpec(
        input_kind="sparse",
        input_dim=dim,
        task_names=list(bt.TASKS),
        output_dims=[1] * len(bt.TASKS),
        widths=list(args.widths),
        dropout=config.layer_dropout(),
        options=options,
    )
    return arch.build(spec)


def run_hand(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import torch
    from torch import nn

    from mtl.core.batches import SparseBatch

    device = bt.resolve_device(args.device)
    t0 = time.perf_counter()
    data = bt.load_data(args)
    fingerprint = data.fingerprint()
    x = data.inputs
    train = torch.as_tensor(data.splits["train"], device=device)
    y = torch.as_tensor(
        np.stack([data.targets[t] for t in bt.TASKS], axis=1), dtype=torch.float32, device=device
    )
    crow = torch.as_tensor(x.indptr, device=device)
    col = torch.as_tensor(x.indices, device=device)
    val = torch.as_tensor(x.data, dtype=torch.float32, device=device)
    dim = x.dim
    del data, x

    def sparse_batch(idx):
        starts = crow[idx]
        lengths = crow[idx + 1] - starts
        offsets = lengths.cumsum(0) - lengths
        total = int(lengths.sum())
        pos = torch.repeat_interleave(starts - offsets, lengths, output_size=total)
        pos += torch.arange(total, device=device)
        return SparseBatch(col[pos], val[pos], offsets, len(idx))

    torch.manual_seed(args.seed)
    model = build_model(args, dim).to(device)
    opt = torch.optim.Adagrad(model.parameters(), lr=bt.LR, fused=True)
    bce = nn.BCEWithLogitsLoss()
    bs = args.batch_size
    setup = time.perf_counter() - t0
    rss_before = bt.rss_mb()

    epochs = []
    model.train()
    for epoch in range(1, args.epochs + 1):
        bt.sync(device)
        start, cpu_start = time.perf_counter(), bt.cpu_seconds()
        perm = train[torch.randperm(len(train), device=device)]
        loss_sum = torch.zeros((), device=device)
        steps = 0
        for s in range(0, len(perm), bs):
            idx = perm[s : s + bs]
            outputs = model(sparse_batch(idx))
            target = y[idx]
            loss = sum(bce(out[:, 0], target[:, t]) for t, out in enumerate(outputs))
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.detach()
            steps += 1
        bt.sync(device)
        epochs.append(
            {
                "epoch": epoch,
                "seconds": time.perf_counter() - start,
                "cpu_seconds": bt.cpu_seconds() - cpu_start,
                "samples": len(perm),
                "loss": float(loss_sum) / steps,
            }
        )
    shared = getattr(model, "shared_parameters", None)
    return {
        "epochs": epochs,
        "data_fingerprint": fingerprint,
        "setup_seconds": setup,
        "rss_before_training_mb": rss_before,
        "device_peak_mb": bt.device_peak_mb(device),
        "parameters": sum(p.numel() for p in model.parameters()),
        "shared_parameters": sum(p.numel() for p in shared()) if callable(shared) else None,
    }


def run_contender(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    rss_import = bt.rss_mb()
    if args.contender == "mtl":
        args.arch, args.arch_options = MODELS[args.model]
        result = bt.run_mtl(args)
    else:
        result = run_hand(args)
    result |= {
        "model": args.model,
        "contender": args.contender,
        "threads": torch.get_num_threads(),
        "peak_rss_mb": bt.peak_rss_mb(),
        "rss_after_import_mb": rss_import,
        "torch": torch.__version__,
    }
    Path(args.result).write_text(json.dumps(result, indent=1))


# --- the driver ------------------------------------------------------------------------


def child_argv(args: argparse.Namespace, model: str, contender: str, out: Path) -> list[str]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--model", model]
    argv += ["--contender", contender, "--result", str(out), "--device", args.device]
    argv += ["--widths", ",".join(map(str, args.widths))]
    for key in ("n", "dim", "density", "epochs", "batch_size", "threads", "seed", "data_seed"):
        argv += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    return argv


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [bt.throughput(r["epochs"]) for r in runs]
    out = {
        "samples_per_second_median": statistics.median(rates),
        "samples_per_second_each": rates,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "rss_before_training_mb": statistics.median(r["rss_before_training_mb"] for r in runs),
        "first_epoch_loss": statistics.median(r["epochs"][0]["loss"] for r in runs),
        "last_epoch_loss": statistics.median(r["epochs"][-1]["loss"] for r in runs),
    }
    if all("cpu_seconds" in e for r in runs for e in r["epochs"]):
        out["samples_per_cpu_second_median"] = statistics.median(
            sum(e["samples"] for e in bt.measured_epochs(r["epochs"]))
            / sum(e["cpu_seconds"] for e in bt.measured_epochs(r["epochs"]))
            for r in runs
        )
    return out


def drive(args: argparse.Namespace) -> int:
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in models:
        if m not in MODELS:
            sys.exit(f"unknown model '{m}'; choose from {', '.join(MODELS)}")
    print(
        f"mtl architecture benchmark: synthetic n={args.n} dim={args.dim} "
        f"density={args.density}, tasks {','.join(bt.TASKS)}, widths "
        f"{','.join(map(str, args.widths))}, batch {args.batch_size}, {args.epochs} epochs × "
        f"{args.repeats} repeats, {args.threads} threads, device {args.device}",
        flush=True,
    )
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="mtl-bench-arch-") as tmp:
        for rep in range(1, args.repeats + 1):
            for m in models:
                for c in CONTENDERS:
                    out = Path(tmp) / f"{m}-{c}-{rep}.json"
                    t0 = time.perf_counter()
                    proc = subprocess.run(child_argv(args, m, c, out), cwd=bt.ROOT)
                    if proc.returncode != 0 or not out.exists():
                        print(f"{m}/{c} failed (exit {proc.returncode})", file=sys.stderr)
                        return 1
                    r = json.loads(out.read_text())
                    runs.setdefault((m, c), []).append(r)
                    losses = " → ".join(f"{e['loss']:.4f}" for e in r["epochs"])
                    print(
                        f"  repeat {rep} {m:<5} {c:<5} {bt.throughput(r['epochs']):8.0f} "
                        f"samples/s  loss {losses}  peak RSS {r['peak_rss_mb']:.0f} MB  "
                        f"({time.perf_counter() - t0:.0f} s)",
                        flush=True,
                    )
    summary = {f"{m}/{c}": summarise(rs) for (m, c), rs in runs.items()}
    params = {m: runs[(m, "hand")][0]["parameters"] for m in models}
    prints = {r["data_fingerprint"] for rs in runs.values() for r in rs}
    same_model = all(runs[(m, "mtl")][0].get("parameters") == params[m] for m in models)

    skip = ", epoch 1 skipped" if args.epochs >= 2 else ""
    print(f"\ntraining-loop samples/s (median of {args.repeats} repeats{skip}); peak RSS =")
    print("ru_maxrss of the contender's own process (data generation included):")
    header = (
        f"{'model':<6} {'parameters':>11} {'mtl':>8} {'hand':>8} {'mtl/hand':>9} "
        f"{'per CPU-s':>10} {'mtl RSS MB':>11} {'hand RSS MB':>12}  loss first → last (mtl; hand)"
    )
    print(header)
    print("-" * len(header))
    ratios, loss_ok = {}, True
    for m in models:
        a, b = summary[f"{m}/mtl"], summary[f"{m}/hand"]
        ratio = a["samples_per_second_median"] / b["samples_per_second_median"]
        ratios[m] = ratio
        cpu_a, cpu_b = (
            a.get("samples_per_cpu_second_median"),
            b.get("samples_per_cpu_second_median"),
        )
        cpu = f"{cpu_a / cpu_b:.3f}" if cpu_a and cpu_b else ""
        for s in (a, b):
            loss_ok &= args.epochs < 2 or s["last_epoch_loss"] < s["first_epoch_loss"]
        print(
            f"{m:<6} {params[m]:>11,} {a['samples_per_second_median']:>8.0f} "
            f"{b['samples_per_second_median']:>8.0f} {ratio:>9.3f} {cpu:>10} "
            f"{a['peak_rss_mb']:>11.0f} {b['peak_rss_mb']:>12.0f}  "
            f"{a['first_epoch_loss']:.3f} → {a['last_epoch_loss']:.3f}; "
            f"{b['first_epoch_loss']:.3f} → {b['last_epoch_loss']:.3f}"
        )
    low = [m for m in models if ratios[m] < TARGET_RATIO]
    print(
        f"\ntarget mtl/hand ≥ {TARGET_RATIO}: "
        + (f"BELOW for {', '.join(low)}" if low else "met by every model")
    )
    if len(prints) != 1:
        print(f"WARNING: the contenders did not all see the same data ({prints})")
    if not same_model:
        print("WARNING: mtl's model and the hand-written loop's differ in parameter count")
    if not loss_ok:
        print("WARNING: a contender's loss did not decrease; check its loop")
    if args.json:
        settings = {k: getattr(args, k) for k in ("n", "dim", "density", "epochs", "repeats")}
        settings |= {k: getattr(args, k) for k in ("batch_size", "threads", "seed", "device")}
        report = {
            "settings": settings
            | {"widths": args.widths, "models": {m: MODELS[m] for m in models}},
            "machine": bt.machine(),
            "ratios": ratios,
            "same_data": len(prints) == 1,
            "same_model": same_model,
            "loss_decreased": loss_ok,
            "parameters": params,
            "summary": summary,
            "runs": {f"{m}/{c}": rs for (m, c), rs in runs.items()},
        }
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"wrote {args.json}")
    if args.min_ratio is not None and min(ratios.values()) < args.min_ratio:
        return 2
    return 0


def widths(text: str) -> list[int]:
    return [int(w) for w in text.split(",") if w.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="n 5000, 2 epochs, 1 repeat")
    p.add_argument("--n", type=int, help="examples, all splits (25000; --quick 5000)")
    p.add_argument("--dim", type=int, default=5_000, help="vocabulary size")
    p.add_argument("--density", type=float, default=0.018, help="distinct words per row / dim")
    p.add_argument("--epochs", type=int, help="3 (--quick 2)")
    p.add_argument("--repeats", type=int, help="2 (--quick 1)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--widths", type=widths, default=list(bt.WIDTHS), help="e.g. 1024,512,256,128")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--data-seed", type=int, default=0, help="synthetic data seed")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--models", default=",".join(MODELS), help=f"from {', '.join(MODELS)}")
    p.add_argument("--json", help="write every figure to this file")
    p.add_argument("--min-ratio", type=float, help="exit 2 if a model's mtl/hand is below this")
    p.add_argument("--model", choices=list(MODELS), help=argparse.SUPPRESS)
    p.add_argument("--contender", choices=CONTENDERS, help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    quick = {"n": 5_000, "epochs": 2, "repeats": 1}
    full = {"n": 25_000, "epochs": 3, "repeats": 2}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.contender:
        run_contender(args)
        return 0
    return drive(args)


if __name__ == "__main__":
    sys.exit(main())
