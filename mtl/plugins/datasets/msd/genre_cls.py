"""Genre label lists for MSD tracks: tagtraum ``msd_tagtraum_cd*.cls`` and MAGD-style ``.cls``.

``#`` comment lines, then ``TRACK_ID<TAB>genre[<TAB>minority genre]``; only the first
(majority) genre is used. Malformed lines and repeated tracks are reported and skipped.
"""

from __future__ import annotations

from pathlib import Path

from mtl.core.errors import UserError
from mtl.plugins.datasets.msd.lyrics import TRACK_ID
from mtl.plugins.datasets.msd.problems import Problems


def read_genre_cls(path: Path, problems: Problems) -> dict[str, str]:
    """``track_id → genre`` of a ``.cls`` file."""
    out: dict[str, str] = {}
    try:
        fh = open(path, encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UserError(f"cannot read genre file '{path}': {exc.strerror}") from None
    with fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            where = f"{path}:{lineno}"
            if len(parts) < 2 or not TRACK_ID.fullmatch(parts[0].strip()) or not parts[1].strip():
                problems.add(
                    "bad genre line", where, f"expected TRACK_ID<TAB>genre, got '{line[:60]}'"
                )
                continue
            tid = parts[0].strip()
            if tid in out:
                problems.add(
                    "bad genre line", where, f"track {tid} appears again; the first is kept"
                )
                continue
            out[tid] = parts[1].strip()
    return out
