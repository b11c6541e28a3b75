"""Genre mappings: the customary 20 → 10 merge, none, or a TOML file.

A mapping file::

    classes = ["Rock", "Electronic"]        # optional: class order (ids 0, 1, ...)
    drop = ["Soundtrack"]                   # raw genres whose clips are left out
    [map]                                   # raw genre = class
    Rock = "Rock"
    Punk = "Rock"
    Electronic = "Electronic"

Raw genres are matched case-insensitively; a raw genre neither mapped nor dropped is
an error, so a typo never silently loses clips.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from mtl.core.errors import UserError

# The platform's default, following the lab's customary merge: 20 raw genres, five
# dropped (Indie-Rock, Post-Punk, Soundtrack, International, Old-Time), 15 merged
# into 10 classes.
DEFAULT_MAP = {
    "Rock": "Rock",
    "Punk": "Rock",
    "Electronic": "Electronic",
    "Hip-Hop": "Hip-Hop",
    "Folk": "Folk",
    "Country": "Folk",
    "Pop": "Pop",
    "Easy Listening": "Pop",
    "Experimental": "Experimental",
    "Spoken": "Experimental",
    "Instrumental": "Instrumental",
    "Jazz": "Jazz",
    "Blues": "Jazz",
    "Classical": "Classical",
    "Soul-RnB": "Soul-RnB",
}
DEFAULT_DROP = ("Indie-Rock", "Post-Punk", "Soundtrack", "International", "Old-Time")


def _key(genre: str) -> str:
    return " ".join(genre.split()).casefold()


@dataclass(frozen=True)
class GenreMapping:
    """Raw genre → class id; ``classes`` names the ids; ``dropped`` raw genres are left out."""

    classes: tuple[str, ...]
    to_class: dict[str, str]
    dropped: frozenset[str]
    source: str

    def class_id(self, genre: str, where: str) -> int | None:
        """The class id of a raw genre, ``None`` if it is dropped; unknown genres are errors."""
        key = _key(genre)
        if key in self.dropped:
            return None
        if key not in self.to_class:
            raise UserError(
                f"{where}: genre '{genre}' is not in the genre mapping ({self.source}); "
                "add it to [map] or to drop in a mapping file (-o mapping=FILE.toml), "
                "or use -o mapping=none"
            )
        return self.classes.index(self.to_class[key])

    @classmethod
    def build(
        cls, mapping: dict[str, str], drop: list[str], classes: list[str] | None, source: str
    ) -> GenreMapping:
        order = list(classes) if classes else list(dict.fromkeys(mapping.values()))
        if len(set(order)) != len(order):
            raise UserError(f"genre mapping {source}: classes lists a class twice")
        to_class: dict[str, str] = {}
        for raw, target in mapping.items():
            if not isinstance(target, str):
                raise UserError(f"genre mapping {source}: '{raw}' must map to a class name")
            if target not in order:
                raise UserError(
                    f"genre mapping {source}: '{raw}' maps to '{target}', which is not in classes"
                )
            to_class[_key(raw)] = target
        dropped = frozenset(_key(g) for g in drop)
        both = sorted(g for g in dropped if g in to_class)
        if both:
            raise UserError(f"genre mapping {source}: '{both[0]}' is both mapped and dropped")
        if not order:
            raise UserError(f"genre mapping {source} maps no genre to a class")
        return cls(tuple(order), to_class, dropped, source)


def default_mapping() -> GenreMapping:
    return GenreMapping.build(DEFAULT_MAP, list(DEFAULT_DROP), None, "the default 20 → 10 mapping")


def identity_mapping(genres: list[str]) -> GenreMapping:
    names = sorted(set(genres), key=_key)
    return GenreMapping.build({g: g for g in names}, [], names, "mapping=none")


def read_mapping(path: Path) -> GenreMapping:
    if not path.is_file():
        raise UserError(f"genre mapping file {path} does not exist")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"cannot read genre mapping {path}: {exc}") from None
    unknown = sorted(set(doc) - {"classes", "drop", "map"})
    if unknown:
        raise UserError(
            f"genre mapping {path}: unknown key '{unknown[0]}'; valid keys: classes, drop, map"
        )
    mapping, drop, classes = doc.get("map", {}), doc.get("drop", []), doc.get("classes")
    if not isinstance(mapping, dict) or not mapping:
        raise UserError(f'genre mapping {path} needs a [map] table of raw genre = "class" lines')
    if not isinstance(drop, list) or not all(isinstance(g, str) for g in drop):
        raise UserError(f"genre mapping {path}: drop must be a list of genre names")
    if classes is not None and (
        not isinstance(classes, list) or not all(isinstance(c, str) for c in classes)
    ):
        raise UserError(f"genre mapping {path}: classes must be a list of class names")
    return GenreMapping.build(mapping, drop, classes, str(path))
