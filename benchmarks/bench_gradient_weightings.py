#!/usr/bin/env python
"""Time of one ``combine`` call of every gradient weighting, on a random Jacobian.

For ``k`` tasks (``--tasks 3,10``) and ``--params`` shared parameters (5.6 M: the
founding study's SSTT 1024-512-256-128 network on a 5000-word input), each method's
``combine`` gets a float32 Jacobian with some conflicting rows; the table shows the
median wall time of ``combine`` (Gramian + solve + everything the method does on the
Jacobian) and, for the Gramian methods, of the k×k solve alone. The trainer's own work
(per-task gradients, ``Jᵀw``) is not included. Usage::

    python benchmarks/bench_gradient_weightings.py [--params 5600000] [--tasks 3,10]
        [--repeats 5] [--threads T] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial
from importlib import import_module

import torch

from mtl.core.options import resolve_options
from mtl.core.weighting import StepInfo
from mtl.plugins.weightings import BUILTINS
from mtl.plugins.weightings.gramian import GramianWeighting

METHODS = [
    "mgda",
    "pcgrad",
    "gradvac",
    "cagrad",
    "imtl-g",
    "nash-mtl",
    "aligned-mtl",
    "upgrad",
    "db-mtl",
    "fairgrad",
]


def build(name: str, k: int):
    module, _, cls = BUILTINS[name].partition(":")
    cls = getattr(import_module(f"mtl.plugins.weightings.{module}"), cls)
    return cls(k, resolve_options(cls.options, {}, name), 0)


def timed(fn, repeats: int, sync) -> float:
    fn()  # warm-up (and first-step state)
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_tasks(k: int, params: int, repeats: int, device: torch.device, sync) -> None:
    """Print one row per method for ``k`` tasks."""
    gen = torch.Generator().manual_seed(k)
    jac = torch.randn(k, params, generator=gen)
    jac[1] -= 1.5 * jac[0]
    jac = jac.to(device)
    info = StepInfo(
        losses=torch.linspace(0.5, 1.5, k, device=device),
        present=torch.ones(k, dtype=torch.bool, device=device),
        epoch=1,
        step=0,
        jacobian=jac,
    )
    gram = info.gram.double().cpu()
    index, losses = torch.arange(k), info.losses.double().cpu()
    for name in METHODS:
        method = build(name, k)
        whole = timed(partial(method.combine, info), repeats, sync)
        solve = f"{'-':>9}"
        if isinstance(method, GramianWeighting):
            solve = f"{timed(partial(method.weigh, gram, index, losses), repeats, sync) * 1e3:9.2f}"
        print(f"{name:<12} {k:>3} {whole * 1e3:11.1f} {solve}")
    gram_time = timed(lambda: info.gram, repeats, sync)
    print(f"{'(gramian)':<12} {k:>3} {gram_time * 1e3:11.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=int, default=5_600_000)
    parser.add_argument("--tasks", default="3,10")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    print(f"P = {args.params:,} shared parameters, {torch.get_num_threads()} threads, {device}")
    print(f"{'method':<12} {'k':>3} {'combine ms':>11} {'solve ms':>9}")
    for k in [int(t) for t in args.tasks.split(",")]:
        bench_tasks(k, args.params, args.repeats, device, sync)


if __name__ == "__main__":
    main()
