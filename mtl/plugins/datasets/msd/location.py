"""Where the prepared MSD file lives when no path is given."""

from __future__ import annotations

import os
from pathlib import Path

ENV_FILE = "MTL_MSD"  # the prepared file itself
ENV_DIR = "MTL_DATA"  # a data directory holding msd.h5
FILE_NAME = "msd.h5"


def default_path() -> Path:
    """``$MTL_MSD``, else ``$MTL_DATA/msd.h5``, else ``~/.cache/mtl/msd.h5``."""
    if os.environ.get(ENV_FILE):
        return Path(os.environ[ENV_FILE]).expanduser()
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR]).expanduser() / FILE_NAME
    return Path("~/.cache/mtl").expanduser() / FILE_NAME


def resolve_path(path: str | None) -> Path:
    return Path(path).expanduser() if path else default_path()
