"""Binary tag tasks from artist-level tags: choosing the most frequent and naming them."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

import numpy as np

_NON_WORD = re.compile(r"[^a-z0-9]+")


def identifier(term: str, prefix: str = "") -> str:
    """A task name for a tag: ``pop rock`` → ``pop_rock``, ``Hip-Hop`` → ``hip_hop``."""
    ascii_term = unicodedata.normalize("NFKD", term).encode("ascii", "ignore").decode()
    name = _NON_WORD.sub("_", ascii_term.lower()).strip("_") or "tag"
    return prefix + name


@dataclass
class TagFamily:
    """Chosen tags of one source as CSR rows of positives; ``known`` marks tracks with any tag."""

    source: str
    names: list[str]
    terms: list[str]
    indptr: np.ndarray
    indices: np.ndarray
    known: np.ndarray

    def positives(self) -> np.ndarray:
        return np.bincount(self.indices, minlength=len(self.names))


def choose_tags(
    artists: list[str],
    artist_tags: dict[str, list[str]],
    top: int,
    min_count: int,
    prefix: str,
    reserved: set[str],
    source: str,
) -> TagFamily:
    """The ``top`` tags by number of tracks (at least ``min_count``), as per-track positives.

    A track is labelled (``known``) when its artist has at least one tag of this source;
    a chosen tag is then 1 if the artist has it, else 0. Ties are broken by the tag text.
    """
    tracks_per_artist = Counter(artists)
    freq: Counter = Counter()
    for artist, n in tracks_per_artist.items():
        for term in set(artist_tags.get(artist, ())):
            freq[term] += n
    ranked = sorted((t for t, c in freq.items() if c >= min_count), key=lambda t: (-freq[t], t))
    chosen = ranked[: max(top, 0)]
    names, used = [], set(reserved)
    for term in chosen:
        base = identifier(term, prefix)
        if base in reserved:
            base = f"{base}_tag"
        name, k = base, 2
        while name in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        names.append(name)
    column = {t: i for i, t in enumerate(chosen)}
    per_artist = {
        a: sorted({column[t] for t in tags if t in column}) for a, tags in artist_tags.items()
    }
    lengths = np.zeros(len(artists), dtype=np.int64)
    cols: list[int] = []
    known = np.zeros(len(artists), dtype=bool)
    for row, artist in enumerate(artists):
        tags = artist_tags.get(artist)
        if tags:
            known[row] = True
            mine = per_artist[artist]
            lengths[row] = len(mine)
            cols.extend(mine)
    indptr = np.zeros(len(artists) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    return TagFamily(source, names, chosen, indptr, np.asarray(cols, dtype=np.int32), known)
