"""Data files opened without being read, for data larger than memory.

:func:`open_memmap` maps a ``.npy`` or a stored ``.npz`` member,
:func:`open_arrays` every array of a ``.npz`` or a zarr group; ``fit(...,
batch_size=)`` then streams them. Their zip directory is read in one pass
(:mod:`nnarray.io.zips`), and no reader here passes on NumPy's advice to
allow pickle: an array of Python objects is refused in nnarray's words.
"""

from __future__ import annotations

import importlib
import math
import os
import struct
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from .zips import Refused, check_directory, check_entry, npy_header

_NPZ = "a .npz archive (a zip file, as np.savez writes)"


def open_memmap(path: str | os.PathLike[str], key: str | None = None) -> np.ndarray:
    """One array of a ``.npy`` or ``.npz`` file, memory-mapped read-only:
    nothing is read until it is indexed (data for ``fit(..., batch_size=)``
    larger than memory).

    ``.npy``: the array after its header. ``.npz``: the member ``key``
    (which may be left out when the archive holds one array), mapped at its
    offset inside the zip (``np.load`` ignores ``mmap_mode`` for archives and
    reads a member whole). The member must be stored uncompressed
    (``np.savez``): one of ``np.savez_compressed`` cannot be mapped and is
    refused. Object arrays are refused (nothing is unpickled). A file that
    is not what its name says is a ``ValueError`` naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no data file at {str(path)!r}")
    if path.suffix != ".npz":
        if key is not None:
            raise ValueError(f"key={key!r} names a member of a .npz archive; "
                             f"{str(path)!r} is a single array")
        with _refusals(path, "a .npy array (NumPy's format)"), open(path, "rb") as f:
            if f.read(len(np.lib.format.MAGIC_PREFIX)) != np.lib.format.MAGIC_PREFIX:
                raise Refused("is not a .npy array (NumPy's format): it does not start "
                               "with NumPy's magic bytes")
            return _map_npy(f, path, 0, os.fstat(f.fileno()).st_size, "an array",
                            exact=False)
    with _refusals(path, _NPZ), open(path, "rb") as f:
        members = _members(f)
        if key is None:
            if len(members) != 1:
                raise Refused(f"holds the arrays {sorted(members)}: say which with key=")
            key = next(iter(members))
        if key not in members:
            raise Refused(f"has no array {key!r} (it holds {sorted(members)})")
        return _map_member(f, path, key, members[key])


def open_arrays(path: str | os.PathLike[str], *,
                missing_chunks: str = "warn") -> dict[str, Any]:
    """Every array of a ``.npz`` archive (memory-mapped, see
    :func:`open_memmap`) or of a zarr group (a directory; zarr arrays, read
    when indexed; needs ``pip install 'nnarray[zarr]'``), by name. Nothing
    is read into memory; the archive's directory is read once.

    ``missing_chunks`` (zarr): a chunk never written reads as the array's
    fill value. zarr leaves out chunks that hold only the fill value, so a
    missing chunk may be meant; with ``"warn"`` (the default) each fit on
    such an array warns (:class:`nnarray.backend.streams.MissingChunksWarning`,
    naming the array, how many chunks are missing and the fill value);
    ``"error"`` refuses such arrays here, with a ``ValueError`` naming the
    array and the count.
    """
    if missing_chunks not in ("warn", "error"):
        raise ValueError(f"missing_chunks must be 'warn' or 'error', got {missing_chunks!r}")
    path = Path(path)
    if path.is_dir():
        return _open_zarr(path, missing_chunks)
    if path.suffix != ".npz":
        raise ValueError(f"{str(path)!r} must be a .npz archive or a zarr group (a "
                         "directory); for one .npy array use open_memmap")
    if not path.is_file():
        raise FileNotFoundError(f"no data file at {str(path)!r}")
    with _refusals(path, _NPZ), open(path, "rb") as f:
        return {key: _map_member(f, path, key, info) for key, info in _members(f).items()}


def _open_zarr(path: Path, missing_chunks: str) -> dict[str, Any]:
    try:
        zarr = importlib.import_module("zarr")
    except ImportError as exc:
        raise ImportError(f"{str(path)!r} is a directory, read as a zarr group, which "
                          "needs zarr: pip install 'nnarray[zarr]'") from exc
    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception as exc:  # zarr raises its own errors for a folder that is no group
        raise ValueError(f"{str(path)!r} is not a zarr group: {exc}") from None
    arrays = {name: group[name] for name in sorted(group.array_keys())}
    if missing_chunks == "error":
        from ..backend.streams import fill_value, uninitialized_chunks

        for name, a in arrays.items():
            missing = uninitialized_chunks(a)
            if missing:
                raise ValueError(
                    f"{str(path)!r}: zarr array {name!r} has {missing:,} of {a.nchunks:,} "
                    f"chunks not written (they would read as the fill value "
                    f"{fill_value(a)!r}); missing_chunks='error' refuses it")
    return arrays


@contextmanager
def _refusals(path: Path, what: str) -> Iterator[None]:
    """Turn a refusal while reading the data file ``path`` (expected to be
    ``what``) into one ``ValueError`` naming the file."""
    try:
        yield
    except Refused as exc:
        raise ValueError(f"{str(path)!r} {exc}") from None
    except (zipfile.BadZipFile, EOFError, struct.error, NotImplementedError) as exc:
        raise ValueError(f"{str(path)!r} is not {what} that can be read: {exc}") from None


def _members(f: IO[bytes]) -> dict[str, zipfile.ZipInfo]:
    """The ``.npy`` members of the zip archive open as ``f``, by name
    without ``.npy``; the directory checked in one pass first."""
    check_directory(f, os.fstat(f.fileno()).st_size, _NPZ, None)
    with zipfile.ZipFile(f) as zf:
        return {i.filename[:-4]: i for i in zf.infolist() if i.filename.endswith(".npy")}


def _map_member(f: IO[bytes], path: Path, key: str, info: zipfile.ZipInfo) -> np.ndarray:
    """The checked member ``key`` (``info``) of the archive open as ``f``, mapped."""
    if info.compress_type != zipfile.ZIP_STORED:
        raise Refused(f"stores {key!r} compressed (np.savez_compressed): a compressed "
                       "member cannot be memory-mapped; write it with np.savez, or read "
                       "it into memory with np.load")
    start, stop, _ = check_entry(f, os.fstat(f.fileno()).st_size, info)
    return _map_npy(f, path, start, stop, repr(key), exact=True)


def _map_npy(f: IO[bytes], path: Path, start: int, stop: int, what: str, *,
             exact: bool) -> np.ndarray:
    """The ``.npy`` array in bytes ``start:stop`` of ``f`` (the file
    ``path``), mapped read-only after its header is checked; ``exact``: the
    array must end at ``stop`` (a zip member), else within it (a file)."""
    f.seek(start)
    shape, fortran, dtype = npy_header(f, what)
    if dtype.hasobject:
        raise Refused(f"holds {what} as Python objects (dtype {dtype}), which would need "
                       "pickle to read; nnarray reads only numeric arrays and never "
                       "unpickles")
    offset = f.tell()
    nbytes = math.prod(shape) * dtype.itemsize
    if offset + nbytes > stop or (exact and offset + nbytes != stop):
        raise Refused(f"has {what} of {stop - start:,} bytes where its header "
                       f"implies {offset - start + nbytes:,}")
    if nbytes == 0:  # nothing to map (mmap refuses a length of 0)
        return np.empty(shape, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=tuple(shape),
                     order="F" if fortran else "C")
