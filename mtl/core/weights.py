"""Loading a checkpoint's weights into a model, with one readable line when they do not fit.

``torch``'s own ``load_state_dict`` error spans many lines (every missing and
unexpected key, every shape); the CLI shows one line, so the mismatch is summarised
here: how many parameters are missing, unexpected or of another shape, with the first
few names of each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtl.core.errors import UserError

SHOWN = 3  # names listed per kind of mismatch


def _names(names: list[str]) -> str:
    head = ", ".join(names[:SHOWN])
    return head + (f", … ({len(names) - SHOWN} more)" if len(names) > SHOWN else "")


def mismatch(model_state: dict[str, Any], saved: dict[str, Any]) -> str | None:
    """How ``saved`` (a state dict) differs from ``model_state``, in one phrase; None if it fits."""
    missing = [k for k in model_state if k not in saved]
    unexpected = [k for k in saved if k not in model_state]
    shapes = [
        f"{k} {tuple(saved[k].shape)} vs {tuple(v.shape)}"
        for k, v in model_state.items()
        if k in saved and hasattr(saved[k], "shape") and tuple(saved[k].shape) != tuple(v.shape)
    ]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing ({_names(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected ({_names(unexpected)})")
    if shapes:
        parts.append(f"{len(shapes)} of another shape, checkpoint vs model ({_names(shapes)})")
    return "; ".join(parts) or None


def load_weights(model: Any, saved: Any, path: Path, run_dir: Path) -> None:
    """``model.load_state_dict(saved)``, or a one-line :class:`UserError` saying which
    parameters of checkpoint ``path`` do not fit the model ``run_dir/config.json`` builds."""
    if not isinstance(saved, dict):
        raise UserError(f"checkpoint '{path}' holds no model weights (not a state dict)")
    problem = mismatch(model.state_dict(), saved)
    if problem is None:
        try:
            model.load_state_dict(saved)
        except RuntimeError as exc:  # e.g. a dtype torch cannot copy
            problem = " ".join(str(exc).split())
    if problem is not None:
        raise UserError(
            f"checkpoint '{path}' does not fit the model of run '{run_dir}' (config.json): "
            f"parameters {problem}; it comes from another architecture or configuration, "
            "restore the run's own checkpoint or start a new run"
        )


def load_optimizer(optimizer: Any, saved: Any, path: Path) -> None:
    """``optimizer.load_state_dict(saved)``, or a one-line :class:`UserError`."""
    try:
        optimizer.load_state_dict(saved)
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise UserError(
            f"checkpoint '{path}' holds optimiser state that does not fit this run ({reason}); "
            "restore the run's own checkpoint or start a new run"
        ) from None
