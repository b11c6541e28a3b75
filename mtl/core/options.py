"""Typed ``KEY=VALUE`` options that components declare and the core validates."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mtl.core.errors import UserError
from mtl.core.registry import did_you_mean

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
INT_LIMIT = 2**63 - 1  # no integer setting may exceed what a C long (numpy, torch) holds


@dataclass(frozen=True)
class Option:
    """One option: ``type`` is int, float, str or bool; bounds and choices are checked.

    Numbers must be finite (NaN and infinities are refused whatever the bounds) and
    integers at most :data:`INT_LIMIT` in size; ``true``/``false`` is not a number.
    """

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None

    def parse(self, value: Any, owner: str) -> Any:
        where = f"option '{self.name}' of {owner}"
        if value is None:
            return None
        try:
            if self.type is bool:
                if isinstance(value, bool):
                    out = value
                elif str(value).lower() in _TRUE | _FALSE:
                    out = str(value).lower() in _TRUE
                else:
                    raise ValueError
            elif isinstance(value, bool) and self.type in (int, float):
                raise ValueError
            elif self.type is int:
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError
                out = int(str(value).replace("_", "")) if isinstance(value, str) else int(value)
            elif self.type is float:
                out = float(value)
                if not math.isfinite(out):
                    raise UserError(f"{where} must be a finite number; got '{value}'")
            else:
                out = str(value)
        except (ValueError, OverflowError):
            kind = {bool: "true or false", int: "an integer", float: "a number"}[self.type]
            raise UserError(f"{where} expects {kind}, got '{value}'") from None
        if self.choices is not None and out not in self.choices:
            raise UserError(f"{where} must be one of {', '.join(self.choices)}; got '{out}'")
        if self.min is not None and out < self.min:
            raise UserError(f"{where} must be at least {self.min}; got {out}")
        if self.max is not None and out > self.max:
            raise UserError(f"{where} must be at most {self.max}; got {out}")
        if self.type is int and abs(out) > INT_LIMIT:
            raise UserError(f"{where} is too large: {out} (at most {INT_LIMIT})")
        return out


@dataclass(frozen=True)
class Retired:
    """An option a component no longer accepts: naming it is an error that says why."""

    name: str
    reason: str


def split_assignments(
    items: Iterable[str], example: str = "-o n=1000", flag: str = "-o"
) -> dict[str, str]:
    """``['n=100', 'dim=50']`` → ``{'n': '100', 'dim': '50'}``; malformed items and a key
    given twice are errors (``example`` shows the right form, ``flag`` names the option)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"malformed option '{item}': write KEY=VALUE, e.g. {example}")
        key = key.strip()
        if key in out:
            raise UserError(
                f"{flag} {key} is given twice ({key}={out[key]} and {key}={value.strip()}); "
                "give each key once"
            )
        out[key] = value.strip()
    return out


def resolve_options(
    declared: Iterable[Option], given: Mapping[str, Any], owner: str
) -> dict[str, Any]:
    """Defaults overlaid with ``given``, each value parsed; unknown keys list the valid ones."""
    declared = list(declared)
    retired = {o.name: o.reason for o in declared if isinstance(o, Retired)}
    declared = [o for o in declared if not isinstance(o, Retired)]
    by_name = {o.name: o for o in declared}
    for key in given:
        if key in retired:
            raise UserError(f"option '{key}' of {owner} was retired: {retired[key]}")
        if key not in by_name:
            valid = ", ".join(sorted(by_name)) or "none"
            raise UserError(
                f"unknown option '{key}' for {owner}{did_you_mean(key, list(by_name))}; "
                f"valid options: {valid}"
            )
    return {o.name: o.parse(given.get(o.name, o.default), owner) for o in declared}
