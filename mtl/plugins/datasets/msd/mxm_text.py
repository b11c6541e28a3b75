"""musiXmatch text files: ``mxm_dataset_train.txt`` and ``mxm_dataset_test.txt``.

Each line is classified by its first character: ``#`` comment, ``%`` the vocabulary
(comma-separated, most frequent first), anything else a track
``TRACK_ID,MXM_ID,idx:cnt,...`` with ``idx`` 1-based into the vocabulary. Blank lines
are ignored. Lines are validated one by one (a compiled pattern), then a whole chunk of
``idx:cnt`` pairs is converted at once by NumPy, which is what makes parsing fast.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from mtl.core.errors import UserError
from mtl.plugins.datasets.msd.lyrics import Lyrics, csr_from_rows, drop_rows, row_problems
from mtl.plugins.datasets.msd.problems import Problems

PAIR = re.compile(r"\d+:\d+")
TRACK_ID_BYTES = re.compile(rb"TR[A-Z0-9]{16}")
CHUNK = 5_000  # track lines converted to numbers at once
_SKELETONS: dict[int, bytes] = {}


def well_formed(rest: bytes, k: int) -> bool:
    """Whether ``rest`` is exactly ``k`` pairs ``digits:digits`` joined by commas.

    Equivalent to matching ``\\d+:\\d+(,\\d+:\\d+)*`` (ASCII digits) but several times
    faster: with the digits deleted, what remains must be ``:,:,…:``, and no digit run
    may be empty.
    """
    if not rest or not k or rest.translate(None, b"0123456789") != _skeleton(k):
        return False
    return not (b":," in rest or b",:" in rest or rest[:1] in b":," or rest[-1:] in b":,")


def _skeleton(k: int) -> bytes:
    skeleton = _SKELETONS.get(k)
    if skeleton is None:
        skeleton = _SKELETONS[k] = b":" + b",:" * (k - 1) if k else b""
    return skeleton


def malformed_lines(rests: list[bytes], ks: list[int]) -> list[int]:
    """Positions of the ``rests`` that are not ``k`` well-formed pairs.

    The whole chunk is checked at once (the common case: nothing wrong); only when that
    fails is each line checked with :func:`well_formed`.
    """
    joined = b"\n".join(rests)
    if 0 not in ks and joined.translate(None, b"0123456789") == b"\n".join(
        [_skeleton(k) for k in ks]
    ):
        edges = (b":,", b",:", b"\n:", b":\n", b"\n,", b",\n")
        if (
            not any(e in joined for e in edges)
            and not (joined[:1] and joined[:1] in b":,")
            and not (joined[-1:] and joined[-1:] in b":,")
        ):
            return []
    return [
        i for i, (r, k) in enumerate(zip(rests, ks, strict=True)) if r and not well_formed(r, k)
    ]


def is_test_file(path: Path) -> bool:
    """The split of a musiXmatch text file, from its name (``mxm_dataset_test.txt``)."""
    return "test" in path.name.lower()


def _show(raw: bytes, limit: int = 40) -> str:
    return raw[:limit].decode("utf-8", errors="replace")


def _bad_pair(rest: bytes) -> str:
    for token in _show(rest, len(rest)).split(","):
        if not PAIR.fullmatch(token) or not token.isascii():
            idx, sep, cnt = token.partition(":")
            if sep and idx.isdigit() and idx.isascii():
                return f"count '{cnt[:20]}' is not a positive integer"
            return f"malformed word count '{token[:40]}' (expected idx:count)"
    return "malformed word counts"


def _pairs(rests: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Word indices and counts of well-formed ``rests``, as two contiguous int32 arrays."""
    joined = b",".join(r for r in rests if r).replace(b":", b",")
    if not joined:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32)
    values = np.fromstring(joined, dtype=np.int64, sep=",")
    values[values > np.iinfo(np.int32).max] = -1  # reported as out of range, not wrapped
    return values[0::2].astype(np.int32), values[1::2].astype(np.int32)


