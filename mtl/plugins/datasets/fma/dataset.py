"""``fma-spectrograms`` (genre) and ``fma-multitask`` (valence, energy, danceability)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from mtl.core.data import MultiTaskData, TaskSpec
from mtl.core.dataset import Dataset
from mtl.core.errors import UserError
from mtl.core.options import Option
from mtl.plugins.datasets.fma.arrays import CROPS, VIEWS, ArrayFile, find_arrays, load_frames
from mtl.plugins.datasets.fma.labels import AFFECT, check_covered, read_affect, read_genres
from mtl.plugins.datasets.fma.mapping import (
    GenreMapping,
    default_mapping,
    identity_mapping,
    read_mapping,
)
from mtl.plugins.datasets.fma.splits import carve_stratified

ENV_DIR = "MTL_DATA"
FILE_SPLITS = ("train", "test")


def resolve_root(root: str | None, default_name: str, beat: bool) -> Path:
    """``root`` (or ``$MTL_DATA/<default_name>``), its ``_beat`` sibling with ``beat``, checked."""
    if root:
        path = Path(root).expanduser()
    elif os.environ.get(ENV_DIR):
        path = Path(os.environ[ENV_DIR]).expanduser() / default_name
    else:
        raise UserError(
            f"no data directory: pass -o root=DIR (e.g. data/{default_name}, holding train/, "
            f"test/, train_labels.txt and test_labels.txt) or set ${ENV_DIR}"
        )
    if beat and not path.name.endswith("_beat"):
        path = path.with_name(path.name + "_beat")
    if not path.is_dir():
        raise UserError(
            f"data directory {path} does not exist"
            + (" (-o beat=true looks for the '_beat' sibling of root)" if beat else "")
        )
    return path.resolve()


def clip_ids(files: list[ArrayFile]) -> list[str]:
    return [f.path.name.split(".", 1)[0] for f in files]


class FmaDataset(Dataset):
    """What the two FMA datasets share: root, view, padding and the validation carving."""

    default_dir = ""
    options = (
        Option(
            "root",
            str,
            None,
            "data directory with train/, test/ and *_labels.txt [default: $MTL_DATA/<name>]",
        ),
        Option(
            "view",
            str,
            "mel",
            "rows of each clip: mel (128), chroma (12) or fused (140)",
            choices=VIEWS,
        ),
        Option("beat", bool, False, "use the beat-synchronised sibling directory <root>_beat"),
        Option(
            "max_frames",
            int,
            None,
            "crop clips to at most this many frames [default: no crop]",
            min=1,
        ),
        Option("crop", str, "start", "where a cropped clip's frames come from", choices=CROPS),
        Option(
            "val_fraction",
            float,
            0.1,
            "fraction of train carved out for validation",
            min=0,
            max=0.5,
        ),
        Option("split_seed", int, 0, "seed of the validation carving", min=0),
        Option("workers", int, 4, "threads reading array files", min=1),
    )

    def root(self, options: dict[str, Any]) -> Path:
        return resolve_root(options.get("root"), self.default_dir, options.get("beat", False))

    def resolve(self, options: dict[str, Any]) -> dict[str, Any]:
        return {**options, "root": str(self.root(options))}

    def arrays(self, root: Path, options: dict[str, Any]) -> dict[str, list[ArrayFile]]:
        return {s: find_arrays(root / s, options["view"]) for s in FILE_SPLITS}

    def frames(self, files: list[ArrayFile], options: dict[str, Any]):
        return load_frames(
            files,
            options["view"],
            options.get("max_frames"),
            options.get("crop", "start"),
            options.get("workers", 4),
        )

    def splits(self, strata: np.ndarray, n: int, options: dict[str, Any]) -> dict[str, np.ndarray]:
        """Rows ``0..len(strata)`` are the training files: validation is carved from them
        (seeded, stratified by ``strata``); the remaining rows up to ``n`` are the test set."""
        n_train = len(strata)
        val = carve_stratified(
            strata, options.get("val_fraction", 0.1), options.get("split_seed", 0)
        )
        rows = np.arange(n_train)
        return {"train": rows[~val], "val": rows[val], "test": np.arange(n_train, n)}

    def provenance(self, root: Path, options: dict[str, Any], files: dict) -> dict[str, Any]:
        return {
            "root": str(root),
            "options": dict(options),
            "beat_synchronised": root.name.endswith("_beat"),
            "files": {s: len(v) for s, v in files.items()},
        }


class FmaSpectrograms(FmaDataset):
    description = "FMA lab spectrograms (mel, chroma, fused; beat-synchronised) → 10 genres"
    default_dir = "fma_genre_spectrograms"
    options = (
        *FmaDataset.options,
        Option(
            "mapping",
            str,
            "default",
            "genre mapping: default (the customary 20 → 10), none (raw genres), or a TOML file",
        ),
    )
    default_tasks = ("genre",)

    def resolve(self, options: dict[str, Any]) -> dict[str, Any]:
        out = super().resolve(options)
        mapping = out.get("mapping") or "default"
        if mapping not in ("default", "none"):
            mapping = str(Path(mapping).expanduser().resolve())
        return {**out, "mapping": mapping}

    def mapping(self, options: dict[str, Any]) -> GenreMapping:
        mapping = options.get("mapping") or "default"
        if mapping == "default":
            return default_mapping()
        if mapping == "none":
            root = self.root(options)
            return identity_mapping(list(read_genres(root / "train_labels.txt").values()))
        return read_mapping(Path(mapping).expanduser())

    def offered_tasks(self, options: dict[str, Any]) -> list[TaskSpec]:
        classes = self.mapping(options).classes
        return [
            TaskSpec(
                "genre",
                "multiclass",
                classes=classes,
                description=f"one of {len(classes)} genres (mapping: {options.get('mapping') or 'default'})",
            )
        ]

    def load(self, options: dict[str, Any], tasks: list[str]) -> MultiTaskData:
        root = self.root(options)
        mapping = self.mapping(options)
        found = self.arrays(root, options)
        files: dict[str, list[ArrayFile]] = {}
        classes: dict[str, list[int]] = {}
        dropped, unmatched = {}, {}
        for split in FILE_SPLITS:
            label_path = root / f"{split}_labels.txt"
            genres = read_genres(label_path)
            unmatched[split] = check_covered(found[split], genres, label_path)
            files[split], classes[split] = [], []
            for f in found[split]:
                c = mapping.class_id(genres[f.clip], f"{label_path} (clip {f.clip})")
                if c is not None:
                    files[split].append(f)
                    classes[split].append(c)
            dropped[split] = len(found[split]) - len(files[split])
        y_train = np.asarray(classes["train"], dtype=np.int64)
        counts = np.bincount(y_train, minlength=len(mapping.classes))
        if not counts.all():
            empty = mapping.classes[int(np.flatnonzero(counts == 0)[0])]
            raise UserError(
                f"class '{empty}' has no training clip after the genre mapping "
                f"({mapping.source}, {root / 'train_labels.txt'}); remove it from the mapping "
                "or fix the labels"
            )
        everything = files["train"] + files["test"]
        inputs = self.frames(everything, options)
        y = np.concatenate([y_train, np.asarray(classes["test"], dtype=np.int64)])
        spec = self.offered_tasks({**options, "root": str(root)})[0]
        return MultiTaskData(
            inputs=inputs,
            tasks=[spec],
            targets={"genre": y.astype(np.float64)},
            masks={"genre": np.ones(len(y), dtype=bool)},
            splits=self.splits(y_train, len(y), options),
            ids=np.asarray(clip_ids(everything)),
            provenance={
                **self.provenance(root, options, files),
                "mapping": mapping.source,
                "dropped_by_mapping": dropped,
                "labels_without_arrays": unmatched,
            },
        )


class FmaMultitask(FmaDataset):
    description = "FMA lab spectrograms → valence, energy, danceability (regression)"
    default_dir = "multitask_dataset"
    default_tasks = AFFECT

    def offered_tasks(self, options: dict[str, Any]) -> list[TaskSpec]:
        return [
            TaskSpec(t, "regression", description=f"{t} of the clip (multitask labels)")
            for t in AFFECT
        ]

    def load(self, options: dict[str, Any], tasks: list[str]) -> MultiTaskData:
        root = self.root(options)
        files = self.arrays(root, options)
        values, unmatched = [], {}
        predict_only = False
        for split in FILE_SPLITS:
            label_path = root / f"{split}_labels.txt"
            if split == "test" and not label_path.exists():
                predict_only = True  # unlabelled test clips: predictions only
                values.append(np.full((len(files[split]), len(AFFECT)), np.nan))
                continue
            labels = read_affect(label_path)
            unmatched[split] = check_covered(files[split], labels, label_path)
            values.append(np.array([labels[f.clip] for f in files[split]], dtype=np.float64))
        y = np.concatenate(values).reshape(-1, len(AFFECT))
        everything = files["train"] + files["test"]
        inputs = self.frames(everything, options)
        specs = {s.name: s for s in self.offered_tasks(options)}
        return MultiTaskData(
            inputs=inputs,
            tasks=[specs[t] for t in tasks],
            targets={t: y[:, AFFECT.index(t)] for t in tasks},
            masks={t: np.isfinite(y[:, AFFECT.index(t)]) for t in tasks},
            splits=self.splits(np.zeros(len(files["train"])), len(y), options),
            ids=np.asarray(clip_ids(everything)),
            provenance={
                **self.provenance(root, options, files),
                "test_labels": not predict_only,
                "labels_without_arrays": unmatched,
            },
        )
