"""Distributed training and preemption: ranks, the process group, and safe stops.

``env`` reads the launcher's variables (torchrun's, then SLURM's) without importing
torch; ``group`` starts and queries the process group; ``preempt`` turns signals
into a flag that every rank agrees on at a step boundary.
"""
