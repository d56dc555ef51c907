"""The model file's format: a ``.npz`` of host arrays plus a JSON
metadata entry, read with bounds. No pickle.

A model file is untrusted input, and loading reads it metadata first, with
bounds. Before a byte of array data is read, :func:`load_arrays` checks:

- the zip's central directory is small (at most ``MAX_ENTRIES`` entries),
  holds exactly the records its end record declares, each name once (read
  in one pass, before the zip reader parses it), and
  every entry is stored uncompressed (``np.savez`` writes no other kind), not
  encrypted, with a local header that agrees with the directory, its data
  inside the file and overlapping no other entry's (:mod:`nnarray.io.zips`);
- the JSON metadata (read first, at most ``MAX_META_BYTES``, integers of
  at most ``MAX_INT_DIGITS`` digits): format,
  version, ``layer_dims`` and ``dtype``, from which the entries ``W1 ... bL``
  and their shapes follow (a checkpoint adds, by ``state_prefixes``, copies
  shaped like them: ``v.W1``, ...); extra or missing entries are refused;
- the total bytes of the arrays the metadata asks for is at most
  ``max_bytes`` (:data:`DEFAULT_MAX_BYTES`, 4 GiB; the metadata is untrusted
  too);
- each entry's ``.npy`` header: its dtype, shape and order against the
  metadata, and the entry's size against the header.

Only then is each array read, into an array of the checked size, with its
CRC checked by the zip reader. Nothing is ever unpickled. Every refusal is
one ``ValueError`` that names the file and what was wrong.

The metadata's keys: ``format`` (:data:`FORMAT`), ``format_version``
(:data:`FORMAT_VERSION`, the version this nnarray reads), ``nnarray_version``
(the writer's), ``layer_dims``, ``dtype``, and for a checkpoint
``state_prefixes``; the caller adds its own (a network's activations, a
checkpoint's ``training`` state).

What a model remembers of its data (:data:`DESCRIPTION_KEYS`, each
optional: files without them load), checked on save and on load:

- ``classes``: the user's labels, class index i being ``classes[i]`` (a
  sigmoid output's 0 and 1, a softmax output's K units); strings, integers
  or finite numbers, distinct;
- ``input``: ``{"kind": "table", "columns": n_x}``, or ``{"kind":
  "picture", "height", "width", "channels", "scale"}`` (pixels flattened
  row-major over height, width, channel and divided by ``scale``);
- ``dataset``: ``{"name": ...}``, the dataset trained on (a built-in name
  or the path given), with the held-out split of a user's file
  (``test_size``, ``seed``), and ``examples_as_rows`` (``true``) for a
  ``.npz`` read with one example per row.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from .._version import __version__
from .writes import write_atomically
from .zips import (
    Refused,
    check_directory,
    check_entry,
    check_regions,
    open_entry,
    read_exactly,
    short,
)

FORMAT = "nnarray-model"
FORMAT_VERSION = 1
_META_KEY = "__nnarray_meta__"

DEFAULT_MAX_BYTES = 4 * 2**30
"""The default cap on the bytes of arrays :func:`load_arrays` reads (4 GiB)."""

MAX_META_BYTES = 2**20
"""The largest metadata entry read (1 MiB; a saved model's is a few hundred bytes)."""

MAX_LAYERS = 5_000
"""The most layers a model file may describe."""

STATE_PREFIXES = ("v", "s", "best")
"""The training state a checkpoint may add, each shaped like every parameter:
the optimizer's moments ``v.W1``, ``s.W1``, ... and early stopping's best
parameters ``best.W1``, ... (listed in the metadata's ``state_prefixes``)."""

MAX_ENTRIES = (1 + len(STATE_PREFIXES)) * 2 * MAX_LAYERS + 1
"""The most entries a file's zip may hold (W and b per layer, the training
state of a checkpoint, the metadata)."""

MAX_INT_DIGITS = 100
"""The most digits of an integer in the metadata (a checkpoint's random
state holds 128-bit integers, 39 digits): longer literals are refused
before Python converts them."""

_DTYPES = ("float32", "float64")

CLASSES = "classes"
"""Metadata key: the class labels, in the user's values."""
INPUT = "input"
"""Metadata key: what the input layer reads (a table's columns, or pictures)."""
DATASET = "dataset"
"""Metadata key: the dataset trained on, and its held-out split."""
DESCRIPTION_KEYS = (CLASSES, INPUT, DATASET)
"""The optional keys that describe a model's data (see the module's docstring)."""

MAX_CLASSES = 100_000
"""The most class labels a model file may list."""
MAX_TEXT = 4096
"""The longest class label or dataset name, in characters."""


def save_arrays(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray],
                meta: Mapping[str, Any]) -> Path:
    """Write ``arrays`` and ``meta`` to ``path`` atomically
    (:func:`nnarray.io.writes.write_atomically`); returns the path.

    ``meta`` is stored as JSON, with ``format``, ``format_version`` and
    ``nnarray_version`` added. A reader sees the old file or the new one,
    never a part. Errors are ``OSError`` naming ``path``, and leave the
    file at ``path`` as it was.
    """
    if _META_KEY in arrays:
        raise ValueError(f"array name {_META_KEY!r} is reserved")
    check_description(meta)
    header = dict(meta, format=FORMAT, format_version=FORMAT_VERSION,
                  nnarray_version=__version__)
    payload: dict[str, Any] = dict(arrays)
    payload[_META_KEY] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    return write_atomically(path, lambda f: np.savez(f, **payload))


