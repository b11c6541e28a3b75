"""What a built model shares between tasks: the architecture contract of gradient methods.

Gradient-balancing weightings (``needs = "gradients"``) combine per-task gradients of
the model's *shared* parameters; representation methods (``needs = "representation"``)
combine per-task gradients of the *shared representation*. A built model (what
:meth:`mtl.core.architecture.Architecture.build` returns) declares both:

- ``shared_parameters() -> list[nn.Parameter]``: every parameter that more than one
  task's loss depends on (S layers wherever they sit in the pattern, a shared
  encoder). Everything else (T layers, heads, per-task encoders) is task-specific
  and always gets its own task's gradient. ``[]`` means "shares nothing".
- ``has_shared_representation() -> bool`` and, after every forward, the attribute
  ``shared_representation``: the last activation before the first task-specific
  split, one row per example row (``None`` when there is none). It exists only when
  the computation starts shared (a leading S layer, or a shared encoder).

A model without ``shared_parameters`` declares nothing: loss-level methods work with
it, gradient and representation methods are refused before anything is written.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from mtl.core.errors import UserError


def declares_sharing(model: nn.Module) -> bool:
    return callable(getattr(model, "shared_parameters", None))


def shared_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The model's trainable shared parameters, in its declared order (deduplicated)."""
    seen: set[int] = set()
    out = []
    for p in model.shared_parameters():
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out


def has_shared_representation(model: nn.Module) -> bool:
    check = getattr(model, "has_shared_representation", None)
    return bool(check()) if callable(check) else False


def check_sharing(model: nn.Module, needs: str, method: str, arch: str) -> None:
    """Refuse a gradient or representation ``method`` the model cannot serve."""
    if needs == "losses":
        return
    where = f"--weighting {method} needs per-task gradients of the shared {{what}}"
    if not declares_sharing(model):
        raise UserError(
            where.format(what="parameters")
            + f", but architecture '{arch}' declares none (its model has no "
            "shared_parameters() method; see docs/plugins.md); choose a loss-level method "
            "such as ew, uw or dwa"
        )
    if needs == "gradients" and not shared_parameters(model):
        raise UserError(
            where.format(what="parameters")
            + f", but architecture '{arch}' shares no trainable parameter; choose a "
            "sharing architecture (e.g. --arch low) or a loss-level method"
        )
    if needs == "representation" and not has_shared_representation(model):
        raise UserError(
            where.format(what="representation")
            + f", but architecture '{arch}' has no shared representation (the model must "
            "start with a shared layer or a shared encoder, e.g. --arch low)"
        )


def parameter_counts(model: nn.Module, task_names: list[str]) -> dict[str, Any]:
    """The model's capacity as ``results.json`` records it.

    ``total`` counts every parameter (frozen ones too); ``shared`` those the model
    declares shared (``None`` when it declares nothing); ``per_task`` splits the rest
    evenly over the tasks — exact for per-task layers stacked along a task dimension
    (T layers, towers, gates, heads), which is how the built-in architectures hold them.
    """
    total = sum(p.numel() for p in model.parameters())
    shared = None
    if declares_sharing(model):
        seen: set[int] = set()
        shared = 0
        for p in model.shared_parameters():
            if id(p) not in seen:
                seen.add(id(p))
                shared += p.numel()
    specific = total - (shared or 0)
    k = max(len(task_names), 1)
    return {
        "total": total,
        "shared": shared,
        "task_specific": specific,
        "per_task": {name: specific / k for name in task_names},
    }
