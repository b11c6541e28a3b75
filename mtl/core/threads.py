"""How many CPU threads torch uses: ``--threads N``, else the CPUs this process may use.

torch's own default is the machine's core count, whoever else is running: on a busy
machine, or a SLURM job given 2 of 64 cores, its threads wait for each other (two
threads on a busy 2-core machine made ``mtl dummy`` 4x slower). The default here is
``OMP_NUM_THREADS`` when set (the SLURM templates and sweep workers set it), else the
CPUs in this process's affinity mask, capped by ``SLURM_CPUS_PER_TASK`` and divided
among the ranks started on this node (``LOCAL_WORLD_SIZE``, torchrun).
"""

from __future__ import annotations

import contextlib
import os

from mtl.core.errors import UserError

_override: int | None = None  # --threads of a command that runs others' configs


def available_cpus(env: dict[str, str] | None = None) -> int:
    """The CPUs this process may run on, capped by ``SLURM_CPUS_PER_TASK`` when set."""
    env = dict(os.environ) if env is None else env
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    slurm = _positive(env.get("SLURM_CPUS_PER_TASK"))
    return max(1, min(n, slurm) if slurm else n)


def default_threads(env: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if env is None else env
    cpus = available_cpus(env)
    omp = _positive(env.get("OMP_NUM_THREADS"))
    if omp:
        return min(omp, cpus)
    return max(1, cpus // (_positive(env.get("LOCAL_WORLD_SIZE")) or 1))


def check_threads(value: object, what: str = "--threads") -> int:
    """A positive integer, else one error line."""
    n = _positive(value)
    if n is None:
        raise UserError(f"{what} must be a positive integer (torch CPU threads); got {value!r}")
    return n


def override(n: int | None) -> None:
    """Make every run of this process use ``n`` threads (None: as configured)."""
    global _override
    _override = None if n is None else check_threads(n)


def use_threads(configured: int | None) -> int:
    """Set torch's intra-op (and, before any parallel work, inter-op) threads; the number."""
    import torch

    n = _override or configured or default_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    with contextlib.suppress(RuntimeError):  # allowed only before inter-op parallel work
        torch.set_num_interop_threads(n)
    return n


def _positive(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return n if n >= 1 else None
