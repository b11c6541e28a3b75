"""Assembling a run from a configuration: dataset, tasks, architecture, model.

Every name is resolved and every option checked before any data is loaded, so a
mistake costs nothing and leaves nothing on disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from mtl.core.architecture import Architecture, ModelSpec, resolve_architecture
from mtl.core.auxiliary import add_auxiliary_tasks
from mtl.core.balancing import build_weighting
from mtl.core.config import TrainConfig
from mtl.core.data import MultiTaskData, TaskSpec
from mtl.core.dataset import Dataset
from mtl.core.encoded import EncodedModel, PerTaskEncoder
from mtl.core.encoder import Encoder, EncoderSpec
from mtl.core.errors import UserError
from mtl.core.options import resolve_options
from mtl.core.plugins import Plugins
from mtl.core.registry import did_you_mean, unknown_name_message, unknown_task_message
from mtl.core.task_type import TaskType
from mtl.core.threads import use_threads
from mtl.core.training_options import check_training_options
from mtl.core.weighting import Weighting


@dataclass
class Selection:
    """The validation metric that picks the best epoch."""

    task: str
    metric: str
    higher_is_better: bool

    def __str__(self) -> str:
        return f"{self.task}:{self.metric} ({'higher' if self.higher_is_better else 'lower'} is better)"

    def better(self, value: float, best: float | None) -> bool:
        if value is None or not np.isfinite(value):
            return False
        if best is None:
            return True
        return value > best if self.higher_is_better else value < best


@dataclass
class Experiment:
    config: TrainConfig
    plugins: Plugins
    dataset: Dataset
    options: dict[str, Any]
    data: MultiTaskData
    task_types: list[TaskType]
    stats: list[dict[str, float]]
    model_spec: ModelSpec
    model: nn.Module
    device: torch.device
    selection: Selection
    encoder_options: dict[str, Any] = field(default_factory=dict)
    aux_tasks: list[str] = field(default_factory=list)
    task_weights: list[float] | None = None
    weighting: Weighting | None = None
    weighting_options: dict[str, Any] = field(default_factory=dict)
    arch_options: dict[str, Any] = field(default_factory=dict)

    @property
    def specs(self) -> list[TaskSpec]:
        """Every trained task: the main tasks, then the auxiliary ones."""
        return self.data.tasks

    @property
    def main_task_names(self) -> list[str]:
        return [s.name for s in self.data.tasks if s.name not in self.aux_tasks]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError(
            "--device cuda was asked for but no CUDA GPU is available; use --device cpu"
        )
    return torch.device(name)


def tasks_command(dataset: Any, options: dict[str, Any]) -> str:
    """The dataset's ``tasks_command`` with its ``{option}`` fields filled in ('' if none)."""
    try:
        return str(getattr(dataset, "tasks_command", "") or "").format(**options)
    except (KeyError, IndexError, ValueError):
        return ""


def resolve_tasks(
    dataset_name: str, offered: list[TaskSpec], wanted: list[str], list_command: str = ""
) -> list[TaskSpec]:
    """The specs of ``wanted``; an unknown name is an error that names ``list_command``
    (where to see every task) when the dataset offers many."""
    by_name = {t.name: t for t in offered}
    if not wanted:
        raise UserError(f"no tasks given; pass --tasks, e.g. --tasks {','.join(list(by_name)[:3])}")
    if len(set(wanted)) != len(wanted):
        raise UserError(f"--tasks names a task twice: {','.join(wanted)}")
    for name in wanted:
        if name not in by_name:
            raise UserError(unknown_task_message(dataset_name, name, list(by_name), list_command))
    return [by_name[n] for n in wanted]


def resolve_selection(
    config: TrainConfig, specs: list[TaskSpec], types: list[TaskType]
) -> Selection:
    if config.select_by is None:
        return Selection(specs[0].name, types[0].primary, types[0].direction(types[0].primary))
    task, _, metric = config.select_by.partition(":")
    names = [s.name for s in specs]
    if task not in names:
        raise UserError(
            f"--select-by names task '{task}', which is not among --tasks ({', '.join(names)})"
        )
    tt = types[names.index(task)]
    valid = [m.name for m in tt.metrics]
    if metric not in valid:
        raise UserError(unknown_name_message(f"metric for task '{task}'", metric, valid))
    return Selection(task, metric, tt.direction(metric))


