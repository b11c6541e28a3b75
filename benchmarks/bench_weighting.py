#!/usr/bin/env python
"""Training speed and peak memory of every weighting, relative to ``ew`` in the same run.

Models: the founding study's network (``SSTT`` 1024-512-256-128, MSD-shaped sparse
bag-of-words input of 5,000 words, batch 128) with 3 and with 10 tasks, and an LSTM
encoder (``synthetic-seq``, hidden 64, shared, 3 tasks). Speed: every method of a model is built
in one process (the trainer's optimiser and :class:`~mtl.core.step.TrainStep`) and the
methods take their steps in turn, ``--warmup`` then ``--steps`` rounds, so that load
from elsewhere slows them alike; the figure is the median step (gradients, AdaGrad
step, the method's after-step) as samples/s. Memory: each method alone in a fresh
process for two steps, its peak resident memory (CPU) or peak allocated device memory
(CUDA). The table gives both relative to ``ew`` and, for memory, the extra MB next to
``k × |shared gradient|``.

``--jacobian`` turns off the factored Gramian (Gramian methods then get the Jacobian,
as before it existed); a method written ``mgda:jacobian`` runs that way beside the
others, which compares the two paths in one run. Usage::

    python benchmarks/bench_weighting.py                 # every method, all three models
    python benchmarks/bench_weighting.py --quick         # a few methods, small sizes
    python benchmarks/bench_weighting.py --methods mgda,mgda:jacobian --models sstt3,sstt10
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Any

# `fixed` is left out: it takes the static path of `ew` (one backward of fixed weights)
LOSS_LEVEL = ["rlw", "uw", "dwa", "gls", "imtl-l", "famo", "stch"]
GRADIENT = ["gradnorm", "mgda", "mgda-ub", "pcgrad", "gradvac", "cagrad", "imtl-g", "nash-mtl"]
GRADIENT += ["aligned-mtl", "upgrad", "db-mtl", "fairgrad"]
QUICK_METHODS = ["uw", "dwa", "mgda", "upgrad", "pcgrad"]
TAGS = ["pop", "pop_rock", "ballad"]


def models(quick: bool) -> dict[str, dict[str, Any]]:
    """Config overrides of each benchmarked model (``--quick``: small sizes)."""
    n, dim, widths = (700, 500, [64, 32, 16, 8]) if quick else (3000, 5000, [1024, 512, 256, 128])
    sparse = dict(
        dataset="synthetic",
        dataset_options={"n": n, "dim": dim, "density": 0.018, "distractors": 5},
        arch="low",
        widths=widths,
    )
    ten = TAGS + ["loudness", "year"] + [f"distractor{i}" for i in range(1, 6)]
    return {
        "sstt3": {**sparse, "tasks": TAGS},
        "sstt10": {**sparse, "tasks": ten},
        "lstm3": dict(
            dataset="synthetic-seq",
            dataset_options={"n": 200 if quick else 1500, "features": 25, "max_length": 60},
            encoder="lstm",
            encoder_options={"hidden": 16 if quick else 64},
            arch="S",
            widths=[16 if quick else 64],
            tasks=["genre", "energy", "trend"],
        ),
    }


def _peak_mb(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def build(overrides: dict, method: str, opts: dict):
    """``(one_step, facts)``: a closure running one timed training step of ``method`` on
    the model ``overrides`` (cycling over the training batches), and its sizes."""
    import torch

    from mtl.core.config import TrainConfig
    from mtl.core.experiment import prepare
    from mtl.core.losses import DeviceData
    from mtl.core.plugins import load_plugins
    from mtl.core.sharing import shared_parameters
    from mtl.core.step import TrainStep
    from mtl.core.train import make_optimizer

    method, _, path = method.partition(":")
    torch.manual_seed(0)
    cfg = TrainConfig(
        **overrides,
        weighting=method,
        batch_size=opts["batch"],
        report=[],
        device=opts["device"],
        dropout=[0.0],
    )
    exp = prepare(cfg, load_plugins())
    dd = DeviceData(exp)
    trainable = [p for p in exp.model.parameters() if p.requires_grad]
    own = [p for p in exp.weighting.parameters() if p.requires_grad]
    groups = [{"params": own, "weight_decay": 0.0}] if own else []
    opt = make_optimizer(cfg, [{"params": trainable}, *groups])
    step = TrainStep(exp, dd, exp.model, trainable, opt)
    if opts["jacobian"] or path == "jacobian":
        step.factored = None
    sync = torch.cuda.synchronize if exp.device.type == "cuda" else (lambda: None)
    train, b = dd.splits["train"], opts["batch"]
    batches = [train[i : i + b] for i in range(0, len(train) - b + 1, b)]
    exp.model.train()
    count = [0]

    def one_step() -> float:
        i = count[0]
        count[0] += 1
        sync()
        start = time.perf_counter()
        step(batches[i % len(batches)], 1, i)
        opt.step()
        step.after_step()
        sync()
        return time.perf_counter() - start

    shared = sum(p.numel() for p in shared_parameters(exp.model))
    facts = {"k": len(exp.specs), "shared_mb": shared * 4 / 2**20, "factored": bool(step.factored)}
    return one_step, facts


def timings(overrides: dict, methods: list[str], opts: dict) -> dict[str, dict]:
    """Median step time of every method, measured in one process with the methods
    interleaved step by step, so that a busy machine slows them all alike."""
    import torch

    if opts["threads"]:
        torch.set_num_threads(opts["threads"])
    built = {m: build(overrides, m, opts) for m in methods}
    for _ in range(opts["warmup"]):
        for run, _facts in built.values():
            run()
    times: dict[str, list[float]] = {m: [] for m in methods}
    for _ in range(opts["steps"]):
        for m, (run, _facts) in built.items():
            times[m].append(run())
    return {m: {**built[m][1], "step_s": statistics.median(times[m])} for m in methods}


def peak_memory(overrides: dict, method: str, opts: dict) -> float:
    """Peak memory in MB of a few steps of ``method`` alone in this (fresh) process: resident
    set on the CPU, allocated device memory on CUDA."""
    import torch

    if opts["threads"]:
        torch.set_num_threads(opts["threads"])
    run, _ = build(overrides, method, opts)
    for _ in range(2):
        run()
    if opts["device"].startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _fresh(fn, *args):
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def _kind(method: str) -> str:
    method = method.partition(":")[0]
    if method == "ew":
        return "reference"
    return "loss" if method in LOSS_LEVEL else "gradient"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few methods, small sizes")
    parser.add_argument("--methods", default="", help="comma-separated (default: all)")
    parser.add_argument("--models", default="sstt3,sstt10,lstm3")
    parser.add_argument("--steps", type=int, default=0, help="timed steps (default 20; quick 4)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jacobian", action="store_true", help="no factored Gramian")
    parser.add_argument("--no-memory", action="store_true", help="speed only (faster)")
    parser.add_argument(
        "--same-process", action="store_true", help="no fresh processes (memory then shared)"
    )
    args = parser.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m] or (
        QUICK_METHODS if args.quick else LOSS_LEVEL + GRADIENT
    )
    methods = ["ew"] + [m for m in methods if m != "ew"]
    opts = {
        "steps": args.steps or (4 if args.quick else 20),
        "warmup": args.warmup,
        "batch": args.batch,
        "threads": args.threads,
        "device": args.device,
        "jacobian": args.jacobian,
    }
    table = models(args.quick)
    unknown = [m for m in args.models.split(",") if m not in table]
    if unknown:
        print(f"error: unknown model '{unknown[0]}'; choose from {', '.join(table)}")
        return 2
    path = "Jacobian (--jacobian)" if args.jacobian else "factored Gramian where it applies"
    print(f"batch {args.batch}, {opts['steps']} timed steps, {args.device}, gradient path: {path}")
    header = f"{'model':<7} {'method':<12} {'kind':<9} {'samples/s':>10} {'step ×ew':>9}"
    header += f" {'peak MB':>8} {'mem ×ew':>8} {'+MB':>7} {'k·|g| MB':>9}"
    for name in args.models.split(","):
        print(header)
        times = (timings if args.same_process else partial(_fresh, timings))(
            table[name], methods, opts
        )
        ref = None
        for method in methods:
            r = times[method]
            if args.no_memory:
                r["peak_mb"] = float("nan")
            elif args.same_process:
                r["peak_mb"] = peak_memory(table[name], method, opts)
            else:
                r["peak_mb"] = _fresh(peak_memory, table[name], method, opts)
            ref = ref or r
            extra = r["peak_mb"] - ref["peak_mb"]
            print(
                f"{name:<7} {method:<12} {_kind(method):<9} {args.batch / r['step_s']:10.0f} "
                f"{r['step_s'] / ref['step_s']:9.2f} {r['peak_mb']:8.0f} "
                f"{r['peak_mb'] / ref['peak_mb']:8.2f} {extra:+7.0f} "
                f"{r['k'] * r['shared_mb']:9.0f}" + ("  (factored)" if r["factored"] else ""),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
