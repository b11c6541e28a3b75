"""``mtl data``: prepare a dataset from its published files, and inspect a prepared file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from mtl.cli.common import err, out, reports_errors

app = typer.Typer(
    help="Prepare datasets from their published files and look inside prepared files.",
    no_args_is_help=True,
)
prepare_app = typer.Typer(help="Build a dataset file from published files.", no_args_is_help=True)
app.add_typer(prepare_app, name="prepare")

PathArg = Annotated[
    Path | None,
    typer.Argument(
        help="Prepared file (default: $MTL_MSD, else $MTL_DATA/msd.h5, else ~/.cache/mtl/msd.h5).",
        show_default=False,
    ),
]
SPLIT_NAMES = ("train", "val", "test")
TAG_SOURCES = ("artist_terms", "musicbrainz_tags", "lastfm_tags")


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


def _print_json(value: Any) -> None:
    from mtl.core.runs import dumps

    out.print(dumps(value), markup=False, soft_wrap=True)


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
        _print_json({"out": str(opts.out), **summary})
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


def _open(path: Path | None) -> Any:
    from mtl.plugins.datasets.msd.location import resolve_path
    from mtl.plugins.datasets.msd.store import PreparedFile

    return PreparedFile(resolve_path(str(path) if path else None))


def _task_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col, justify in (
        ("task", "left"),
        ("kind", "left"),
        ("source", "left"),
        ("labelled", "right"),
        ("positives", "right"),
    ):
        table.add_column(col, justify=justify)
    for r in rows:
        pos = "" if r["positives"] is None else f"{r['positives']:,}"
        table.add_row(escape(r["name"]), r["kind"], escape(r["source"]), f"{r['labelled']:,}", pos)
    return table


@app.command("info")
@reports_errors
def info(
    path: PathArg = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print as JSON (every task included).")
    ] = False,
    show: Annotated[int, typer.Option(help="Tag tasks listed (most frequent first).", min=0)] = 20,
) -> None:
    """Tracks per split, vocabulary, tasks with label counts, and provenance of a prepared file."""
    with _open(path) as f:
        split = f.split()
        splits = {name: int((split == i).sum()) for i, name in enumerate(SPLIT_NAMES)}
        tasks = f.task_table()
        prov = f.provenance()
        nnz = int(f.f["bow/indices"].shape[0])
        data = {
            "path": str(f.path),
            "created": prov.get("created"),
            "mtl_version": str(f.f.attrs.get("mtl_version", "")),
            "tracks": f.n,
            "splits": splits,
            "vocabulary": f.dim,
            "nonzeros": nnz,
            "artists": len(set(f.artist_ids())),
            "tasks": tasks,
            "inputs": prov.get("inputs", []),
            "summary": prov.get("summary", {}),
        }
    if as_json:
        _print_json(data)
        return
    head = Table(title=escape(data["path"]), title_justify="left", show_header=False)
    head.add_column("what")
    head.add_column("value", justify="right")
    head.add_row("created", f"{data['created']} (mtl {data['mtl_version']})")
    head.add_row("tracks", f"{data['tracks']:,}")
    for s in SPLIT_NAMES:
        head.add_row(f"  {s}", f"{splits[s]:,}")
    head.add_row("artists", f"{data['artists']:,}")
    head.add_row("vocabulary", f"{data['vocabulary']:,}")
    head.add_row("non-zeros (words per track)", f"{nnz:,} ({nnz / max(data['tracks'], 1):.1f})")
    kinds: dict[str, int] = {}
    for r in tasks:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    head.add_row("tasks", ", ".join(f"{n} {k}" for k, n in kinds.items()))
    out.print(head)
    scalar = [r for r in tasks if r["source"] not in TAG_SOURCES]
    tags = [r for r in tasks if r["source"] in TAG_SOURCES]
    tags.sort(key=lambda r: -r["positives"])
    out.print(_task_table(scalar + tags[:show], "tasks"))
    if len(tags) > show:
        out.print(
            f"… and {len(tags) - show:,} more tag tasks: mtl data tasks {escape(data['path'])}"
        )
    for item in data["inputs"]:
        size = f"{item['bytes']:,} bytes" if item.get("bytes") is not None else "directory"
        out.print(f"input: {escape(item['path'])} ({size})")


@app.command("tasks")
@reports_errors
def tasks(
    path: PathArg = None,
    kind: Annotated[
        str | None, typer.Option(help="Only tasks of this kind: binary, regression, multiclass.")
    ] = None,
    min_positives: Annotated[
        int | None, typer.Option(help="Only binary tasks with at least this many positives.")
    ] = None,
    min_labelled: Annotated[
        int | None, typer.Option(help="Only tasks with at least this many labelled tracks.")
    ] = None,
    names: Annotated[
        bool, typer.Option("--names", help="Print only the names, comma-separated (for --tasks).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """The tasks a prepared file offers, with labelled counts and positives."""
    from mtl.core.errors import UserError

    kinds = ("binary", "regression", "multiclass")
    if kind is not None and kind not in kinds:
        raise UserError(f"--kind must be one of {', '.join(kinds)}; got '{kind}'")
    with _open(path) as f:
        rows = f.task_table()
        where = str(f.path)
    if kind:
        rows = [r for r in rows if r["kind"] == kind]
    if min_positives is not None:
        rows = [r for r in rows if r["positives"] is not None and r["positives"] >= min_positives]
    if min_labelled is not None:
        rows = [r for r in rows if r["labelled"] >= min_labelled]
    if as_json:
        _print_json(rows)
    elif names:
        out.print(",".join(r["name"] for r in rows), markup=False, soft_wrap=True)
    else:
        out.print(_task_table(rows, f"{len(rows):,} tasks in {escape(where)}"))


@app.command("show")
@reports_errors
def show(
    path: Annotated[Path, typer.Argument(help="Prepared file.")],
    track: Annotated[str, typer.Argument(help="MSD track id, e.g. TRAAABD128F429CF47.")],
    words: Annotated[int, typer.Option(help="Top words shown.", min=0)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """One track: ids, split, labels of every task (positive tags only), top words."""
    import numpy as np

    from mtl.core.errors import UserError

    with _open(path) as f:
        ids = f.msd_ids()
        hits = np.flatnonzero(ids == track)
        if not len(hits):
            raise UserError(
                f"track '{track}' is not in '{f.path}' (it may have been left out: no lyrics or no MSD record)"
            )
        row = int(hits[0])
        info_ = f.track_info(row)
        info_["split"] = SPLIT_NAMES[info_["split"]]
        specs = {s.name: s for s in f.task_specs()}
        labels: dict[str, Any] = {}
        for name in f.f["labels"]:
            value = float(f.f["labels"][name][row])
            spec = specs[name]
            if np.isnan(value):
                labels[name] = None
            elif spec.classes:
                labels[name] = spec.classes[int(value)]
            else:
                labels[name] = value
        tags: dict[str, list[str] | None] = {}
        for key in f.f["tags"]:
            g = f.f["tags"][key]
            if not g["known"][row]:
                tags[key] = None
                continue
            lo, hi = g["indptr"][row : row + 2]
            all_names = g["names"][:]
            tags[key] = sorted(
                all_names[c].decode() if isinstance(all_names[c], bytes) else str(all_names[c])
                for c in g["indices"][lo:hi]
            )
        cols, counts = f.bow_row(row)
        vocab = f.vocab()
        order = np.argsort(-counts, kind="stable")[:words]
        top = [{"word": vocab[int(cols[i])], "count": int(counts[i])} for i in order]
    data = {**info_, "labels": labels, "tags": tags, "distinct_words": len(cols), "top_words": top}
    if as_json:
        _print_json(data)
        return
    out.print(
        f"[bold]{escape(track)}[/] · {escape(info_['artist_name'])} — {escape(info_['title'])}"
    )
    out.print(
        f"artist {info_['artist_id']} · musiXmatch {info_['mxm_id']} · split {info_['split']}"
    )
    table = Table(title="labels", title_justify="left")
    table.add_column("task")
    table.add_column("value", justify="right")
    for name, value in labels.items():
        text = (
            "missing"
            if value is None
            else (f"{value:g}" if isinstance(value, float) else str(value))
        )
        table.add_row(escape(name), escape(text))
    out.print(table)
    for key, names in tags.items():
        out.print(
            f"{key}: "
            + (
                "missing (no tags for this artist)"
                if names is None
                else escape(", ".join(names) or "none chosen")
            )
        )
    out.print(
        f"words ({len(cols)} distinct): "
        + escape(", ".join(f"{w['word']}×{w['count']}" for w in top))
    )
