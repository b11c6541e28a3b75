"""The ``msd`` dataset: musiXmatch bag-of-words → MSD attributes and tags, from a prepared file."""

from __future__ import annotations

from typing import Any

import numpy as np

from mtl.core.data import MultiTaskData, SparseInputs, TaskSpec
from mtl.core.dataset import Dataset
from mtl.core.errors import UserError
from mtl.core.options import Option
from mtl.plugins.datasets.msd.location import ENV_DIR, ENV_FILE, resolve_path
from mtl.plugins.datasets.msd.splits import NAMES, TRAIN, VAL, carve_validation
from mtl.plugins.datasets.msd.transforms import TRANSFORMS, transform_counts


class MsdDataset(Dataset):
    description = (
        "musiXmatch lyrics (bag-of-words) → MSD attributes and tags (mtl data prepare msd)"
    )
    tasks_command = "mtl data tasks {path}"  # labelled counts and positives of every task
    options = (
        Option(
            "path",
            str,
            None,
            f"prepared file [default: ${ENV_FILE}, else ${ENV_DIR}/msd.h5, else ~/.cache/mtl/msd.h5]",
        ),
        Option("input", str, "counts", "bag-of-words transform", choices=TRANSFORMS),
        Option(
            "val_fraction",
            float,
            None,
            "carve a new artist-disjoint validation split of this fraction of train [default: the file's]",
            min=0,
            max=0.5,
        ),
        Option("split_seed", int, 0, "seed of the validation carving with val_fraction", min=0),
        Option("complete_cases", bool, False, "keep only tracks labelled for every chosen task"),
    )
    default_tasks = ("pop", "pop_rock", "ballad")

    def __init__(self) -> None:
        self._specs: dict[tuple[str, float], list[TaskSpec]] = {}

    def resolve(self, options: dict[str, Any]) -> dict[str, Any]:
        return {**options, "path": str(resolve_path(options.get("path")))}

    def offered_tasks(self, options: dict[str, Any]) -> list[TaskSpec]:
        from mtl.plugins.datasets.msd.store import PreparedFile

        path = resolve_path(options.get("path"))
        key = (str(path), path.stat().st_mtime if path.is_file() else 0.0)
        if key not in self._specs:
            with PreparedFile(path) as f:
                self._specs[key] = f.task_specs()
        return list(self._specs[key])

    def load(self, options: dict[str, Any], tasks: list[str]) -> MultiTaskData:
        from mtl.plugins.datasets.msd.store import PreparedFile

        path = resolve_path(options.get("path"))
        with PreparedFile(path) as f:
            specs = {s.name: s for s in f.task_specs()}
            split = f.split()
            if options.get("val_fraction") is not None:
                split = carve_validation(
                    split, f.artist_ids(), options["val_fraction"], options["split_seed"]
                )
            indptr, indices, counts = f.bow(np.int64)  # the dtype SparseInputs keeps: no copy
            dim = f.dim
            labels = f.labels(tasks)
            ids = f.msd_ids()
            provenance = {
                "file": str(path),
                "created": f.f.attrs.get("created", ""),
                "prepared": f.provenance(),
            }
        splits = {NAMES[s]: np.flatnonzero(split == s) for s in NAMES}
        if options.get("complete_cases"):
            complete = np.logical_and.reduce([labels[t][1] for t in tasks])
            splits = {k: v[complete[v]] for k, v in splits.items()}
            if not len(splits["train"]):
                raise UserError(
                    f"no training track is labelled for all of {', '.join(tasks)}; drop -o complete_cases"
                )
        train = splits["train"]
        values = transform_counts(
            options.get("input", "counts"), indptr, indices, counts, dim, train
        )
        inputs = SparseInputs(indptr, indices, values, dim)
        del indices, counts, values
        return MultiTaskData(
            inputs=inputs,
            tasks=[specs[t] for t in tasks],
            targets={t: labels[t][0] for t in tasks},
            masks={t: labels[t][1] for t in tasks},
            splits=splits,
            ids=ids,
            provenance={
                **provenance,
                "options": dict(options),
                "train": int((split == TRAIN).sum()),
                "val": int((split == VAL).sum()),
            },
        )
