"""Files: model files (``.npz`` of host arrays plus a JSON metadata entry, no
pickle) and data files opened without being read.

One job a module, each importing only those after it:

- :mod:`~nnarray.io.model`: the model file's format (metadata keys and
  versions), :func:`save_arrays` and the bounded :func:`load_arrays`;
- :mod:`~nnarray.io.data`: :func:`open_memmap` and :func:`open_arrays`,
  data larger than memory for ``fit(..., batch_size=)``;
- :mod:`~nnarray.io.writes`: atomic writes and the checks of their targets
  (:func:`check_writable`);
- :mod:`~nnarray.io.zips`: bounded reading of zip archives and ``.npy``
  headers (:func:`numpy_refusal`).

A save writes a temporary file in the same folder and renames it over the
target: a crash mid-save leaves any old file intact, and of two processes
saving to one path the last rename wins whole. A model file is untrusted
input: loading checks its zip directory, metadata and every ``.npy`` header
before a byte of array data is read, within ``max_bytes``; every refusal is
one ``ValueError`` naming the file and what was wrong.
"""

from __future__ import annotations

from .data import open_arrays, open_memmap
from .model import (
    CLASSES,
    DATASET,
    DEFAULT_MAX_BYTES,
    DESCRIPTION_KEYS,
    FORMAT,
    FORMAT_VERSION,
    INPUT,
    MAX_ENTRIES,
    MAX_INT_DIGITS,
    MAX_LAYERS,
    MAX_META_BYTES,
    STATE_PREFIXES,
    check_description,
    load_arrays,
    save_arrays,
)
from .writes import check_writable, write_atomically
from .zips import numpy_refusal

__all__ = [
    "CLASSES",
    "DATASET",
    "DEFAULT_MAX_BYTES",
    "DESCRIPTION_KEYS",
    "FORMAT",
    "FORMAT_VERSION",
    "INPUT",
    "MAX_ENTRIES",
    "MAX_INT_DIGITS",
    "MAX_LAYERS",
    "MAX_META_BYTES",
    "STATE_PREFIXES",
    "check_description",
    "check_writable",
    "load_arrays",
    "numpy_refusal",
    "open_arrays",
    "open_memmap",
    "save_arrays",
    "write_atomically",
]
