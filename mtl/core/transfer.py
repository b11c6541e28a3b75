"""Transfer learning: initialise a model from another run's weights and freeze parts of it.

The contract every model follows: a shared feature extractor is a submodule named
``encoder`` (its state-dict keys start with ``encoder.``) and task output layers have
``head`` in their parameter names (``head.weight``, ``heads.0.bias``...). Weights are
matched by name and shape: ``encoder`` takes the ``encoder.*`` entries, ``all`` every
entry of the same name and shape. Frozen parameters get ``requires_grad=False`` (the
trainer leaves them out of the optimiser) and frozen batch-norm layers keep their
running statistics.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mtl.core.config import FREEZE_MODES, INIT_PARTS
from mtl.core.errors import UserError

ENCODER = "encoder"


def is_encoder(name: str) -> bool:
    return name == ENCODER or name.startswith(f"{ENCODER}.")


def is_head(name: str) -> bool:
    """A task output layer: ``head`` in a part of the name, outside the encoder (so an
    encoder's ``multihead_attn`` is not one)."""
    return not is_encoder(name) and any("head" in part for part in name.split("."))


def has_encoder(model: nn.Module) -> bool:
    return any(is_encoder(n) for n in model.state_dict())


@dataclass
class TransferPlan:
    """Which source entries initialise the model and which parameters stay frozen."""

    loaded: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # target name → why not loaded
    frozen: list[str] = field(default_factory=list)

    def frozen_not_loaded(self) -> list[str]:
        loaded = set(self.loaded)
        return [n for n in self.frozen if n not in loaded]


def select_weights(
    source: dict[str, torch.Tensor], model: nn.Module, part: str
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The source entries to load into ``model`` for ``part``, and why others are skipped."""
    if part not in INIT_PARTS:
        raise UserError(f"--init-part must be one of {', '.join(INIT_PARTS)}; got '{part}'")
    target = model.state_dict()
    if part == "encoder":
        if not has_encoder(model):
            raise UserError(
                "--init-part encoder: this model has no 'encoder' submodule (the dense/sparse "
                "MLP models have none); use --init-part all to load every weight of the same "
                "name and shape"
            )
        if not any(is_encoder(n) for n in source):
            raise UserError(
                "--init-part encoder: the source run's model has no 'encoder' weights; "
                "use --init-part all"
            )
    chosen, skipped = {}, {}
    for name, tensor in target.items():
        if part == "encoder" and not is_encoder(name):
            continue
        if name not in source:
            skipped[name] = "not in the source run"
        elif tuple(source[name].shape) != tuple(tensor.shape):
            skipped[name] = (
                f"shape {tuple(source[name].shape)} in the source, {tuple(tensor.shape)} here"
            )
        else:
            chosen[name] = source[name]
    parameters = {n for n, _ in model.named_parameters() if not is_head(n)}
    if not parameters & set(chosen):  # buffers or head biases alone are no match
        reasons = "; ".join(f"{k}: {v}" for k, v in list(skipped.items())[:3])
        raise UserError(
            f"--init-from: no weight of the source run (beyond task heads and buffers) matches "
            f"this model by name and shape "
            f"(--init-part {part}){f' ({reasons})' if reasons else ''}; check that both runs "
            "use the same dataset inputs, widths and encoder"
        )
    return chosen, skipped


def load_weights(model: nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """Copy ``weights`` into ``model`` in place (entries it names only)."""
    state = model.state_dict()
    with torch.no_grad():
        for name, tensor in weights.items():
            state[name].copy_(tensor.to(state[name].device, state[name].dtype))


def frozen_names(model: nn.Module, mode: str) -> list[str]:
    """The parameters ``mode`` freezes (checked, nothing changed).

    ``encoder``: every ``encoder.*`` parameter; ``all-but-heads``: every parameter whose
    name has no ``head`` part; ``none``: nothing.
    """
    if mode not in FREEZE_MODES:
        raise UserError(f"--freeze must be one of {', '.join(FREEZE_MODES)}; got '{mode}'")
    if mode == "none":
        return []
    params = [n for n, _ in model.named_parameters()]
    if mode == "encoder":
        names = [n for n in params if is_encoder(n)]
        if not names:
            raise UserError(
                "--freeze encoder: this model has no 'encoder' submodule (the dense/sparse "
                "MLP models have none); use --freeze all-but-heads"
            )
        return names
    names = [n for n in params if not is_head(n)]
    if len(names) == len(params):
        raise UserError(
            "--freeze all-but-heads: no parameter of this model is a task head "
            "(none has 'head' in its name), so everything would be frozen"
        )
    return names


def freeze(model: nn.Module, mode: str) -> list[str]:
    """Freeze the parameters :func:`frozen_names` picks; frozen batch-norm layers keep
    their running statistics (momentum 0). The names frozen."""
    names = frozen_names(model, mode)
    if not names:
        return []
    params = dict(model.named_parameters())
    for name in names:
        params[name].requires_grad_(False)
    for module_name, module in model.named_modules():
        if not isinstance(module, nn.modules.batchnorm._BatchNorm):
            continue
        if is_encoder(module_name) if mode == "encoder" else not is_head(module_name):
            module.momentum = 0.0
    return names


def source_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The source run's selected-checkpoint weights and a record of the run for the manifest."""
    from mtl.core.runs import BEST, RESULTS, RunDir, read_json

    try:
        run = RunDir.open(path)
    except UserError as exc:
        raise UserError(f"--init-from: {exc}") from None
    state = run.load_checkpoint(BEST)
    manifest, config = run.manifest(), run.config()
    results = read_json(run.file(RESULTS)) if run.file(RESULTS).exists() else {}
    record = {
        "run_dir": str(Path(path).resolve()),
        "checkpoint": BEST,
        "checkpoint_sha256": hashlib.sha256(run.file(BEST).read_bytes()).hexdigest(),
        "data_fingerprint": manifest.get("data_fingerprint"),
        "dataset": config.get("dataset"),
        "dataset_options": config.get("dataset_options"),
        "arch": config.get("arch"),
        "tasks": config.get("tasks"),
        "selected_epoch": int(state.get("epoch", 0)),
        "select_by": results.get("select_by"),
        "status": results.get("status"),
        "val": _primary(results.get("val")),
        "test": _primary(results.get("test")),
    }
    return state["model"], record


def _primary(by_task: dict[str, Any] | None) -> dict[str, Any] | None:
    """Scalar metrics of each task (no per-class lists): a results summary."""
    if not by_task:
        return None
    return {
        task: {k: v for k, v in m.items() if isinstance(v, (int, float))}
        for task, m in by_task.items()
    }


def apply_transfer(
    model: nn.Module, source: dict[str, torch.Tensor] | None, part: str, mode: str
) -> TransferPlan:
    """Load ``part`` of ``source`` (if given) into ``model``, then freeze ``mode``."""
    plan = TransferPlan()
    frozen_names(model, mode)  # a bad --freeze fails before anything is loaded
    if source is not None:
        weights, plan.skipped = select_weights(source, model, part)
        load_weights(model, weights)
        plan.loaded = sorted(weights)
    plan.frozen = freeze(model, mode)
    return plan


def setup_transfer(config: Any, model: nn.Module) -> dict[str, Any] | None:
    """Apply ``--init-from``/``--init-part``/``--freeze`` of a new run's ``config`` to
    ``model``; the record for the manifest (``None`` without ``--init-from``)."""
    if config.init_from is None:
        if config.freeze != "none":
            raise UserError(
                f"--freeze {config.freeze} needs --init-from RUN_DIR (freezing randomly "
                "initialised weights is rarely what you want)"
            )
        return None
    source, record = source_checkpoint(Path(config.init_from))
    plan = apply_transfer(model, source, config.init_part, config.freeze)
    return record | {
        "init_part": config.init_part,
        "freeze": config.freeze,
        "loaded": plan.loaded,
        "skipped": plan.skipped,
        "frozen": plan.frozen,
        "frozen_not_loaded": plan.frozen_not_loaded(),
    }
