#!/usr/bin/env python
"""Distributed data-parallel training on CPU: 1 process against 2 gloo ranks, and the
per-step cost of the preemption machinery.

Model and data are those of ``bench_trainer.py``: the founding study's low-sharing
network (SSTT, widths 1024,512,256,128, three binary tasks, Adagrad) on the
``synthetic`` dataset shaped like the MSD lyrics (``--n`` rows x ``--dim`` words).

* ``1 process``: ``mtl train --batch-size B`` with all ``--threads``, and with half.
* ``2 ranks``: ``torchrun --standalone --nproc-per-node 2 -m mtl train --batch-size B/2``
  (the same global batch B) with ``--threads / 2`` threads each.

Throughput is ``train_samples / train_seconds`` of the last epoch's ``train`` record
(training loop only); ``eval s`` is the last epoch's time scoring the training subset
and the validation split (sharded across ranks). The preemption check is one
all-reduce of one integer per step across ranks (a plain attribute read with one
process); the benchmark times it in a 2-rank gloo group and compares it with the
measured step time.

Usage::

    python benchmarks/bench_ddp.py [--n 25000] [--dim 5000] [--epochs 2] [--batch-size 128]
        [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TIMER = r"""
import time, torch, torch.distributed as dist
dist.init_process_group("gloo")
from mtl.distributed import group
group._CTX = group.Context(dist.get_rank(), dist.get_world_size(), 0, "gloo", torch.device("cpu"))
for _ in range(200):
    group.all_max(0)
n = 3000
start = time.perf_counter()
for _ in range(n):
    group.all_max(0)
if dist.get_rank() == 0:
    print((time.perf_counter() - start) / n * 1e6)
dist.destroy_process_group()
"""


def train(procs: int, threads: int, args: argparse.Namespace, run_dir: Path) -> dict:
    per_rank = args.batch_size // procs
    common = [
        "train", "--dataset", "synthetic", "--arch", "low", "--tasks", "pop,pop_rock,ballad",
        "-o", f"n={args.n}", "-o", f"dim={args.dim}", "-o", f"density={args.density}",
        "--epochs", str(args.epochs), "--batch-size", str(per_rank), "--report", "jsonl",
        "--run-dir", str(run_dir), "--device", "cpu",
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MTL_PLUGINS="")
    if procs == 1:
        cmd = [sys.executable, "-m", "mtl", *common]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={procs}", "-m", "mtl", *common]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT, capture_output=True)
    wall = time.perf_counter() - start
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in records if r["split"] == "train"][-1]
    steps = -(-last["train_samples"] // args.batch_size)
    return {
        "processes": procs,
        "threads_each": threads,
        "batch_per_rank": per_rank,
        "samples_per_second": last["train_samples"] / last["train_seconds"],
        "step_ms": last["train_seconds"] / steps * 1e3,
        "eval_seconds": last.get("eval_seconds"),
        "wall_seconds": wall,
    }


def check_cost_us() -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(TIMER)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
         fh.name],
        check=True, env=env, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    os.unlink(fh.name)
    return float(out.stdout.strip().splitlines()[-1])


def single_check_ns() -> float:
    """What the trainer does per step without a process group: read the signal flag."""
    import timeit

    sys.path.insert(0, str(ROOT))
    from mtl.distributed.preempt import NONE, Flag

    flag = Flag()
    n = 1_000_000
    return timeit.timeit(lambda: flag.value != NONE, number=n) / n * 1e9


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=25000)
    p.add_argument("--dim", type=int, default=5000)
    p.add_argument("--density", type=float, default=0.018)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        half = max(args.threads // 2, 1)
        for i, (procs, threads) in enumerate(((1, args.threads), (1, half), (2, half))):
            rows.append(train(procs, threads, args, Path(tmp) / f"r{i}"))
        flag_ns = single_check_ns()
    check = check_cost_us()
    print(
        f"global batch {args.batch_size}, {args.threads} threads in all, n={args.n} dim={args.dim}"
    )
    print(
        f"{'processes':>9} {'threads':>7} {'batch/rank':>10} {'samples/s':>10} {'ms/step':>8} "
        f"{'eval s':>7} {'wall s':>7}"
    )
    for r in rows:
        print(
            f"{r['processes']:>9} {r['threads_each']:>7} {r['batch_per_rank']:>10} "
            f"{r['samples_per_second']:>10.0f} {r['step_ms']:>8.2f} {r['eval_seconds']:>7.2f} "
            f"{r['wall_seconds']:>7.1f}"
        )
    ratio = rows[2]["samples_per_second"] / rows[0]["samples_per_second"]
    share = check / 1e3 / rows[2]["step_ms"]
    print(f"2 ranks / 1 process with all threads: {ratio:.2f}x")
    print(
        f"preemption check, one process (read of the signal flag): {flag_ns:.0f} ns per step, "
        f"{flag_ns / 1e6 / rows[0]['step_ms']:.5%} of a step"
    )
    print(
        f"preemption check (all-reduce of one int, 2 gloo ranks): {check:.1f} us per step, "
        f"{share:.2%} of a 2-rank step"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "rows": rows,
                    "check_us": check,
                    "flag_ns": flag_ns,
                    "ratio": ratio,
                    "check_share": share,
                }
            )
        )


if __name__ == "__main__":
    main()
