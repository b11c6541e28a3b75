"""Throughput and memory of ``mtl data prepare msd`` and of training at musiXmatch scale.

Three measurements, each in a fresh process so that peak memory is its own:

* ``prepare``: generate ``--files`` per-track MSD HDF5 files in the published layout
  (``data/A/B/C/TR….h5``, the test suite's writer) plus musiXmatch text files, then run
  ``prepare_msd`` with ``--workers`` processes; report files/s of the HDF5 stage, tracks/s
  of the text parsing and peak RSS of the main process and of the largest worker.
* ``parse``: parse a generated musiXmatch text file of ``--mxm-tracks`` tracks (≈90
  distinct words each out of 5,000) and report tracks/s and peak RSS.
* ``train``: write a prepared file of the full musiXmatch shape (237,662 tracks × 5,000
  words, ≈21 M non-zeros) and run ``mtl train --dataset msd`` on it for one epoch over a
  training subset; report the peak RSS of that process (a dense float32 copy of the
  inputs alone would be 4.75 GB).

Usage: python benchmarks/bench_msd_prepare.py [--files 20000] [--mxm-tracks 237662]
[--workers 2] [--dir /tmp/msd-bench] [--only prepare,parse,train]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "plugins" / "datasets"))

VOCAB = 5000
WORDS_PER_TRACK = 90


def _cpu(who: int = resource.RUSAGE_SELF) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux: KiB


def _words(rng: np.random.Generator) -> np.ndarray:
    k = max(1, int(rng.poisson(WORDS_PER_TRACK)))
    p = 1.0 / np.arange(1, VOCAB + 1)
    return np.sort(
        rng.choice(np.arange(1, VOCAB + 1), size=min(k, VOCAB), replace=False, p=p / p.sum())
    )


def write_mxm(path: Path, ids: list[str], seed: int) -> None:
    rng = np.random.default_rng(seed)
    with open(path, "w") as fh:
        fh.write(
            "# generated for the benchmark\n%" + ",".join(f"w{i}" for i in range(VOCAB)) + "\n"
        )
        for i, tid in enumerate(ids):
            idx = _words(rng)
            cnt = rng.integers(1, 6, size=len(idx))
            fh.write(
                f"{tid},{i}," + ",".join(f"{a}:{b}" for a, b in zip(idx, cnt, strict=True)) + "\n"
            )


def _write_files(args: tuple[str, int, int]) -> int:
    import msd_files

    root, start, stop = args
    for i in range(start, stop):
        tid = msd_files.track_id(i)
        a = i % 3000
        s = msd_files.song(
            tid,
            artist=f"AR{a:016d}",
            terms=tuple(f"term{(a * 7 + j) % 400}" for j in range(a % 25)),
            mbtags=("british",) if a % 4 == 0 else (),
            year=1950 + i % 60,
            loudness=-10.0 + (i % 13),
            key=i % 12,
            mode=i % 2,
        )
        msd_files.write_songs_h5(msd_files.tree_path(Path(root), tid), [s])
    return stop - start


def generate(base: Path, files: int, workers: int) -> None:
    import msd_files

    done = base / "generated.json"
    if done.is_file() and json.loads(done.read_text()).get("files") == files:
        return
    t0 = time.perf_counter()
    root = base / "MillionSong"
    step = 500
    jobs = [(str(root), s, min(s + step, files)) for s in range(0, files, step)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_write_files, jobs))
    # lyrics for 95% of the files plus 5% more tracks that have no file; 10% in the test file
    ids = [msd_files.track_id(i) for i in range(int(files * 0.05), int(files * 1.05))]
    cut = int(len(ids) * 0.9)
    write_mxm(base / "mxm_dataset_train.txt", ids[:cut], 1)
    write_mxm(base / "mxm_dataset_test.txt", ids[cut:], 2)
    done.write_text(json.dumps({"files": files, "seconds": time.perf_counter() - t0}))


def measure_prepare(base: Path, workers: int) -> dict:
    from mtl.plugins.datasets.msd.prepare import PrepareOptions, prepare_msd

    out = base / "prepared.h5"
    cpu0 = _cpu()
    t0 = time.perf_counter()
    mxm = [base / "mxm_dataset_train.txt", base / "mxm_dataset_test.txt"]
    summary = prepare_msd(
        PrepareOptions(out=out, mxm=mxm, msd=base / "MillionSong", workers=workers)
    )
    total = time.perf_counter() - t0
    files = summary["kept"] + summary["msd_without_lyrics"]
    cpu_main = _cpu() - cpu0
    # one process, no pool: files per CPU-second (independent of other load on the machine)
    from mtl.plugins.datasets.msd import msd_h5

    paths = [p for _, p in msd_h5.find_track_files(base / "MillionSong")][:5000]
    c0, w0 = _cpu(), time.perf_counter()
    msd_h5.read_track_files(paths)
    single_cpu, single_wall = _cpu() - c0, time.perf_counter() - w0
    return {
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpu_seconds_main": round(cpu_main, 2),
        "single_process_files": len(paths),
        "single_process_files_per_second": round(len(paths) / single_wall, 1),
        "single_process_files_per_cpu_second": round(len(paths) / single_cpu, 1),
        "files": files,
        "files_read": summary["kept"],
        "lyrics_tracks": summary["lyrics_tracks"],
        "workers": workers,
        "hdf5_stage_seconds": summary["seconds"]["msd"],
        "hdf5_files_per_second": round(summary["kept"] / summary["seconds"]["msd"], 1),
        "mxm_tracks_per_second": round(summary["lyrics_tracks"] / summary["seconds"]["lyrics"], 1),
        "total_seconds": round(total, 2),
        "peak_rss_main_mb": round(_peak_mb(), 1),
        "peak_rss_largest_worker_mb": round(_peak_mb(resource.RUSAGE_CHILDREN), 1),
        "output_mb": round(out.stat().st_size / 2**20, 2),
    }


def measure_parse(base: Path, tracks: int) -> dict:
    from mtl.plugins.datasets.msd.mxm_text import read_mxm_text
    from mtl.plugins.datasets.msd.problems import Problems

    path = base / f"mxm_parse_{tracks}.txt"
    if not path.is_file():
        write_mxm(path, [f"TR{i:016d}" for i in range(tracks)], 3)
    before = _peak_mb()
    cpu0 = _cpu()
    t0 = time.perf_counter()
    lyrics = read_mxm_text([path], Problems())
    seconds = time.perf_counter() - t0
    cpu = _cpu() - cpu0
    return {
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpu_seconds": round(cpu, 2),
        "tracks_per_cpu_second": round(lyrics.n / cpu, 1),
        "tracks": lyrics.n,
        "nonzeros": lyrics.nnz,
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "seconds": round(seconds, 2),
        "tracks_per_second": round(lyrics.n / seconds, 1),
        "peak_rss_mb": round(_peak_mb(), 1),
        "peak_rss_before_mb": round(before, 1),
    }


def write_full_scale(path: Path, n: int = 237_662, nnz_per_row: float = 88.5) -> int:
    """A prepared file of the full musiXmatch shape, written directly (random words and labels)."""
    from mtl.plugins.datasets.msd.splits import TEST, TRAIN, carve_validation
    from mtl.plugins.datasets.msd.store import PreparedData, ScalarTask, write_prepared
    from mtl.plugins.datasets.msd.tags import choose_tags

    rng = np.random.default_rng(0)
    draws = np.maximum(1, rng.poisson(nnz_per_row * 1.01, n))  # a few repeats are merged
    rows = np.repeat(np.arange(n, dtype=np.int64), draws)
    p = 1.0 / np.arange(1, VOCAB + 1) ** 0.5
    words = rng.choice(VOCAB, size=len(rows), p=p / p.sum())
    keys = np.unique(rows * VOCAB + words)  # sorted, distinct words per row
    del rows, words
    row_of, col = np.divmod(keys, VOCAB)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(row_of, minlength=n), out=indptr[1:])
    indices = col.astype(np.int32)
    nnz = len(indices)
    del keys, row_of, col
    counts = rng.integers(1, 6, nnz).astype(np.int32)
    artists = [f"AR{a:016d}" for a in rng.integers(0, 20_000, n)]
    split = carve_validation(
        np.where(rng.random(n) < 0.114, TEST, TRAIN).astype(np.uint8), artists, 0.1
    )
    names = ["pop", "rock", "pop rock", "ballad", "soul"]
    tags = {f"AR{a:016d}": [t for j, t in enumerate(names) if (a >> j) & 1] for a in range(20_000)}
    data = PreparedData(
        vocab=[f"w{i}" for i in range(VOCAB)],
        msd_ids=[f"TR{i:016d}" for i in range(n)],
        mxm_ids=np.arange(n),
        artist_ids=artists,
        artist_names=artists,
        titles=[""] * n,
        split=split,
        indptr=indptr,
        indices=indices,
        counts=counts,
        scalars=[ScalarTask("loudness", "regression", "msd", rng.normal(-10, 4, n), units="dB")],
        tag_families={
            "terms": choose_tags(artists, tags, 2000, 1, "", {"loudness"}, "artist_terms")
        },
        provenance={"created": "benchmark"},
    )
    write_prepared(path, data)
    return nnz


def measure_train(base: Path, train_size: int) -> dict:
    path = base / "full_scale.h5"
    if not path.is_file():
        write_full_scale(path)
    from mtl.plugins.datasets.msd.store import PreparedFile

    with PreparedFile(path) as f:
        n, nnz = f.n, int(f.f["bow/indices"].shape[0])
    code = (
        "import resource, sys\n"
        "from mtl.cli.main import app\n"
        "try:\n    app(sys.argv[1:])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print('PEAK_MB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    args = [
        "train",
        "--dataset",
        "msd",
        "-o",
        f"path={path}",
        "--tasks",
        "pop,pop_rock,ballad,loudness",
        "--arch",
        "low",
        "--epochs",
        "1",
        "--train-size",
        str(train_size),
        "--device",
        "cpu",
        "--run-dir",
        str(base / "train-run"),
        "--report",
        "console",
    ]
    if (base / "train-run").exists():
        import shutil

        shutil.rmtree(base / "train-run")
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "MTL_PLUGINS": ""},
    )
    if out.returncode:
        raise SystemExit(out.stdout[-2000:] + out.stderr[-2000:])
    peak = float(out.stdout.strip().splitlines()[-1].split()[1])
    return {
        "tracks": n,
        "vocabulary": VOCAB,
        "nonzeros": nnz,
        "train_size": train_size,
        "seconds": round(time.perf_counter() - t0, 1),
        "peak_rss_mb": round(peak, 1),
        "dense_float32_copy_mb": round(n * VOCAB * 4 / 2**20, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--mxm-tracks", type=int, default=237_662)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--train-size", type=int, default=20_000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/mtl-msd-bench"))
    ap.add_argument("--only", default="prepare,parse,train")
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    if args.measure == "prepare":
        print(json.dumps(measure_prepare(args.dir, args.workers)))
        return
    if args.measure == "parse":
        print(json.dumps(measure_parse(args.dir, args.mxm_tracks)))
        return
    if args.measure == "train":
        print(json.dumps(measure_train(args.dir, args.train_size)))
        return
    results = {}
    for what in args.only.split(","):
        if what == "prepare":
            generate(args.dir, args.files, args.workers)
        cmd = [
            sys.executable,
            __file__,
            "--measure",
            what,
            "--dir",
            str(args.dir),
            "--workers",
            str(args.workers),
            "--mxm-tracks",
            str(args.mxm_tracks),
            "--train-size",
            str(args.train_size),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(f"{what} failed:\n{out.stderr[-3000:]}")
        results[what] = json.loads(out.stdout.strip().splitlines()[-1])
        print(what, json.dumps(results[what]), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