def train_subset(train: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    """A deterministic subset of ``size`` training rows; subsets of one seed are nested."""
    if size is None:
        return train
    if size > len(train):
        raise UserError(
            f"--train-size {size} is larger than the training split ({len(train)} examples)"
        )
    order = np.random.default_rng(seed).permutation(len(train))
    return np.sort(train[order[:size]])


def prepare(
    config: TrainConfig, plugins: Plugins, stats: list[dict[str, float]] | None = None
) -> Experiment:
    """Resolve names, load data and build the (untrained) model for ``config``."""
    use_threads(config.threads)  # before any torch work
    if config.combine == "learned" and config.snippets < 2:
        raise UserError(
            "--combine learned learns weights over snippet members; it needs --snippets 2 "
            "or more (with one snippet there is nothing to combine)"
        )
    reg = plugins.registries
    dataset: Dataset = reg.datasets.get(config.dataset)
    options = resolve_options(
        dataset.options, config.dataset_options, f"dataset '{config.dataset}'"
    )
    options = dataset.resolve(options)
    arch: Architecture = reg.architectures.get(config.arch)
    encoder: Encoder = reg.encoders.get(config.encoder)
    encoder_options = resolve_options(
        encoder.options, config.encoder_options, f"encoder '{config.encoder}'"
    )
    if config.stabilise > 0 and not encoder.recurrent:
        raise UserError(
            f"--stabilise (activation stabilisation) applies to recurrent encoders such as "
            f"lstm; encoder '{config.encoder}' is not recurrent"
        )
    for name in config.report:
        reg.reporters.get(name)
    reg.weightings.get(config.weighting)  # an unknown method fails before data is loaded
    device = resolve_device(config.device)
    wanted = config.tasks or list(dataset.default_tasks)
    specs = resolve_tasks(
        config.dataset, dataset.offered_tasks(options), wanted, tasks_command(dataset, options)
    )
    types: list[TaskType] = [reg.task_types.get(s.kind) for s in specs]
    selection = resolve_selection(config, specs, types)
    dropout = config.layer_dropout()
    # a spec the architecture cannot build fails here, before any data is loaded
    arch_options = resolve_architecture(
        arch,
        config.arch,
        config.arch_options,
        [s.name for s in specs],
        config.widths,
        dropout,
        streams=len(specs) if config.encoder_sharing == "per-task" else 1,
    )

    data = dataset.load(options, [s.name for s in specs]).select([s.name for s in specs])
    if len(data.splits["train"]) == 0:
        raise UserError(f"dataset '{config.dataset}' has an empty training split")
    data = data.with_train_subset(
        train_subset(data.splits["train"], config.train_size, config.seed)
    )
    train = data.splits["train"]
    check_encoder_input(config, encoder, data)
    main_names = [s.name for s in specs]
    data, aux_names = add_auxiliary_tasks(data, config.aux)
    specs = list(data.tasks)
    types = types + [reg.task_types.get(s.kind) for s in specs[len(types) :]]
    weights = task_weights(config, main_names, aux_names)

    fitted = []
    for spec, tt in zip(specs, types, strict=True):
        y, m = data.targets[spec.name], data.masks[spec.name]
        problem = tt.validate(spec, y[m])
        if problem:
            raise UserError(f"task '{spec.name}' of dataset '{config.dataset}': {problem}")
        labelled = train[m[train]]
        if len(labelled) == 0:
            raise UserError(
                f"task '{spec.name}' has no labelled example in the training split; "
                "drop it from --tasks or use more training data"
            )
        fitted.append(tt.fit(spec, y[labelled]))

    mean = std = None
    if config.whiten:
        mean, std = data.inputs.column_stats(train)
    model_spec = ModelSpec(
        input_kind=data.inputs.kind,
        input_dim=data.inputs.dim,
        task_names=[s.name for s in specs],
        output_dims=[tt.output_dim(s) for s, tt in zip(specs, types, strict=True)],
        widths=list(config.widths),
        dropout=dropout,
        input_mean=mean,
        input_std=std,
        options=arch_options,
    )
    torch.manual_seed(config.seed)
    enc_spec = EncoderSpec(
        data.inputs.kind, data.inputs.dim, encoder_options, mean, std, config.stabilise
    )
    try:
        model = build_model(config, arch, encoder, enc_spec, model_spec, specs).to(device)
    except (torch.OutOfMemoryError, MemoryError, RuntimeError) as exc:
        if not isinstance(exc, MemoryError) and "alloc" not in str(exc).lower():
            raise
        widths = ",".join(map(str, config.widths))
        raise UserError(
            f"the model does not fit in memory on {device} (input dimension "
            f"{data.inputs.dim}, --widths {widths}); lower --widths or the input dimension"
        ) from None
    weighting, weighting_options = build_weighting(
        config.weighting,
        config.weighting_options,
        reg.weightings,
        [s.name for s in specs],
        model,
        config.arch,
        config.seed,
    )
    check_training_options(config, weighting.static_weights() is not None, device)
    return Experiment(
        config=config,
        plugins=plugins,
        dataset=dataset,
        options=options,
        data=data,
        task_types=types,
        stats=stats if stats is not None else fitted,
        model_spec=model_spec,
        model=model,
        device=device,
        selection=selection,
        encoder_options=encoder_options,
        aux_tasks=aux_names,
        task_weights=weights,
        weighting=weighting.to(device),
        weighting_options=weighting_options,
        arch_options=arch_options,
    )


def check_encoder_input(config: TrainConfig, encoder: Encoder, data: MultiTaskData) -> None:
    kind = data.inputs.kind
    if kind not in encoder.input_kinds:
        if kind == "sequence":
            fix = "choose a sequence encoder, e.g. --encoder lstm (or cnn1d, cnn2d)"
        else:
            fix = "use --encoder mlp (the default) for dense or sparse inputs"
        raise UserError(
            f"dataset '{config.dataset}' gives {kind} inputs, which encoder "
            f"'{config.encoder}' does not read ({', '.join(encoder.input_kinds)}); {fix}"
        )
    if config.snippets > 1:
        if kind != "sequence":
            raise UserError(
                f"--snippets needs sequence inputs; dataset '{config.dataset}' gives {kind} inputs"
            )
        shortest = int(data.inputs.lengths.min())
        if shortest < config.snippets:
            raise UserError(
                f"--snippets {config.snippets} needs every sequence to have at least "
                f"{config.snippets} steps; the shortest of dataset '{config.dataset}' has "
                f"{shortest}; use fewer snippets"
            )


def task_weights(config: TrainConfig, main: list[str], aux: list[str]) -> list[float]:
    """Loss weight per task: 1 for main tasks, α (``--aux-weight``) for auxiliary ones,
    ``--task-weight NAME=W`` overriding either."""
    names = main + aux
    for name in config.task_weights:
        if name not in names:
            raise UserError(
                f"--task-weight names task '{name}', which is not trained"
                f"{did_you_mean(name, names)}; trained tasks: {', '.join(names)}"
            )
    default = {**dict.fromkeys(main, 1.0), **dict.fromkeys(aux, config.aux_weight)}
    return [float(config.task_weights.get(n, default[n])) for n in names]


def build_model(
    config: TrainConfig,
    arch: Architecture,
    encoder: Encoder,
    enc_spec: EncoderSpec,
    model_spec: ModelSpec,
    specs: list[TaskSpec],
) -> nn.Module:
    """The architecture alone (``mlp``), or an encoder (shared or per task) under it."""
    levels = feature_levels(config, arch, encoder, enc_spec)
    first = encoder.build(enc_spec)
    if first is None:
        if config.encoder_sharing != "shared":
            raise UserError(
                f"--encoder-sharing per-task needs an encoder that builds layers "
                f"(lstm, cnn1d, cnn2d); encoder '{config.encoder}' has none"
            )
        model_spec.features = levels
        return arch.build(model_spec)
    if config.encoder_sharing == "per-task":
        module: nn.Module = PerTaskEncoder(
            [first] + [encoder.build(enc_spec) for _ in range(len(specs) - 1)]
        )
    else:
        module = first
    body_spec = ModelSpec(
        input_kind="dense",
        input_dim=encoder.output_dim(enc_spec),
        task_names=model_spec.task_names,
        output_dims=model_spec.output_dims,
        widths=model_spec.widths,
        dropout=model_spec.dropout,
        options=model_spec.options,
        streams=len(specs) if config.encoder_sharing == "per-task" else 1,
        features=levels,
    )
    return EncodedModel(
        module,
        arch.build(body_spec),
        [s.kind for s in specs],
        config.snippets,
        config.combine,
        features=arch.needs_features,
    )


def feature_levels(
    config: TrainConfig, arch: Architecture, encoder: Encoder, enc_spec: EncoderSpec
) -> list[int] | None:
    """The encoder's feature widths (:mod:`mtl.core.features`); an architecture that needs
    them and cannot have them is refused here, before anything is written."""
    levels = encoder.feature_dims(enc_spec)
    if not arch.needs_features:
        return levels
    if levels is None:
        raise UserError(
            f"architecture '{config.arch}' needs the encoder's intermediate features, but "
            f"encoder '{config.encoder}' exposes none; choose one that does (lstm, cnn1d, "
            "cnn2d, or mlp for dense and sparse inputs)"
        )
    if config.encoder_sharing != "shared":
        raise UserError(
            f"architecture '{config.arch}' reads the features of one shared encoder; "
            "drop --encoder-sharing per-task"
        )
    return levels
