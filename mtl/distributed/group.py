"""The process group of a distributed run and the few collectives the trainer needs.

``setup`` reads the launcher's variables (:mod:`mtl.distributed.env`), refuses a
misconfigured job with one clear line, and starts torch.distributed: NCCL on GPUs,
gloo on CPUs, with a short timeout so that a rank that died fails the job quickly
instead of hanging it. Without a launcher everything here is a cheap no-op.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from mtl.core.errors import UserError
from mtl.distributed.env import (
    DistEnv,
    backend_for,
    check_devices,
    discover,
    signal_problems,
    warning_signal,
)

DEFAULT_TIMEOUT_S = 120


@dataclass
class Context:
    """This process's place in the run; ``world_size == 1`` means not distributed."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    device: torch.device | None = None

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_writer(self) -> bool:
        """Only rank 0 writes the run directory."""
        return self.rank == 0


_CTX = Context()
_CPU_GROUP: Any = None  # gloo group for flags and objects when training uses NCCL


def context() -> Context:
    return _CTX


def timeout_seconds() -> int:
    value = os.environ.get("MTL_DIST_TIMEOUT", str(DEFAULT_TIMEOUT_S))
    try:
        return max(1, int(value))
    except ValueError:
        raise UserError(f"MTL_DIST_TIMEOUT={value!r} must be a number of seconds") from None


def setup(device: str = "auto", env: DistEnv | None = None) -> Context:
    """Join the process group the launcher set up; a single process does nothing."""
    global _CTX, _CPU_GROUP
    env = env or discover()
    if not env.distributed:
        if env.problems:
            raise UserError(f"launch misconfigured: {env.problems[0]}")
        _CTX = Context()
        return _CTX
    if dist.is_initialized():
        return _CTX
    gpus = torch.cuda.device_count()
    use_cuda = device == "cuda" or (device == "auto" and gpus > 0)
    backend = backend_for("cuda" if use_cuda else "cpu")
    problems = list(env.problems)
    problems += check_devices(env, "cuda" if use_cuda else device, gpus)
    problems += signal_problems(warning_signal(), backend)
    if problems:
        raise UserError(f"distributed launch misconfigured (rank {env.rank}): {problems[0]}")
    dev = torch.device("cpu")
    if use_cuda:
        dev = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(dev)
    os.environ.setdefault("MASTER_ADDR", str(env.master_addr))
    os.environ.setdefault("MASTER_PORT", str(env.master_port))
    dist.init_process_group(
        backend=backend,
        init_method=f"tcp://{env.master_addr}:{env.master_port}",
        rank=env.rank,
        world_size=env.world_size,
        timeout=datetime.timedelta(seconds=timeout_seconds()),
    )
    if backend == "nccl":
        # the per-step stop flag travels over gloo on the host, so it never waits for the GPU
        _CPU_GROUP = dist.new_group(
            backend="gloo", timeout=datetime.timedelta(seconds=timeout_seconds())
        )
    _CTX = Context(env.rank, env.world_size, env.local_rank, backend, dev)
    return _CTX


def teardown(orderly: bool = True) -> None:
    """Leave the process group. ``orderly`` (every rank got here without an error): meet
    at a barrier first, so no rank tears down gloo while another still has work in flight
    (a rank leaving early could abort in the C++ teardown)."""
    global _CTX, _CPU_GROUP
    if dist.is_initialized():
        if orderly:
            dist.barrier()
        dist.destroy_process_group()
    _CTX, _CPU_GROUP = Context(), None


def barrier() -> None:
    if _CTX.distributed:
        dist.barrier()


def all_max(value: int) -> int:
    """The largest ``value`` over ranks: one tiny all-reduce on the host (gloo)."""
    if not _CTX.distributed:
        return value
    t = torch.tensor([value], dtype=torch.int32)
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=_CPU_GROUP)
    return int(t.item())


def all_sum(t: torch.Tensor) -> torch.Tensor:
    if _CTX.distributed:
        t = t.clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (on every rank)."""
    if not _CTX.distributed:
        return [obj]
    out: list[Any] = [None] * _CTX.world_size
    dist.all_gather_object(out, obj, group=_CPU_GROUP)
    return out


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not _CTX.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0, group=_CPU_GROUP)
    return box[0]


def wrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model as DDP sees it (gradients averaged over ranks); itself when single."""
    if not _CTX.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [_CTX.device.index] if _CTX.device is not None and _CTX.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)
