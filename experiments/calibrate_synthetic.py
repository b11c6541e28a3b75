"""Calibration of the ``synthetic`` generator: does multi-task learning help where it should?

Superseded by the sweep ``experiments/rq3_training_size.toml`` (see docs/synthetic.md);
kept because it reproduces the earlier table, measured with topic labels
(``labels=topics``, its default here).

Trains, for each training-set size and seed, a low-level-sharing model on the tightly
coupled tags (pop, pop_rock, ballad), a low-level-sharing model on the loose set
(pop, loudness, year) and a single-task model on pop; reports the test ROC-AUC on pop
(epoch selected on validation) and the paired difference to single-task with a 95%
t-interval over seeds.

    python experiments/calibrate_synthetic.py                 # the measured defaults
    python experiments/calibrate_synthetic.py --sizes 500 --seeds 10 -o missing=0
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
from pathlib import Path

from mtl.core.config import TrainConfig
from mtl.core.plugins import load_plugins
from mtl.core.runner import start_run

T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}
SETS = {
    "single": ("none", ["pop"]),
    "tight": ("low", ["pop", "pop_rock", "ballad"]),
    "loose": ("low", ["pop", "loudness", "year"]),
}


def mean_ci(values: list[float]) -> tuple[float, float]:
    m = statistics.fmean(values)
    if len(values) < 2:
        return m, math.nan
    return m, T95.get(len(values) - 1, 1.96) * statistics.stdev(values) / math.sqrt(len(values))


def cell(values: list[float], sign: str = "") -> str:
    mean, half = mean_ci(values)
    return f"{mean:{sign}.3f} ± {half:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="250,1000,4000")
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument(
        "--lr", type=float, default=None, help="learning rate (default: AdaGrad's 0.01)"
    )
    ap.add_argument("-o", "--dataset-option", action="append", default=[])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    # partial labels, as artist tags are: each task labelled for half of the tracks
    options = {
        "n": "8000",
        "missing": "0.5",
        "labels": "topics",
        **dict(kv.split("=", 1) for kv in args.dataset_option),
    }
    plugins = load_plugins(env={"MTL_PLUGINS": ""})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in [int(s) for s in args.sizes.split(",")]:
            for seed in range(args.seeds):
                for name, (arch, tasks) in SETS.items():
                    cfg = TrainConfig(
                        dataset="synthetic",
                        dataset_options=options,
                        arch=arch,
                        tasks=tasks,
                        train_size=size,
                        seed=seed,
                        epochs=args.epochs,
                        patience=args.patience,
                        lr=args.lr,
                        report=[],
                        run_dir=f"{tmp}/{size}-{seed}-{name}",
                    )
                    _, res = start_run(cfg, plugins)
                    auc = res["test"]["pop"]["roc_auc"]
                    rows.append({"size": size, "seed": seed, "set": name, "auc": auc})
                    print(
                        f"size {size:>6} seed {seed} {name:<6} pop test AUC {auc:.4f}", flush=True
                    )
    print(
        "\n| train size | single-task AUC | tight MTL AUC | Δ tight − single (95% CI) | loose MTL AUC | Δ loose − single (95% CI) |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for size in sorted({r["size"] for r in rows}):
        by = {
            s: {r["seed"]: r["auc"] for r in rows if r["size"] == size and r["set"] == s}
            for s in SETS
        }
        cells = [f"{size}", cell(list(by["single"].values()))]
        for s in ("tight", "loose"):
            diffs = [by[s][k] - by["single"][k] for k in by["single"]]
            cells += [cell(list(by[s].values())), cell(diffs, sign="+")]
        print("| " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