def load_arrays(
    path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by :func:`save_arrays`: ``(arrays, meta)``.

    The metadata and every entry's ``.npy`` header are checked before any
    array data is read (see :mod:`nnarray.io.model`); at most ``max_bytes``
    bytes of arrays are read (default :data:`DEFAULT_MAX_BYTES`, 4 GiB: raise
    it for a larger model from a source you trust). Raises
    ``FileNotFoundError`` when there is no file and ``ValueError``, naming the
    file and the reason, for anything else.
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int | np.integer):
        raise TypeError(f"max_bytes must be an integer number of bytes, got {max_bytes!r}")
    if max_bytes < 0:
        raise ValueError(f"max_bytes must be >= 0, got {max_bytes!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {str(path)!r}")
    name = repr(str(path))
    try:
        with open(path, "rb") as f:
            return _read(f, int(max_bytes))
    except Refused as exc:
        raise ValueError(f"{name} {exc}") from None
    except Exception as exc:  # any parse failure of a damaged file is the same error to a user
        raise ValueError(
            f"{name} is not a readable nnarray model file (truncated or corrupt?): "
            f"{type(exc).__name__}: {exc}"
        ) from exc


_MODEL = "a readable nnarray model file"


def _read(f: IO[bytes], max_bytes: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    size = os.fstat(f.fileno()).st_size
    count = check_directory(f, size, _MODEL, MAX_ENTRIES)
    with zipfile.ZipFile(f) as zf:
        infos = zf.infolist()
        by_name = {i.filename: i for i in infos}
        if len(infos) != count or len(by_name) != count:  # the reader agrees with the check
            raise Refused(f"is not {_MODEL}: its zip directory reads as {len(infos):,} "
                           f"entries, {len(by_name):,} names, where {count:,} are declared")
        meta_info = by_name.get(_META_KEY + ".npy")
        if meta_info is None:
            raise Refused(
                "is not a readable nnarray model file: it has no nnarray metadata "
                "(it was not saved by nnarray)"
            )
        regions = [check_entry(f, size, meta_info)]
        meta = _read_meta(zf, meta_info)
        expected = _expected_entries(meta)
        _check_description(meta)
        _check_names(by_name, expected)
        total = sum(math.prod(shape) for shape in expected.values())
        total *= np.dtype(meta["dtype"]).itemsize
        if total > max_bytes:
            raise Refused(
                f"asks for {total:,} bytes of arrays (layer_dims={meta['layer_dims']}, "
                f"{meta['dtype']}), more than max_bytes={max_bytes:,}; if you trust this "
                "file, load it with a larger max_bytes"
            )
        regions += [check_entry(f, size, by_name[key + ".npy"]) for key in expected]
        check_regions(regions, size)
        headers = {key: _check_header(zf, by_name[key + ".npy"], key, shape, meta["dtype"])
                   for key, shape in expected.items()}
        arrays = {key: _read_array(zf, by_name[key + ".npy"], key, *headers[key])
                  for key in expected}
    return arrays, meta


def _read_meta(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> dict[str, Any]:
    fp, shape, _, dtype, offset = open_entry(zf, info)
    with fp:
        if dtype != np.dtype(np.uint8) or len(shape) != 1:
            raise Refused(f"has corrupt nnarray metadata: expected a 1-D uint8 array, "
                           f"got dtype {dtype} shape {shape}")
        if shape[0] > MAX_META_BYTES:
            raise Refused(f"has {shape[0]:,} bytes of metadata, more than "
                           f"{MAX_META_BYTES:,} (a model's is a few hundred)")
        if info.file_size != offset + shape[0]:
            raise Refused(f"has a metadata entry of {info.file_size:,} bytes where its header "
                           f"implies {offset + shape[0]:,}")
        raw = read_exactly(fp, shape[0])
    try:
        meta = json.loads(raw.decode(), parse_int=_parse_int)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Refused(f"has corrupt nnarray metadata: {exc}") from None
    if not isinstance(meta, dict):
        raise Refused("has corrupt nnarray metadata: not a JSON object")
    long = _long_integer(meta)
    if long is not None:
        field, digits = long
        raise Refused(f"has corrupt nnarray metadata: {field} is an integer of {digits:,} "
                       f"digits (at most {MAX_INT_DIGITS} are read)")
    if meta.get("format") != FORMAT:
        raise Refused(f"is not an nnarray model (format={meta.get('format')!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise Refused(
            f"has format_version={meta.get('format_version')!r}; this nnarray "
            f"({__version__}) reads version {FORMAT_VERSION}: upgrade nnarray"
        )
    return meta


class _LongInt:
    """An integer literal of the metadata too long to convert: its digits, counted."""

    def __init__(self, digits: int) -> None:
        self.digits = digits


def _parse_int(text: str) -> int | _LongInt:
    """``int(text)`` for at most ``MAX_INT_DIGITS`` digits (Python's
    conversion is quadratic in them); a :class:`_LongInt` beyond."""
    digits = len(text) - text.startswith("-")
    return _LongInt(digits) if digits > MAX_INT_DIGITS else int(text)


def _long_integer(meta: dict[str, Any]) -> tuple[str, int] | None:
    """The first field (``layer_dims[1]``, ``training.t``) holding a
    :class:`_LongInt`, and its digits; ``None`` when there is none."""
    stack: list[tuple[str, Any]] = [(str(k), v) for k, v in reversed(meta.items())]
    while stack:
        where, value = stack.pop()
        if isinstance(value, _LongInt):
            return where, value.digits
        if isinstance(value, dict):
            stack += [(f"{where}.{k}", v) for k, v in reversed(value.items())]
        elif isinstance(value, list):
            stack += [(f"{where}[{i}]", v) for i, v in reversed(list(enumerate(value)))]
    return None


def _expected_entries(meta: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """``{"W1": (n1, n0), "b1": (n1, 1), ...}`` from the metadata's layer_dims."""
    bad = "is not a consistent nnarray model: "
    dims = meta.get("layer_dims")
    if not isinstance(dims, list) or not 2 <= len(dims) <= MAX_LAYERS + 1:
        raise Refused(f"{bad}layer_dims must be a list of 2 to {MAX_LAYERS + 1} layer sizes, "
                       f"got {short(dims)}")
    for l, n in enumerate(dims):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise Refused(f"{bad}layer_dims[{l}] must be a positive integer, got {short(n)}")
    if meta.get("dtype") not in _DTYPES:
        raise Refused(f"{bad}dtype must be one of {list(_DTYPES)}, got "
                       f"{short(meta.get('dtype'))}")
    expected = {}
    for l in range(1, len(dims)):
        expected[f"W{l}"] = (dims[l], dims[l - 1])
        expected[f"b{l}"] = (dims[l], 1)
    prefixes = meta.get("state_prefixes", [])
    if (not isinstance(prefixes, list) or len(set(map(str, prefixes))) != len(prefixes)
            or not set(prefixes) <= set(STATE_PREFIXES)):
        raise Refused(f"{bad}state_prefixes must be distinct names from "
                       f"{list(STATE_PREFIXES)}, got {short(prefixes)}")
    expected |= {f"{p}.{k}": shape for p in prefixes for k, shape in list(expected.items())}
    return expected


def check_description(meta: Mapping[str, Any]) -> None:
    """Refuse, with a ``ValueError`` naming the key, ``classes``, ``input``
    or ``dataset`` metadata that is malformed or disagrees with
    ``layer_dims`` and ``output`` (see the module's docstring)."""
    try:
        _check_description(meta)
    except Refused as exc:
        raise ValueError(str(exc)) from None


def _check_description(meta: Mapping[str, Any]) -> None:
    bad = "is not a consistent nnarray model: "
    dims = meta.get("layer_dims")
    n_x, n_L = (dims[0], dims[-1]) if isinstance(dims, list) and dims else (None, None)
    output = meta.get("output", "sigmoid")
    if CLASSES in meta:
        classes = meta[CLASSES]
        if not isinstance(classes, list) or not 2 <= len(classes) <= MAX_CLASSES:
            raise Refused(f"{bad}{CLASSES} must be a list of 2 to {MAX_CLASSES:,} labels, "
                          f"got {short(classes)}")
        for i, c in enumerate(classes):
            if not _label(c):
                raise Refused(f"{bad}{CLASSES}[{i}] must be a string of at most {MAX_TEXT} "
                              f"characters, an integer or a finite number, got {short(c)}")
        if len({(type(c) is str, c) for c in classes}) != len(classes):
            raise Refused(f"{bad}{CLASSES} must be distinct, got {short(classes)}")
        want = {"sigmoid": 2, "softmax": n_L}.get(output)
        if want != len(classes):
            head = (f"a {output} output of {n_L} units" if want is None or output == "softmax"
                    else "a sigmoid output")
            raise Refused(f"{bad}{len(classes)} {CLASSES} do not fit {head} "
                          f"({'no classes' if want is None else f'{want} classes'})")
    if INPUT in meta:
        _check_input(meta[INPUT], n_x, bad)
    if DATASET in meta:
        _check_dataset(meta[DATASET], bad)


def _label(c: Any) -> bool:
    if isinstance(c, str):
        return len(c) <= MAX_TEXT
    if isinstance(c, bool) or not isinstance(c, int | float):
        return False
    return isinstance(c, int) or math.isfinite(c)


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _check_input(kind: Any, n_x: Any, bad: str) -> None:
    fields = {"table": ("kind", "columns"),
              "picture": ("kind", "height", "width", "channels", "scale")}
    name = kind.get("kind") if isinstance(kind, dict) else None
    if name not in fields or set(kind) != set(fields[name]):
        raise Refused(f"{bad}{INPUT} must be {{'kind': 'table', 'columns': n_x}} or "
                      "{'kind': 'picture', 'height', 'width', 'channels', 'scale'}, got "
                      f"{short(kind)}")
    for key in fields[name][1:4]:
        if not _positive_int(kind[key]):
            raise Refused(f"{bad}{INPUT}.{key} must be a positive integer, got "
                          f"{short(kind[key])}")
    if name == "table":
        size = kind["columns"]
    else:
        scale = kind["scale"]
        if (isinstance(scale, bool) or not isinstance(scale, int | float)
                or not (math.isfinite(scale) and scale > 0)):
            raise Refused(f"{bad}{INPUT}.scale must be a finite number > 0, got "
                          f"{short(scale)}")
        size = kind["height"] * kind["width"] * kind["channels"]
    if size != n_x:
        raise Refused(f"{bad}{INPUT} describes {size:,} input values, but layer_dims[0] "
                      f"is {n_x}")


def _check_dataset(dataset: Any, bad: str) -> None:
    if (not isinstance(dataset, dict)
            or not set(dataset) <= {"name", "test_size", "seed", "examples_as_rows"}
            or not isinstance(dataset.get("name"), str)
            or not 1 <= len(dataset["name"]) <= MAX_TEXT):
        raise Refused(f"{bad}{DATASET} must be {{'name': a non-empty string of at most "
                      f"{MAX_TEXT} characters}}, with 'test_size' and 'seed' for a held-out "
                      f"split, got {short(dataset)}")
    if not isinstance(dataset.get("examples_as_rows", False), bool):
        raise Refused(f"{bad}{DATASET}.examples_as_rows must be true or false, got "
                      f"{short(dataset['examples_as_rows'])}")
    size = dataset.get("test_size", 0)
    if isinstance(size, bool) or not isinstance(size, int | float) or not 0 <= size < 1:
        raise Refused(f"{bad}{DATASET}.test_size must be a number in [0, 1), got "
                      f"{short(size)}")
    seed = dataset.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise Refused(f"{bad}{DATASET}.seed must be an integer >= 0, got {short(seed)}")


def _check_names(by_name: Mapping[str, zipfile.ZipInfo],
                 expected: Mapping[str, tuple[int, int]]) -> None:
    want = {k + ".npy" for k in expected} | {_META_KEY + ".npy"}
    missing = sorted(k[:-4] for k in want - set(by_name))
    extra = sorted(set(by_name) - want)
    if missing or extra:
        raise Refused(
            f"is not a consistent nnarray model: its layer_dims ask for {sorted(expected)}; "
            f"missing {missing}, unexpected entries {short(extra)}"
        )


def _check_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, key: str,
                  shape: tuple[int, int], dtype_name: str) -> tuple[np.dtype, bool]:
    """The entry's .npy header against the metadata, and its size against both."""
    fp, got_shape, fortran, dtype, offset = open_entry(zf, info)
    fp.close()
    bad = "is not a consistent nnarray model: "
    if dtype.hasobject:
        raise Refused(f"{bad}{key} holds Python objects (dtype {dtype}), which would need "
                       "pickle to load; nnarray never unpickles")
    if dtype.kind != "f" or dtype.itemsize != np.dtype(dtype_name).itemsize:
        raise Refused(f"{bad}{key} has dtype {dtype.name}, the metadata says {dtype_name}")
    if got_shape != shape:
        l = key[1:]
        what = f"(n[{l}], n[{int(l) - 1}])" if key[0] == "W" else f"(n[{l}], 1)"
        raise Refused(f"{bad}{key} must have shape {what} = {shape} by the metadata's "
                       f"layer_dims, the file has {got_shape}")
    nbytes = math.prod(shape) * dtype.itemsize
    if info.file_size != offset + nbytes:
        raise Refused(
            f"has an entry {info.filename!r} of {info.file_size:,} bytes where its header "
            f"and the metadata imply {offset + nbytes:,}"
        )
    return dtype, fortran


def _read_array(zf: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, dtype: np.dtype,
                fortran: bool) -> np.ndarray:
    """The checked entry's data, read in pieces into one array (native byte order, C order)."""
    fp, shape, _, _, _ = open_entry(zf, info)
    with fp:
        flat = np.empty(math.prod(shape), dtype=dtype)
        # an ndarray is a buffer; NumPy's stubs say so from Python 3.12 on
        read_exactly(fp, flat.nbytes, out=memoryview(flat).cast("B"))  # type: ignore[arg-type]
        if fp.read(1):
            raise Refused(f"has an entry {info.filename!r} longer than its header says")
    array = flat.reshape(shape, order="F" if fortran else "C")
    native = dtype.newbyteorder("=")
    if dtype != native or fortran:
        array = np.ascontiguousarray(array, dtype=native)
    return array
