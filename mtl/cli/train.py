"""``mtl train``: train a multi-task model and write a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mtl.cli.common import THREADS_HELP, reports_errors

P_DATA = "Data and tasks"
P_MODEL = "Model"
P_OPT = "Optimisation"
P_RUN = "Run"
P_TRANSFER = "Transfer learning"
P_SEQ = "Encoders, auxiliary tasks, snippets"
P_BAL = "Task balancing"


@reports_errors
def train(
    dataset: Annotated[
        str | None,
        typer.Option(
            help="Dataset name (see 'mtl plugins'). \\[default: synthetic]", rich_help_panel=P_DATA
        ),
    ] = None,
    tasks: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated task names, e.g. pop,pop_rock,ballad. \\[default: the dataset's]",
            rich_help_panel=P_DATA,
        ),
    ] = None,
    dataset_option: Annotated[
        list[str] | None,
        typer.Option(
            "-o",
            "--dataset-option",
            help="Dataset option KEY=VALUE (repeatable), e.g. -o n=20000.",
            rich_help_panel=P_DATA,
        ),
    ] = None,
    train_size: Annotated[
        int | None,
        typer.Option(
            help="Train on a deterministic subset of N training examples (nested across N for one seed).",
            rich_help_panel=P_DATA,
        ),
    ] = None,
    whiten: Annotated[
        bool | None,
        typer.Option(
            "--whiten/--no-whiten",
            help="Standardise inputs to zero mean, unit variance with training statistics, as the founding study (sparse-safe; hurts small training sets). \\[default: no-whiten]",
            rich_help_panel=P_DATA,
        ),
    ] = None,
    arch: Annotated[
        str | None,
        typer.Option(
            help="Architecture: none, low, high, interspersed, an S/T pattern such as STST, or mmoe, omoe, cgc, ple, dselect-k, ... (see 'mtl plugins'). \\[default: low]",
            rich_help_panel=P_MODEL,
        ),
    ] = None,
    arch_option: Annotated[
        list[str] | None,
        typer.Option(
            "-a",
            "--arch-option",
            help="Architecture option KEY=VALUE (repeatable, each key once), e.g. -a experts=6 (mmoe); 'mtl plugins show ARCH' lists them.",
            rich_help_panel=P_MODEL,
        ),
    ] = None,
    widths: Annotated[
        str | None,
        typer.Option(
            help="Hidden layer widths. \\[default: 1024,512,256,128]", rich_help_panel=P_MODEL
        ),
    ] = None,
    dropout: Annotated[
        str | None,
        typer.Option(
            help="One rate (placed after the last two hidden layers, as the founding study) or one rate per layer. \\[default: 0.5]",
            rich_help_panel=P_MODEL,
        ),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(help="Maximum epochs. \\[default: 20]", rich_help_panel=P_OPT)
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Batch size. \\[default: 128]", rich_help_panel=P_OPT)
    ] = None,
    optimizer: Annotated[
        str | None,
        typer.Option(
            help="adagrad, adam, sgd (momentum 0.9) or adadelta. \\[default: adagrad]",
            rich_help_panel=P_OPT,
        ),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            help="Learning rate. \\[default: adagrad 0.01, adam 0.001, sgd 0.01, adadelta 1.0]",
            rich_help_panel=P_OPT,
        ),
    ] = None,
    weight_decay: Annotated[
        float | None, typer.Option(help="L2 weight decay. \\[default: 0]", rich_help_panel=P_OPT)
    ] = None,
    clip_grad_norm: Annotated[
        float | None,
        typer.Option(
            help="Rescale each step's gradient to at most this L2 norm (over all trained parameters); steadies recurrent encoders. \\[default: off]",
            rich_help_panel=P_OPT,
        ),
    ] = None,
    lr_schedule: Annotated[
        str | None,
        typer.Option(
            help="Learning-rate schedule: constant, cosine (per step, near 0 by the last step), step (x --lr-gamma every --lr-step-size epochs) or plateau (x --lr-gamma after --lr-patience epochs without validation improvement). \\[default: constant]",
            rich_help_panel=P_OPT,
        ),
    ] = None,
    warmup_epochs: Annotated[
        int | None,
        typer.Option(
            help="Linear learning-rate warm-up over the first N epochs, per step. \\[default: 0]",
            rich_help_panel=P_OPT,
        ),
    ] = None,
    lr_step_size: Annotated[
        int | None,
        typer.Option(
            help="Epochs between cuts of --lr-schedule step. \\[default: 10]",
            rich_help_panel=P_OPT,
        ),
    ] = None,
    lr_gamma: Annotated[
        float | None,
        typer.Option(
            help="Factor of each cut of --lr-schedule step or plateau. \\[default: 0.1]",
            rich_help_panel=P_OPT,
        ),
    ] = None,
    lr_patience: Annotated[
        int | None,
        typer.Option(
            help="Epochs without validation improvement before --lr-schedule plateau cuts. \\[default: 3]",
            rich_help_panel=P_OPT,
        ),
    ] = None,
    accumulate: Annotated[
        int | None,
        typer.Option(
            help="Accumulate gradients of N micro-batches of --batch-size per optimiser step (= a batch N times larger; --weighting ew or fixed). \\[default: 1]",
            rich_help_panel=P_OPT,
        ),
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            help="32, bf16 (autocast) or fp16 (autocast + loss scaling; ew or fixed) for the training forward; evaluation is float32. \\[default: 32]",
            rich_help_panel=P_OPT,
        ),
    ] = None,
    patience: Annotated[
        int | None,
        typer.Option(
            help="Stop after N epochs without validation improvement. \\[default: off]",
            rich_help_panel=P_OPT,
        ),
    ] = None,
    select_by: Annotated[
        str | None,
        typer.Option(
            help="Validation metric that selects the best epoch, TASK:METRIC. \\[default: first task's primary metric]",
            rich_help_panel=P_OPT,
        ),
    ] = None,
    init_from: Annotated[
        Path | None,
        typer.Option(
            help="Initialise from another run's selected checkpoint (weights matched by name and shape).",
            rich_help_panel=P_TRANSFER,
        ),
    ] = None,
    init_part: Annotated[
        str | None,
        typer.Option(
            help="What --init-from loads: encoder (the 'encoder' submodule) or all (every weight of the same name and shape). \\[default: encoder]",
            rich_help_panel=P_TRANSFER,
        ),
    ] = None,
    freeze: Annotated[
        str | None,
        typer.Option(
            help="Keep loaded weights fixed: encoder, all-but-heads (everything but the task output layers) or none. \\[default: none]",
            rich_help_panel=P_TRANSFER,
        ),
    ] = None,
    encoder: Annotated[
        str | None,
        typer.Option(
            help="What reads the inputs below the sharing layers: mlp (dense/sparse inputs), lstm, cnn1d or cnn2d (sequences); see 'mtl plugins'. \\[default: mlp]",
            rich_help_panel=P_SEQ,
        ),
    ] = None,
    encoder_option: Annotated[
        list[str] | None,
        typer.Option(
            "-e",
            "--encoder-option",
            help="Encoder option KEY=VALUE (repeatable), e.g. -e hidden=128 -e bidirectional=true (lstm), -e channels=32,64,128,256 (cnn2d).",
            rich_help_panel=P_SEQ,
        ),
    ] = None,
    encoder_sharing: Annotated[
        str | None,
        typer.Option(
            help="shared: one encoder for all tasks; per-task: one encoder per task. \\[default: shared]",
            rich_help_panel=P_SEQ,
        ),
    ] = None,
    aux: Annotated[
        str | None,
        typer.Option(
            help="Auxiliary tasks, comma-separated: one-vs-rest (a binary task per class of each multiclass task), autoencode (reconstruct the input summary). Reported apart; never select the epoch.",
            rich_help_panel=P_SEQ,
        ),
    ] = None,
    aux_weight: Annotated[
        float | None,
        typer.Option(
            help="Loss weight α of the auxiliary tasks. \\[default: 1.0]", rich_help_panel=P_SEQ
        ),
    ] = None,
    task_weight: Annotated[
        list[str] | None,
        typer.Option(
            help="Loss weight of one task, NAME=W (repeatable), main or auxiliary, e.g. --task-weight genre=2.",
            rich_help_panel=P_SEQ,
        ),
    ] = None,
    stabilise: Annotated[
        float | None,
        typer.Option(
            "--stabilise",
            "--activation-stabilisation",
            help="Activation stabilisation weight β for recurrent encoders: penalises the squared change of hidden-state norms between consecutive real steps. \\[default: 0]",
            rich_help_panel=P_SEQ,
        ),
    ] = None,
    snippets: Annotated[
        int | None,
        typer.Option(
            help="Split each sequence into K consecutive snippets read by one shared model; members are combined by --combine. \\[default: 1]",
            rich_help_panel=P_SEQ,
        ),
    ] = None,
    combine: Annotated[
        str | None,
        typer.Option(
            help="How snippet members' posteriors combine: max-mean, max-product or learned (weights trained). \\[default: max-mean]",
            rich_help_panel=P_SEQ,
        ),
    ] = None,
    batch_order: Annotated[
        str | None,
        typer.Option(
            help="random, or bucketed: batches of sequences of similar length (less padding). \\[default: random]",
            rich_help_panel=P_SEQ,
        ),
    ] = None,
    weighting: Annotated[
        str | None,
        typer.Option(
            help="How task losses are balanced: ew (sum of losses), fixed, uw, pcgrad, ... (see 'mtl plugins'). \\[default: ew]",
            rich_help_panel=P_BAL,
        ),
    ] = None,
    weighting_option: Annotated[
        list[str] | None,
        typer.Option(
            "-w",
            "--weighting-option",
            help="Weighting option KEY=VALUE (repeatable), e.g. -w weights=1,0.5,2 (fixed).",
            rich_help_panel=P_BAL,
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Training seed. \\[default: 0]", rich_help_panel=P_RUN)
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="auto, cpu or cuda. \\[default: auto]", rich_help_panel=P_RUN)
    ] = None,
    run_dir: Annotated[
        Path | None,
        typer.Option(
            help="Run directory. \\[default: runs/<dataset>-<arch>-<time>]", rich_help_panel=P_RUN
        ),
    ] = None,
    report: Annotated[
        str | None,
        typer.Option(
            help="Reporters, comma-separated: console, plots, ... (jsonl is always on). \\[default: console]",
            rich_help_panel=P_RUN,
        ),
    ] = None,
    log_format: Annotated[
        str | None,
        typer.Option(
            help="Console output: rich (progress bar), plain (one line per epoch, for logs) or json (one object per line). \\[default: rich on a terminal, plain otherwise]",
            rich_help_panel=P_RUN,
        ),
    ] = None,
    threads: Annotated[str | None, typer.Option(help=THREADS_HELP, rich_help_panel=P_RUN)] = None,
    keep_checkpoints: Annotated[
        str | None,
        typer.Option(
            help="What a finished run keeps: best (best.pt only; it cannot be extended), last (also last.pt: --resume --epochs N extends it) or all (also last.prev.pt). Unfinished runs keep everything. \\[default: best]",
            rich_help_panel=P_RUN,
        ),
    ] = None,
    mlflow_uri: Annotated[
        str | None,
        typer.Option(
            help="MLflow tracking store of the mlflow reporter (--report mlflow), e.g. sqlite:///mlflow.db or http://host:5000. \\[default: $MLFLOW_TRACKING_URI, else RUN_DIR/mlflow.db]",
            rich_help_panel=P_RUN,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="TOML file with the same keys as these flags; flags override it.",
            rich_help_panel=P_RUN,
        ),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="Continue an interrupted run from its directory; 'auto' continues --run-dir "
            "when it holds a checkpoint and starts it otherwise (what SLURM templates use).",
            rich_help_panel=P_RUN,
        ),
    ] = None,
) -> None:
    """Train a multi-task model; validation selects the epoch, test is scored once.

    Example: mtl train --dataset synthetic --arch low --tasks pop,pop_rock,ballad --epochs 20

    Distributed: torchrun --standalone --nproc-per-node 4 -m mtl train ... (or srun with
    one task per GPU); --batch-size is per rank, the global batch is that times the ranks.
    """
    from mtl.cli.train_run import run_training

    flags = {
        "dataset": dataset,
        "tasks": tasks,
        "dataset_options": dataset_option or None,
        "train_size": train_size,
        "whiten": whiten,
        "arch": arch,
        "arch_options": arch_option or None,
        "widths": widths,
        "dropout": dropout,
        "epochs": epochs,
        "batch_size": batch_size,
        "optimizer": optimizer,
        "lr": lr,
        "weight_decay": weight_decay,
        "clip_grad_norm": clip_grad_norm,
        "lr_schedule": lr_schedule,
        "warmup_epochs": warmup_epochs,
        "lr_step_size": lr_step_size,
        "lr_gamma": lr_gamma,
        "lr_patience": lr_patience,
        "accumulate": accumulate,
        "precision": precision,
        "patience": patience,
        "select_by": select_by,
        "seed": seed,
        "device": device,
        "run_dir": str(run_dir) if run_dir else None,
        "report": report,
        "init_from": str(init_from) if init_from else None,
        "init_part": init_part,
        "freeze": freeze,
        "encoder": encoder,
        "encoder_options": encoder_option or None,
        "encoder_sharing": encoder_sharing,
        "aux": aux,
        "aux_weight": aux_weight,
        "task_weights": task_weight or None,
        "stabilise": stabilise,
        "snippets": snippets,
        "combine": combine,
        "batch_order": batch_order,
        "log_format": log_format,
        "mlflow_uri": mlflow_uri,
        "threads": threads,
        "keep_checkpoints": keep_checkpoints,
        "weighting": weighting,
        "weighting_options": weighting_option or None,
    }
    run_training(config, flags, resume)
