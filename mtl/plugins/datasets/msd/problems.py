"""Bad input met while preparing: each one named with its file and line or track.

Readers report a problem to a :class:`Problems` collector instead of raising: the
item is skipped and counted. With ``strict=True`` the first problem is a
:class:`~mtl.core.errors.UserError` instead, so nothing is written.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from mtl.core.errors import UserError


@dataclass
class Problems:
    """Skipped items by kind, with the first few messages of each kind kept for the summary."""

    strict: bool = False
    keep: int = 5
    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, where: str, what: str) -> None:
        message = f"{where}: {what}"
        if self.strict:
            raise UserError(f"{message} (--strict turns skipped input into an error)")
        self.counts[kind] += 1
        shown = self.examples.setdefault(kind, [])
        if len(shown) < self.keep:
            shown.append(message)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, object]:
        return {"counts": dict(self.counts), "examples": self.examples}
