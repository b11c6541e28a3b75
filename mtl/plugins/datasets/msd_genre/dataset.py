"""``msd-genre``: MSD-10 / MSD-25 segment sequences → genre (or style)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from mtl.core.data import MultiTaskData, SequenceInputs, TaskSpec
from mtl.core.dataset import Dataset
from mtl.core.errors import UserError
from mtl.core.options import Option, Retired
from mtl.plugins.datasets.fma.arrays import CROPS
from mtl.plugins.datasets.fma.splits import carve_stratified
from mtl.plugins.datasets.msd_genre.files import (
    FEATURES,
    NpzReader,
    SplitReader,
    as_label_map,
    default_classes,
    find_files,
)

ENV_ROOT = "MTL_MSD_GENRE"
ENV_DIR = "MTL_DATA"
VARIANTS = ("fixed", "var-length")


def resolve_root(root: str | None) -> Path:
    """``root``, else ``$MTL_MSD_GENRE``, else ``$MTL_DATA/msd``, else ``data/msd``."""
    if root:
        path = Path(root).expanduser()
    elif os.environ.get(ENV_ROOT):
        path = Path(os.environ[ENV_ROOT]).expanduser()
    elif os.environ.get(ENV_DIR):
        path = Path(os.environ[ENV_DIR]).expanduser() / "msd"
    else:
        path = Path("data/msd")
    if not path.is_dir():
        raise UserError(
            f"data directory {path} does not exist: pass -o root=DIR holding "
            "msd-10-genre-train.npz (or msd10-train.npz) and its siblings"
        )
    return path.resolve()


class MsdGenre(Dataset):
    description = "MSD-10 / MSD-25 segment sequences (120 × 25 timbre, chroma, loudness) → genre"
    options = (
        Option(
            "root",
            str,
            None,
            f"directory of the .npz files [default: ${ENV_ROOT}, else ${ENV_DIR}/msd, else data/msd]",
        ),
        Option("classes", str, "10", "MSD-10 (genres) or MSD-25 (styles)", choices=("10", "25")),
        Option(
            "variant",
            str,
            "fixed",
            "fixed: the central 120 segments; var-length: the …-var-length.npz files",
            choices=VARIANTS,
        ),
        Option(
            "max_len",
            int,
            None,
            "crop sequences to at most this many segments [default: no crop]",
            min=1,
        ),
        Option(
            "crop", str, "start", "where a cropped sequence's segments come from", choices=CROPS
        ),
        Option(
            "val_fraction",
            float,
            None,
            "carve validation from train+valid, stratified [default: the valid file, else 0.1 of train]",
            min=0,
            max=0.5,
        ),
        Option("split_seed", int, 0, "seed of the validation carving", min=0),
        Retired(
            "allow_pickle",
            "mtl never unpickles data files (a pickle can run code); store label_map as an "
            "array of class names, e.g. label_map=np.array(names), and drop this option",
        ),
    )
    default_tasks = ("genre",)

    def resolve(self, options: dict[str, Any]) -> dict[str, Any]:
        return {**options, "root": str(resolve_root(options.get("root")))}

    def _files(self, options: dict[str, Any]) -> tuple[Path, int, bool, dict[str, list[Path]]]:
        root = resolve_root(options.get("root"))
        k = int(options.get("classes") or "10")
        var_length = options.get("variant", "fixed") == "var-length"
        files = find_files(root, k, var_length)
        if not files["train"]:
            suffix = "-var-length" if var_length else ""
            other = "" if var_length else " (variable-length files need -o variant=var-length)"
            raise UserError(
                f"no MSD-{k} training file in {root}: expected msd-{k}-genre-train{suffix}.npz "
                f"or msd{k}-train{suffix}.npz{other}"
            )
        for split, paths in files.items():
            parts = [
                p for p in paths if "-inputs" in p.name.lower() or "-targets" in p.name.lower()
            ]
            if len(paths) > 1 and len(parts) != len(paths):
                raise UserError(
                    f"several {split} files for MSD-{k} in {root}: "
                    f"{', '.join(p.name for p in paths)}; keep one naming scheme"
                )
            if parts and not any("-inputs" in p.name.lower() for p in parts):
                raise UserError(f"{parts[0]} has no matching {split} -inputs file in {root}")
        return root, k, var_length, files

    def offered_tasks(self, options: dict[str, Any]) -> list[TaskSpec]:
        root, k, _, files = self._files(options)
        names = default_classes(k)
        for split in ("train", "valid", "test"):  # the first label_map names the classes
            if not files[split]:
                continue
            reader = NpzReader(files[split])
            try:
                if "label_map" in reader:
                    names = as_label_map(reader.get("label_map"), k, reader.where("label_map"))
                    break
            finally:
                reader.close()
        kind = "genres" if k == 10 else "styles"
        return [
            TaskSpec(
                "genre", "multiclass", classes=names, description=f"one of {k} {kind} (MSD-{k})"
            )
        ]

    def load(self, options: dict[str, Any], tasks: list[str]) -> MultiTaskData:
        root, k, var_length, files = self._files(options)
        spec = self.offered_tasks(options)[0]
        parts: dict[str, SplitReader] = {}
        try:
            for split, paths in files.items():
                if not paths:
                    continue
                parts[split] = part = SplitReader(
                    paths,
                    k,
                    var_length,
                    options.get("max_len"),
                    options.get("crop", "start"),
                )
                if split != "test" and part.targets is None:
                    raise UserError(f"{paths[0]} has no 'targets': the {split} split needs labels")
                if part.label_map is not None and part.label_map != spec.classes:
                    raise UserError(
                        f"{paths[0]}: label_map differs from the other files' "
                        f"({', '.join(part.label_map)} vs {', '.join(spec.classes or ())})"
                    )
            order = [s for s in ("train", "valid", "test") if s in parts]
            sizes = [parts[s].n for s in order]
            offsets = dict(zip(order, np.cumsum([0, *sizes[:-1]]).tolist(), strict=True))
            n = sum(sizes)
            x = np.zeros((n, max(parts[s].width for s in order), FEATURES), dtype=np.float32)
            lengths = np.zeros(n, dtype=np.int64)
            y = np.full(n, np.nan)
            mask = np.zeros(n, dtype=bool)
            ids = []
            for s in order:
                p, o = parts[s], offsets[s]
                p.fill(x[o : o + p.n])
                lengths[o : o + p.n] = p.lengths
                if p.targets is not None:
                    y[o : o + p.n] = p.targets
                    mask[o : o + p.n] = True
                ids += [f"{s}-{i:06d}" for i in range(p.n)]
        finally:
            for part in parts.values():
                part.close()
        rows = {
            s: np.arange(offsets[s], offsets[s] + size)
            for s, size in zip(order, sizes, strict=True)
        }
        fraction = options.get("val_fraction")
        if fraction is None and "valid" in rows:
            train, val = rows["train"], rows["valid"]
        else:
            pool = np.concatenate([rows["train"], rows.get("valid", np.zeros(0, np.int64))])
            chosen = carve_stratified(
                y[pool].astype(np.int64),
                0.1 if fraction is None else fraction,
                options.get("split_seed", 0),
            )
            train, val = pool[~chosen], pool[chosen]
        counts = np.bincount(y[train].astype(np.int64), minlength=k)
        if not counts.all():
            empty = int(np.flatnonzero(counts == 0)[0])
            raise UserError(
                f"class {empty} ('{spec.classes[empty]}') has no training track in "
                f"{files['train'][0]}; check -o classes"
            )
        return MultiTaskData(
            inputs=SequenceInputs(x, lengths),
            tasks=[spec],
            targets={"genre": y},
            masks={"genre": mask},
            splits={"train": train, "val": val, "test": rows.get("test", np.zeros(0, np.int64))},
            ids=np.asarray(ids),
            provenance={
                "root": str(root),
                "files": {s: [str(p) for p in v] for s, v in files.items()},
                "options": dict(options),
                "test_labels": bool("test" in rows and mask[rows["test"]].all()),
            },
        )
