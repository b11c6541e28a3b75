"""The trainer: batches on the device, masked multi-task loss, validation-only selection.

One epoch is a shuffled pass over the training split in index slices; the loss of
each task is averaged over its labelled examples in the batch (:mod:`mtl.core.losses`)
and the run's weighting turns the task losses into one update
(:mod:`mtl.core.step`; ``ew``, the default, sums them). After every epoch the model is scored on a fixed training subset and on
the validation split; the best validation epoch is checkpointed and the test split
is scored once, at the end, with that checkpoint (:mod:`mtl.core.scoring`).
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import torch

from mtl.core.config import TrainConfig
from mtl.core.diagnostics import collect
from mtl.core.errors import RunFailure, UserError
from mtl.core.experiment import Experiment
from mtl.core.gates import GateRecorder
from mtl.core.losses import DeviceData, batch_loss  # noqa: F401 (re-exported)
from mtl.core.reporter import Reporter, RunInfo
from mtl.core.runs import BEST, LAST, RESULTS, RunDir, write_json
from mtl.core.schedules import LRSchedule
from mtl.core.scoring import evaluate_split, load_best, score_checkpoint  # noqa: F401 (re-exported)
from mtl.core.sharing import parameter_counts
from mtl.core.step import TrainStep
from mtl.core.weights import load_optimizer, load_weights
from mtl.distributed import group
from mtl.distributed.preempt import NONE, Flag, Preempted, signal_hook

TRAIN_EVAL_MAX = 10_000
STOP_FILE = "STOP"
FULL_STATE = ("model", "optimizer", "rng", "epoch", "best_value", "best_epoch", "bad_epochs")


def make_optimizer(config: TrainConfig, params: Any) -> torch.optim.Optimizer:
    """The configured optimiser, fused where torch has a fused kernel for it.

    The fused AdaGrad step is about 4x faster on the 5,000 x 1,024 first layer, where
    the unfused one spends most of a training step (see benchmarks/README.md).
    """
    lr, wd = config.learning_rate, config.weight_decay
    params = list(params)
    match config.optimizer:
        case "adagrad":
            cls, kwargs = torch.optim.Adagrad, {"lr": lr, "weight_decay": wd}
        case "adam":
            cls, kwargs = torch.optim.Adam, {"lr": lr, "weight_decay": wd}
        case "sgd":
            cls, kwargs = (
                torch.optim.SGD,
                {"lr": lr, "momentum": config.momentum, "weight_decay": wd},
            )
        case "adadelta":
            return torch.optim.Adadelta(params, lr=lr, weight_decay=wd)
        case _:
            raise ValueError(config.optimizer)
    try:
        return cls(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):  # no fused kernel for this torch or device
        return cls(params, **kwargs)


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def set_rank_rng_state(state: dict[str, Any], rank: int) -> None:
    """This rank's RNG state from a checkpoint (rank 0's when the world grew)."""
    ranks = state.get("rng_ranks") or [state["rng"]]
    set_rng_state(ranks[rank] if rank < len(ranks) else ranks[0])
    if rank >= len(ranks):
        torch.manual_seed(torch.initial_seed() + rank)


class Trainer:
    def __init__(self, exp: Experiment, run: RunDir, reporters: list[Reporter]):
        self.exp = exp
        self.run = run
        self.reporters = reporters
        # only reporters that override on_batch are called in the training loop
        self.batch_reporters = [r for r in reporters if type(r).on_batch is not Reporter.on_batch]
        self.dd = DeviceData(exp)
        # frozen parameters (transfer learning, --freeze) stay out of the optimiser
        self.trainable = [p for p in exp.model.parameters() if p.requires_grad]
        # a weighting's learnable weights: their own group, no weight decay, not in DDP
        own = [p for p in exp.weighting.parameters() if p.requires_grad]
        groups = [{"params": own, "weight_decay": 0.0}] if own else []
        self.optimizer = make_optimizer(exp.config, [{"params": self.trainable}, *groups])
        # distributed runs: the DDP-wrapped model for training steps, rank-own dropout draws
        self.dist = group.context()
        self.net = group.wrap(exp.model)
        self.step = TrainStep(exp, self.dd, self.net, self.trainable, self.optimizer)
        self.step_rows = exp.config.batch_size * self.dist.world_size * exp.config.accumulate
        self.per_epoch = math.ceil(len(self.dd.splits["train"]) / self.step_rows)
        self.schedule = LRSchedule(exp.config, self.optimizer, self.per_epoch)
        if self.dist.rank:
            torch.manual_seed(exp.config.seed * 1_000_003 + self.dist.rank)
        self.flag = Flag()  # set by the preemption signal handlers (see mtl.distributed.preempt)
        self.signal_hook = signal_hook(self.dist.rank, self.flag)  # MTL_TEST_SIGNAL_AT; else no-op
        self.partial: dict[str, Any] | None = None  # progress inside an unfinished epoch
        self.epoch = 0
        self.best_value: float | None = None
        self.best_epoch = 0
        self.bad_epochs = 0
        self.status = "running"
        train = self.dd.splits["train"]
        n_eval = min(len(train), TRAIN_EVAL_MAX)
        pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(exp.config.seed))
        self.train_eval_rows = train[pick[:n_eval].sort().values.to(train.device)]

    # --- checkpoints -------------------------------------------------------------
    def _state(self, full: bool) -> dict[str, Any]:
        state = {
            "model": self.exp.model.state_dict(),
            "task_stats": self.exp.stats,
            "epoch": self.epoch,
            "weighting": self.exp.weighting.state_dict(),
        }
        if full:
            state |= {
                "optimizer": self.optimizer.state_dict(),
                "rng": rng_state(),
                "best_value": self.best_value,
                "best_epoch": self.best_epoch,
                "bad_epochs": self.bad_epochs,
                "status": self.status,
                "rng_ranks": group.gather_objects(rng_state()),
                "partial": self.partial,
                "schedule": self.schedule.state_dict(),
                "scaler": self.step.precision.state_dict(),
            }
        return state

    def _save(self, name: str, full: bool) -> None:
        """Checkpoint (collective when full); rank 0 writes, keeping the previous last.pt."""
        state = self._state(full)
        if not self.dist.is_writer:
            return
        path = self.run.file(name)
        if name == LAST and path.exists():
            prev = path.with_name("last.prev.pt")
            prev.unlink(missing_ok=True)
            os.link(path, prev)
        self.run.save_checkpoint(name, state)

    def restore(self, state: dict[str, Any], source: str = LAST) -> None:
        """Continue from a ``last.pt`` state (``source``, relative to the run directory):
        model, optimiser, epoch, RNG, early-stopping."""
        path = self.run.file(source)
        missing = [k for k in FULL_STATE if k not in state]
        if missing:
            raise UserError(
                f"checkpoint '{path}' is not a training checkpoint (no {', '.join(missing)}); "
                "--resume needs the run's own last.pt"
            )
        load_weights(self.exp.model, state["model"], path, self.run.path)
        load_optimizer(self.optimizer, state["optimizer"], path)
        if "weighting" in state:  # runs from before weightings used equal weighting
            self.exp.weighting.load_state_dict(state["weighting"])
        if "schedule" in state:  # runs from before schedules had none
            self.schedule.load_state_dict(state["schedule"])
        self.step.precision.load_state_dict(state.get("scaler"))
        set_rank_rng_state(state, self.dist.rank)
        self.partial = state.get("partial")
        self.epoch = int(state["epoch"])
        self.best_value = state["best_value"]
        self.best_epoch = int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])
        self.status = state.get("status", "running")

    # --- the loop ----------------------------------------------------------------
    def _train_epoch(self) -> tuple[float, float, int]:
        exp, dd, opt = self.exp, self.dd, self.optimizer
        train = dd.splits["train"]
        world = self.dist.world_size
        bs, per_epoch = self.step_rows, self.per_epoch  # per-rank batch x ranks x --accumulate
        order = torch.randperm(
            len(train),
            generator=torch.Generator().manual_seed(exp.config.seed * 100_003 + self.epoch),
        )
        perm = train[order.to(train.device)]
        if exp.config.batch_order == "bucketed":
            lengths = getattr(dd.inputs, "lengths", None)  # sequence inputs only
            perm = bucket_by_length(lengths, perm, bs, exp.config.seed * 100_003 + self.epoch)
        self.net.train()
        clip = exp.config.clip_grad_norm
        loss_sum = torch.zeros((), device=exp.device)
        steps = 0
        first, carried, before = 0, 0.0, 0.0  # a mid-epoch checkpoint continues here
        if self.partial is not None:
            p, self.partial = self.partial, None
            first, steps, carried, before = p["position"], p["steps"], p["loss"], p["seconds"]
            if "stats" in p:
                self.step.stats.load(p["stats"])
            if world == 1:  # continue the very float32 sum an uninterrupted epoch builds
                loss_sum += carried
                carried = 0.0
        start = time.perf_counter()
        for step, s in enumerate(range(first, len(perm), bs), start=first // bs):
            self.signal_hook(self.epoch, step)  # tests: a signal at a known step
            if self._stop_requested() != NONE:
                seconds = before + time.perf_counter() - start
                self._preempt(s, step, steps, carried + self._global_sum(loss_sum), seconds)
            # gradients of the global batch, as the run's weighting combines them
            t = (self.epoch - 1) * per_epoch + step
            loss = self.step(perm[s : s + bs], self.epoch, t)
            self.schedule.apply(t, self.epoch)  # --lr-schedule, --warmup-epochs
            self.step.precision.step(opt, self.trainable, clip)  # clip, (un)scale, step
            self.step.after_step()
            loss_sum += loss.detach()
            steps += 1
            for r in self.batch_reporters:
                r.on_batch(self.epoch, step, loss.detach())
        if exp.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = before + time.perf_counter() - start
        mean_loss = (carried + self._global_sum(loss_sum)) / max(steps, 1)
        if not math.isfinite(mean_loss):
            raise RunFailure(
                f"training diverged in epoch {self.epoch} (loss is {mean_loss}); "
                "lower --lr, set --clip-grad-norm, or check the data for extreme values"
            )
        return mean_loss, seconds, len(perm)

    # --- preemption (see mtl.distributed.preempt) ---------------------------------------
    def _stop_requested(self) -> int:
        """The signal flag, agreed by all ranks (a rank stopping alone hangs the others)."""
        if not self.dist.distributed:
            return self.flag.value
        return group.all_max(self.flag.value)

    def _global_sum(self, loss_sum: torch.Tensor) -> float:
        """Sum of global-batch losses from each rank's scaled shard losses."""
        return float(group.all_sum(loss_sum)) / self.dist.world_size

    def _stop_file(self) -> bool:
        found = (self.run.path / STOP_FILE).exists()
        return bool(group.all_max(int(found))) if self.dist.distributed else found

    def _preempt(self, position: int, step: int, steps: int, loss: float, seconds: float) -> None:
        """Checkpoint the unfinished epoch at ``position`` and stop every rank."""
        kind = self._stop_requested()
        self.partial = {"position": position, "steps": steps, "loss": loss, "seconds": seconds}
        self.partial["stats"] = self.step.stats.state()
        self.epoch -= 1  # last.pt's epoch counts finished epochs
        self._save(LAST, full=True)
        self.epoch += 1
        self.partial = None
        group.barrier()
        raise Preempted(kind, self.run.path, self.epoch, step)

    def fit(self) -> dict[str, Any]:
        exp, cfg = self.exp, self.exp.config
        info = RunInfo(
            run_dir=self.run.path,
            config=cfg.to_dict(),
            tasks=[s.to_dict() for s in exp.specs],
            split_sizes={k: len(v) for k, v in exp.data.splits.items()},
            epochs=cfg.epochs,
            start_epoch=self.epoch + 1,
            steps_per_epoch=self.per_epoch,
            selection=str(exp.selection),
            primary_metrics={
                s.name: tt.primary for s, tt in zip(exp.specs, exp.task_types, strict=True)
            },
        )
        for r in self.reporters:
            r.on_start(info)
        while self.status == "running" and self.epoch < cfg.epochs:
            self.epoch += 1
            loss, seconds, samples = self._train_epoch()
            balance = self.step.end_epoch(self.epoch)  # the method's epoch statistics
            diagnostics = collect(exp.model)  # the model's own (mtl.core.diagnostics)
            # every rank scores a share of the rows and gets all the metrics
            started = time.perf_counter()
            with GateRecorder(exp.model) as gates:  # expert utilisation, if gated
                train_metrics, _ = evaluate_split(exp, self.dd, self.train_eval_rows, shard=True)
            val_metrics, val_loss = evaluate_split(exp, self.dd, self.dd.splits["val"], shard=True)
            eval_seconds = time.perf_counter() - started
            records = [
                {
                    "epoch": self.epoch,
                    "split": "train",
                    "loss": loss,
                    "train_seconds": seconds,
                    "train_samples": samples,
                    "samples_per_second": samples / seconds if seconds > 0 else None,
                    "eval_samples": len(self.train_eval_rows),
                    "eval_seconds": eval_seconds,
                    "lr": self.schedule.last,
                    "tasks": train_metrics,
                    **balance,
                    **gates.record(),
                    **({"diagnostics": diagnostics} if diagnostics else {}),
                },
                {"epoch": self.epoch, "split": "val", "loss": val_loss, "tasks": val_metrics},
            ]
            value = val_metrics[exp.selection.task][exp.selection.metric]
            improved = exp.selection.better(value, self.best_value)
            if improved:
                self.best_value, self.best_epoch, self.bad_epochs = value, self.epoch, 0
                self._save(BEST, full=False)
            else:
                self.bad_epochs += 1
            self.schedule.end_epoch(self.epoch, improved)  # plateau follows --select-by
            if cfg.patience is not None and self.bad_epochs >= cfg.patience:
                self.status = "early_stopped"
            elif self._stop_file():
                self.status = "stopped"
            elif self.epoch >= cfg.epochs:
                self.status = "completed"
            for r in self.reporters:
                r.on_epoch(self.epoch, records, improved)
            self._save(LAST, full=True)
        if not self.dist.is_writer:  # rank 0 scores the test split and writes results
            return {"status": self.status}
        return self.finish()

    def finish(self) -> dict[str, Any]:
        """Score val and test once with the best checkpoint and write ``results.json``."""
        exp = self.exp
        if self.best_epoch == 0:
            raise RunFailure(
                f"validation metric {exp.selection} was never finite; nothing to select "
                "(is the validation split empty or without labels?)"
            )
        results = score_checkpoint(exp, self.run, self.dd)
        history = self.run.metrics()
        train_seconds = sum(r.get("train_seconds", 0.0) for r in history if r["split"] == "train")
        train_samples = sum(r.get("train_samples", 0) for r in history if r["split"] == "train")
        results |= {
            "status": self.status,
            "epochs_run": self.epoch,
            "weighting": exp.config.weighting,
            "weighting_options": exp.weighting_options,
            "arch_options": exp.arch_options,
            "parameters": parameter_counts(exp.model, [s.name for s in exp.specs]),
            "train_seconds": train_seconds,
            "samples_per_second": train_samples / train_seconds if train_seconds else None,
        }
        write_json(self.run.file(RESULTS), results)
        for r in self.reporters:
            r.on_end(results)
        return results


BUCKET_BATCHES = 50


def bucket_by_length(
    lengths: torch.Tensor | None, perm: torch.Tensor, bs: int, seed: int
) -> torch.Tensor:
    """``perm`` reordered so batches hold sequences of similar ``lengths`` (indexed by
    example): each run of ``BUCKET_BATCHES`` batches of the shuffled order is sorted by
    length, cut into batches, and the batches of the epoch are shuffled (seeded).
    Without lengths (not sequences): ``perm``."""
    if lengths is None or len(perm) <= bs:
        return perm
    chunk = bs * BUCKET_BATCHES
    batches: list[torch.Tensor] = []
    for s in range(0, len(perm), chunk):
        rows = perm[s : s + chunk]
        rows = rows[torch.argsort(lengths.index_select(0, rows), stable=True)]
        batches.extend(torch.split(rows, bs))
    pick = torch.randperm(len(batches), generator=torch.Generator().manual_seed(seed + 1))
    return torch.cat([batches[i] for i in pick.tolist()])
