"""``mtl data``: prepare a dataset from its published files, and inspect a prepared file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from mtl.cli.common import out, reports_errors
from mtl.cli.data_prepare import SPLIT_NAMES, prepare_app

app = typer.Typer(
    help="Prepare datasets from their published files and look inside prepared files.",
    no_args_is_help=True,
)
app.add_typer(prepare_app, name="prepare")

PathArg = Annotated[
    Path | None,
    typer.Argument(
        help="Prepared file (default: $MTL_MSD, else $MTL_DATA/msd.h5, else ~/.cache/mtl/msd.h5).",
        show_default=False,
    ),
]
TAG_SOURCES = ("artist_terms", "musicbrainz_tags", "lastfm_tags")


def _print_json(value: Any) -> None:
    from mtl.core.runs import dumps

    out.print(dumps(value), markup=False, soft_wrap=True)


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
