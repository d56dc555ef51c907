"""Model files: ``.npz`` of host arrays plus a JSON metadata entry. No pickle.

Saving writes a temporary file in the same folder, fsyncs it and renames it
over the target, so a crash mid-save leaves any old file intact. Loading uses
``allow_pickle=False`` and checks the keys, shapes and dtypes against the
metadata before anything is built.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__

FORMAT = "nnarray-model"
FORMAT_VERSION = 1
_META_KEY = "__nnarray_meta__"


def save_arrays(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray],
                meta: Mapping[str, Any]) -> Path:
    """Write ``arrays`` and ``meta`` to ``path`` atomically; returns the path."""
    path = Path(path)
    if _META_KEY in arrays:
        raise ValueError(f"array name {_META_KEY!r} is reserved")
    header = dict(meta, format=FORMAT, format_version=FORMAT_VERSION,
                  nnarray_version=__version__)
    payload = dict(arrays)
    payload[_META_KEY] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_arrays(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by :func:`save_arrays`: ``(arrays, meta)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {str(path)!r}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as exc:  # any parse failure of a damaged file is the same error to a user
        raise ValueError(
            f"{str(path)!r} is not a readable nnarray model file (truncated or corrupt?): {exc}"
        ) from exc
    raw = arrays.pop(_META_KEY, None)
    if raw is None:
        raise ValueError(f"{str(path)!r} has no nnarray metadata: it was not saved by nnarray")
    try:
        meta = json.loads(raw.tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        raise ValueError(f"{str(path)!r} has corrupt nnarray metadata: {exc}") from exc
    if not isinstance(meta, dict):
        raise ValueError(f"{str(path)!r} has corrupt nnarray metadata: not a JSON object")
    if meta.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not an nnarray model (format={meta.get('format')!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} has format_version={meta.get('format_version')!r}; this nnarray "
            f"({__version__}) reads version {FORMAT_VERSION}: upgrade nnarray"
        )
    return arrays, meta