def read_mxm_text(
    paths: Iterable[Path],
    problems: Problems,
    progress: Callable[[int], None] | None = None,
) -> Lyrics:
    """Read musiXmatch text files into one :class:`Lyrics`; bad tracks go to ``problems``.

    ``progress(n_chars)`` is called now and then with the characters read since the last call. A file without a ``%``
    vocabulary line, or whose vocabulary differs from another file's, is an error.
    """
    vocab: list[str] | None = None
    seen: set[bytes] = set()
    track_ids: list[str] = []
    mxm_ids: list[int] = []
    is_test: list[bool] = []
    lengths: list[int] = []
    indices: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    sources = []
    for path in paths:
        path = Path(path)
        test = is_test_file(path)
        file_vocab: list[str] | None = None
        f_ids: list[bytes] = []
        f_lines: list[int] = []
        f_mxm: list[int] = []
        f_len: list[int] = []
        pairs: list[tuple[np.ndarray, np.ndarray]] = []
        rests: list[bytes] = []
        malformed: dict[int, str] = {}  # file row → what is wrong

        def flush(
            chunk: list[bytes], f_len: list[int] = f_len, malformed: dict = malformed
        ) -> tuple[np.ndarray, np.ndarray]:
            first_row = len(f_len) - len(chunk)
            for i in malformed_lines(chunk, f_len[first_row:]):
                malformed[first_row + i] = _bad_pair(chunk[i])
                f_len[first_row + i] = 0
                chunk[i] = b""
            return _pairs(chunk)

        try:
            fh = open(path, "rb")
        except OSError as exc:
            raise UserError(f"cannot read musiXmatch file '{path}': {exc.strerror}") from None
        sources.append(str(path))
        read = 0
        with fh:
            for lineno, raw in enumerate(fh, 1):
                read += len(raw)
                if progress is not None and not lineno % 4096:
                    progress(read)
                    read = 0
                line = raw.rstrip()
                if not line:
                    continue
                first = line[:1]
                if first == b"#":
                    continue
                if first == b"%":
                    words = line[1:].decode("utf-8", errors="replace").split(",")
                    if file_vocab is not None and words != file_vocab:
                        raise UserError(f"{path}:{lineno}: a second, different '%' vocabulary line")
                    file_vocab = words
                    continue
                parts = line.split(b",", 2)
                tid = parts[0]
                if not TRACK_ID_BYTES.fullmatch(tid):
                    problems.add(
                        "bad track id", f"{path}:{lineno}", f"'{_show(tid)}' is not an MSD track id"
                    )
                    continue
                if len(parts) < 2 or not parts[1].isdigit():
                    mxm = _show(parts[1]) if len(parts) > 1 else ""
                    problems.add(
                        "bad mxm id",
                        f"{path}:{lineno}",
                        f"track {tid.decode()}: musiXmatch id '{mxm}' is not an integer",
                    )
                    continue
                rest = parts[2] if len(parts) == 3 else b""
                if tid in seen:
                    problems.add(
                        "duplicate track",
                        f"{path}:{lineno}",
                        f"track {tid.decode()} appears again; the first is kept",
                    )
                    continue
                seen.add(tid)
                f_ids.append(tid)
                f_lines.append(lineno)
                f_mxm.append(int(parts[1]))
                f_len.append(rest.count(b":"))
                rests.append(rest)
                if len(rests) >= CHUNK:
                    pairs.append(flush(rests))
                    rests = []
        if progress is not None:
            progress(read)
        pairs.append(flush(rests))
        if file_vocab is None:
            raise UserError(
                f"{path} has no '%' vocabulary line: is it a musiXmatch dataset file "
                "(mxm_dataset_train.txt / mxm_dataset_test.txt)?"
            )
        if vocab is None:
            vocab = file_vocab
        elif file_vocab != vocab:
            raise UserError(f"{path}: its '%' vocabulary differs from that of {sources[0]}")
        # one column at a time, freeing the chunks: peak memory stays near the output's
        f_idx = np.concatenate([p[0] for p in pairs])
        pairs = [(None, p[1]) for p in pairs]
        f_cnt = np.concatenate([p[1] for p in pairs])
        del pairs
        f_indptr = csr_from_rows(f_len)
        bad = row_problems(f_indptr, f_idx, f_cnt, len(vocab))
        bad.update(malformed)
        keep = np.ones(len(f_ids), dtype=bool)
        for row, what in sorted(bad.items()):
            problems.add(
                "bad word count", f"{path}:{f_lines[row]}", f"track {f_ids[row].decode()}: {what}"
            )
            seen.discard(f_ids[row])
            keep[row] = False
        if not keep.all():
            f_indptr, f_idx, f_cnt = drop_rows(f_indptr, f_idx, f_cnt, keep)
        track_ids.extend(t.decode() for t, k in zip(f_ids, keep, strict=True) if k)
        mxm_ids.extend(m for m, k in zip(f_mxm, keep, strict=True) if k)
        is_test.extend([test] * int(keep.sum()))
        lengths.extend(np.diff(f_indptr).tolist())
        f_idx -= 1  # 0-based columns
        indices.append(f_idx)
        counts.append(f_cnt)
    if vocab is None:
        raise UserError(
            "no musiXmatch file given: pass --mxm mxm_dataset_train.txt (and the test file)"
        )
    return Lyrics(
        vocab=vocab,
        track_ids=track_ids,
        mxm_ids=np.asarray(mxm_ids, dtype=np.int64),
        is_test=np.asarray(is_test, dtype=bool),
        indptr=csr_from_rows(lengths),
        indices=indices[0] if len(indices) == 1 else np.concatenate(indices),
        counts=counts[0] if len(counts) == 1 else np.concatenate(counts),
        sources=sources,
    )
