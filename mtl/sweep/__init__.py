"""Sweeps: studies as numbered runs, their execution, statistics and reports.

from mtl.sweep import load_sweep, load_results
sweep = load_sweep("experiments/rq1_mtl_vs_stl.toml", sets=("epochs=3",))
len(sweep.items), sweep.root           # item i runs in sweep.root / str(i)
frame = load_results(sweep.root)       # one row per finished run (pandas)
"""

from mtl.sweep.results import load_results
from mtl.sweep.spec import Item, Sweep, load_sweep

__all__ = ["Item", "Sweep", "load_results", "load_sweep"]
