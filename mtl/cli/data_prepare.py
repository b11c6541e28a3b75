"""``mtl data prepare``: build a dataset file from its published files (with progress)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from mtl.cli.common import err, out, reports_errors

prepare_app = typer.Typer(help="Build a dataset file from published files.", no_args_is_help=True)
SPLIT_NAMES = ("train", "val", "test")


def print_json(value: Any) -> None:
    from mtl.core.runs import dumps

    out.print(dumps(value), markup=False, soft_wrap=True)


class RichProgress:
    """One rich progress display (terminals only, cleared at the end); a task per stage; throttled."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=err,
            refresh_per_second=10,
            transient=True,
            disable=not err.is_terminal,
        )
        self.task: Any = None
        self.pending = 0.0
        self.last = 0.0

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._flush()
        self.progress.stop()

    def _flush(self) -> None:
        if self.task is not None and self.pending:
            self.progress.advance(self.task, self.pending)
            self.pending = 0.0

    def stage(self, name: str, total: float | None = None) -> None:
        self._flush()
        if self.task is not None:
            t = self.progress.tasks[-1]
            self.progress.update(
                self.task,
                total=t.completed if t.total is None else t.total,
                completed=t.total or t.completed,
            )
        self.task = self.progress.add_task(name, total=total)

    def advance(self, amount: float = 1) -> None:
        self.pending += amount
        now = time.monotonic()
        if now - self.last > 0.1:
            self.last = now
            self._flush()


@prepare_app.command("msd")
@reports_errors
def prepare_msd(
    mxm: Annotated[
        list[Path] | None,
        typer.Option(
            help="musiXmatch text file (repeat for train and test; a name containing 'test' is the test split)."
        ),
    ] = None,
    mxm_db: Annotated[
        Path | None, typer.Option(help="musiXmatch mxm_dataset.db instead of the text files.")
    ] = None,
    msd: Annotated[
        Path | None,
        typer.Option(
            help="MSD per-track HDF5 tree (data/A/B/C/TR….h5, full set or subset) or one aggregate/summary .h5 file."
        ),
    ] = None,
    artist_term_db: Annotated[
        Path | None,
        typer.Option(
            help="artist_term.db: artist terms and MusicBrainz tags (needed with the summary file)."
        ),
    ] = None,
    track_metadata_db: Annotated[
        Path | None,
        typer.Option(
            help="track_metadata.db: fills missing year, duration, familiarity, hotttnesss."
        ),
    ] = None,
    genre_cls: Annotated[
        Path | None,
        typer.Option(help="tagtraum/MAGD .cls genre file: adds the multiclass task 'genre'."),
    ] = None,
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Output file (default: where 'mtl train --dataset msd' looks: $MTL_MSD, else $MTL_DATA/msd.h5, else ~/.cache/mtl/msd.h5).",
            show_default=False,
        ),
    ] = None,
    lastfm_db: Annotated[
        Path | None,
        typer.Option(
            help="lastfm_tags.db: Last.fm track tags as binary tasks (named lastfm_<tag>)."
        ),
    ] = None,
    tags_top: Annotated[
        int, typer.Option(help="Artist terms kept as binary tasks, most frequent first.", min=0)
    ] = 2000,
    min_tag_count: Annotated[
        int, typer.Option(help="Keep only terms of at least this many tracks.", min=1)
    ] = 1,
    mbtags_top: Annotated[
        int, typer.Option(help="MusicBrainz tags kept as binary tasks (named mb_<tag>).", min=0)
    ] = 200,
    lastfm_top: Annotated[
        int, typer.Option(help="Last.fm tags kept as binary tasks, most frequent first.", min=0)
    ] = 200,
    lastfm_min_val: Annotated[
        float,
        typer.Option(
            help="Count a Last.fm tag only with at least this strength (0-100).", min=0, max=100
        ),
    ] = 0.0,
    val_fraction: Annotated[
        float,
        typer.Option(
            help="Fraction of train moved to the artist-disjoint validation split.", min=0, max=0.5
        ),
    ] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of the validation carving.", min=0)] = 0,
    workers: Annotated[
        int, typer.Option(help="Processes reading HDF5 files; 0: one per CPU.", min=0)
    ] = 0,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail on the first bad input instead of skipping it.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Combine musiXmatch lyrics with MSD attributes and tags into one HDF5 file.

    Example: mtl data prepare msd --mxm mxm_dataset_train.txt --mxm mxm_dataset_test.txt
    --msd /data/MillionSong --out ~/data/msd.h5
    """
    from mtl.plugins.datasets.msd.location import default_path
    from mtl.plugins.datasets.msd.prepare import PrepareOptions
    from mtl.plugins.datasets.msd.prepare import prepare_msd as run

    opts = PrepareOptions(
        out=out_path or default_path(),
        mxm=list(mxm or []),
        mxm_db=mxm_db,
        msd=msd,
        artist_term_db=artist_term_db,
        track_metadata_db=track_metadata_db,
        genre_cls=genre_cls,
        lastfm_db=lastfm_db,
        lastfm_top=lastfm_top,
        lastfm_min_val=lastfm_min_val,
        tags_top=tags_top,
        min_tag_count=min_tag_count,
        mbtags_top=mbtags_top,
        val_fraction=val_fraction,
        seed=seed,
        workers=workers,
        strict=strict,
    )
    with RichProgress() as progress:
        summary = run(opts, progress)
    if as_json:
        print_json({"out": str(opts.out), **summary})
        return
    table = Table(title=f"wrote {escape(str(opts.out))}", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("tracks with lyrics", f"{summary['lyrics_tracks']:,}")
    table.add_row("kept (lyrics and MSD record)", f"{summary['kept']:,}")
    table.add_row("lyrics without MSD record (left out)", f"{summary['lyrics_without_msd']:,}")
    table.add_row("MSD records without lyrics (left out)", f"{summary['msd_without_lyrics']:,}")
    for s in SPLIT_NAMES:
        table.add_row(f"  {s}", f"{summary['splits'][s]:,}")
    table.add_row("vocabulary / non-zeros", f"{summary['vocabulary']:,} / {summary['nonzeros']:,}")
    table.add_row("tasks", f"{summary['tasks']:,}")
    for kind, n in sorted(summary["skipped"]["counts"].items()):
        table.add_row(f"skipped: {escape(kind)}", f"{n:,}")
    out.print(table)
    for kind, examples in summary["skipped"]["examples"].items():
        for line in examples:
            err.print(f"[yellow]skipped[/] ({escape(kind)}): {escape(line)}")
