"""Typed ``KEY=VALUE`` options that components declare and the core validates."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mtl.core.errors import UserError
from mtl.core.registry import did_you_mean

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Option:
    """One option: ``type`` is int, float, str or bool; bounds and choices are checked."""

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
            elif self.type is int:
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError
                out = int(str(value).replace("_", "")) if isinstance(value, str) else int(value)
            elif self.type is float:
                out = float(value)
            else:
                out = str(value)
        except ValueError:
            kind = {bool: "true or false", int: "an integer", float: "a number"}[self.type]
            raise UserError(f"{where} expects {kind}, got '{value}'") from None
        if self.choices is not None and out not in self.choices:
            raise UserError(f"{where} must be one of {', '.join(self.choices)}; got '{out}'")
        if self.min is not None and out < self.min:
            raise UserError(f"{where} must be at least {self.min}; got {out}")
        if self.max is not None and out > self.max:
            raise UserError(f"{where} must be at most {self.max}; got {out}")
        return out


def split_assignments(items: Iterable[str], unique: bool = False) -> dict[str, str]:
    """``['n=100', 'dim=50']`` → ``{'n': '100', 'dim': '50'}``; malformed items are errors,
    and so is a key given twice when ``unique``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"malformed option '{item}': write KEY=VALUE, e.g. -o n=1000")
        if unique and key.strip() in out:
            raise UserError(
                f"option '{key.strip()}' is given twice ({key.strip()}={out[key.strip()]} and "
                f"{item.strip()}); give each option once"
            )
        out[key.strip()] = value.strip()
    return out


def resolve_options(
    declared: Iterable[Option], given: Mapping[str, Any], owner: str
) -> dict[str, Any]:
    """Defaults overlaid with ``given``, each value parsed; unknown keys list the valid ones."""
    declared = list(declared)
    by_name = {o.name: o for o in declared}
    for key in given:
        if key not in by_name:
            valid = ", ".join(sorted(by_name)) or "none"
            raise UserError(
                f"unknown option '{key}' for {owner}{did_you_mean(key, list(by_name))}; "
                f"valid options: {valid}"
            )
    return {o.name: o.parse(given.get(o.name, o.default), owner) for o in declared}
