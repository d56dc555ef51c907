"""Streams: mini-batches read from data that stays where it is — a Dask
array, a NumPy memmap, a zarr array — one batch at a time onto the compute
device, the next batch read on a background thread while the current one
trains.

Nothing is converted as a whole: each batch is gathered from the storage on
the host, cast there to the network's dtype, checked (``prepare``) and copied
to the device (:meth:`Target.put`). The unit of reading is a *chunk*, a run
of consecutive examples: a Dask array's chunks, a zarr array's chunks, or
blocks of about :data:`BLOCK_BYTES` of a memmap (or of any other host array).

Layouts: X stored ``(n_x, m)`` (the lecture's columns) or, with
``examples_as_rows=True``, ``(m, n_x)``; then one example is one contiguous
run of bytes and a chunk one contiguous read, and each batch is transposed
after it is read. Y likewise; a 1-D Y holds one label per example.

The chunk-aware shuffle (:meth:`Stream.order`): each epoch draws, from the
network's host random stream, an order of the chunks and, for each chunk, an
order of its examples. The epoch visits the chunks in their drawn order and
each chunk's examples in theirs; batches take consecutive examples of that
sequence, so a batch holds examples of one chunk, or of two where it crosses
a chunk's end (more only when ``batch_size`` exceeds a chunk), and the
reader holds at most the chunks of one batch. Unlike a full permutation of
the m examples, two examples of different chunks never share a batch unless
their chunks are neighbours in the drawn order, and a batch's examples come
from a few chunks only. With a single chunk it is the full permutation, the
same draw as the in-memory loop's (``HostRandom.permutation``).

The epoch's order costs 4 bytes per example on the host (8 past 2**31
examples in one chunk).

A memmap with a file behind it is read with positioned reads of the file
(``os.preadv``), at the memmap's offset and strides, never through its
mapping. The file is opened once, by its path, when the stream is built (a
fit's start), and every batch is read from that descriptor until the
stream is dropped: a file replaced (``os.replace``) or deleted during the
fit is still the one read, and one replaced before the stream is built is
the new file. A file that shrinks while it is streamed (truncated in place)
is a :class:`StreamDataError` naming the file, where reading the mapping
beyond the file's end would kill the process (SIGBUS). A memmap of memory
(``X.view(np.memmap)``) or copy-on-write (``mode="c"``, whose changes live
only in the mapping) is read as an array.

A zarr array some of whose chunks were never written (they read as its
fill value) is streamed with a :class:`MissingChunksWarning`, once per
stream: zarr leaves out chunks that hold only the fill value, so they may
be meant, or may be files lost.
"""

from __future__ import annotations

import hashlib
import math
import mmap
import os
import sys
import warnings
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np

from .arrays import is_array, to_numpy
from .checks import check_integer
from .random import HostRandom
from .targets import Array, Target, dtype_name

BLOCK_BYTES = 16 * 2**20
"""The stored bytes of one block: the chunk of a memmap (or of another host
array), read and shuffled as one. Dask and zarr arrays keep their own chunks."""

THREAD_NAME = "nnarray-prefetch"
"""The name prefix of the thread that reads the next batch."""

Prepare = Callable[[np.ndarray, np.ndarray | None, tuple[list[np.ndarray], list[np.ndarray]]],
                  tuple[np.ndarray, np.ndarray | None]]
"""Checks and completes a host batch ``(X, Y)`` (lecture layout, the network's
dtype) before it goes to the device, given the parts of X and of Y it was
cast from (to tell an overflow in the cast from NaN or inf in the data);
raises ``ValueError`` on bad values."""


class StreamDataError(ValueError):
    """A batch of streamed data failed its checks (NaN or inf, labels); the
    message names the examples the batch came from."""


class MissingChunksWarning(UserWarning):
    """A zarr array being streamed has chunks never written, which read as
    its fill value."""


def uninitialized_chunks(a: Any) -> int:
    """How many chunks of the zarr array ``a`` have no stored data (zarr 2
    and 3: ``nchunks - nchunks_initialized``, a listing of the store). A
    sharded array (zarr 3) counts its inner chunks: those of shards never
    written, and those each stored shard's index marks empty."""
    sharding = _sharding(a)
    if sharding is not None:
        missing = _missing_inner_chunks(a, *sharding)
        if missing is not None:
            return missing
    return max(0, int(a.nchunks) - int(a.nchunks_initialized))


_EMPTY = 2**64 - 1
"""A shard index's offset and size of an inner chunk never written (the
zarr v3 sharding specification)."""


def _sharding(a: Any) -> tuple[tuple[int, ...], tuple[int, ...], dict[str, Any]] | None:
    """The shard shape, the inner chunk shape and the ``sharding_indexed``
    codec's configuration of a sharded zarr 3 array; ``None`` for any
    other (zarr 2 has no sharding)."""
    meta: Any = getattr(a, "metadata", None)
    if getattr(meta, "zarr_format", None) != 3:
        return None
    try:
        d = meta.to_dict()
        codecs = list(d.get("codecs") or ())
        grid = d["chunk_grid"]
    except Exception:  # a metadata object of another shape: zarr's own count
        return None
    if not codecs or not isinstance(codecs[0], dict) or codecs[0].get("name") != \
            "sharding_indexed" or grid.get("name") != "regular":
        return None
    config = dict(codecs[0].get("configuration") or {})
    shard = tuple(int(n) for n in grid["configuration"]["chunk_shape"])
    inner = tuple(int(n) for n in config["chunk_shape"])
    return shard, inner, config


def _missing_inner_chunks(a: Any, shard: tuple[int, ...], inner: tuple[int, ...],
                          config: dict[str, Any]) -> int | None:
    """The inner chunks of a sharded zarr 3 array not written, inside its
    shape, from each shard's index: ``prod(chunks per shard)`` pairs
    ``(offset, nbytes)`` of uint64, both ``2**64 - 1`` for an empty chunk,
    encoded by the index codecs (``bytes``, ``crc32c`` and ``transpose``
    are read; ``None`` for any other) at the shard's end or start."""
    per = tuple(s // c for s, c in zip(shard, inner, strict=True))
    endian, checksum, order = "<", 0, None
    for codec in config.get("index_codecs") or ():
        name, conf = codec.get("name"), codec.get("configuration") or {}
        if name == "bytes":
            endian = ">" if conf.get("endian") == "big" else "<"
        elif name == "crc32c":
            checksum += 4
        elif name == "transpose":
            order = tuple(int(i) for i in conf["order"])
        else:
            return None
    size = math.prod(per) * 16
    grid = tuple(-(-n // s) for n, s in zip(a.shape, shard, strict=True))
    try:
        indexes = _shard_indexes(a, list(np.ndindex(*grid)), size + checksum,
                                 config.get("index_location", "end") == "start")
    except Exception:  # a store or a zarr version that does not read ranges so
        return None
    missing = 0
    for coords, raw in indexes:
        # the inner chunks of this shard inside the array's shape
        inside = np.ones(per, dtype=bool)
        for axis, (c, p, n, width) in enumerate(zip(coords, per, a.shape, inner,
                                                    strict=True)):
            starts = (c * p + np.arange(p)) * width
            shape = [1] * len(per)
            shape[axis] = p
            inside &= (starts < n).reshape(shape)
        if raw is None:  # the shard was never written
            missing += int(inside.sum())
            continue
        table = np.frombuffer(raw[:size], dtype=f"{endian}u8")
        if order is None:
            table = table.reshape((*per, 2))
        else:  # stored transposed by ``order``: undo it
            stored = tuple((*per, 2)[i] for i in order)
            table = table.reshape(stored).transpose(np.argsort(order))
        empty = (table[..., 0] == _EMPTY) & (table[..., 1] == _EMPTY)
        missing += int((empty & inside).sum())
    return missing


def _shard_indexes(a: Any, shards: list[tuple[int, ...]], size: int,
                   at_start: bool) -> list[tuple[tuple[int, ...], bytes | None]]:
    """Each shard's index bytes (its first or last ``size`` bytes), read
    concurrently from the zarr 3 array ``a``'s store; ``None`` for a shard
    never written."""
    import asyncio

    from zarr.abc.store import RangeByteRequest, SuffixByteRequest
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    where = RangeByteRequest(0, size) if at_start else SuffixByteRequest(size)
    prototype = default_buffer_prototype()

    async def read(coords: tuple[int, ...]) -> tuple[tuple[int, ...], bytes | None]:
        key = a.metadata.encode_chunk_key(coords)
        got = await (a.store_path / key).get(prototype, where)
        return coords, None if got is None else got.to_bytes()

    async def every() -> list[tuple[tuple[int, ...], bytes | None]]:
        return list(await asyncio.gather(*(read(c) for c in shards)))

    return list(sync(every()))


def fill_value(a: Any) -> Any:
    """The zarr array ``a``'s fill value as a Python value (``0.0``, not
    ``np.float64(0.0)``), for messages."""
    fill = a.fill_value
    return fill.item() if isinstance(fill, np.generic) else fill


def is_streamable(x: Any) -> bool:
    """True for data read a batch at a time rather than converted as a whole:
    a Dask array, a NumPy memmap, a zarr array (when zarr is imported)."""
    return _kind(x) != "host"


def _kind(x: Any) -> str:
    if isinstance(x, np.memmap):
        return "memmap"
    if array_api_compat.is_dask_array(x):
        return "dask"
    zarr = sys.modules.get("zarr")
    if zarr is not None and isinstance(x, zarr.Array):
        return "zarr"
    return "host"


class _Source:
    """One stored array, read by ranges of examples: the layout, the chunks,
    and the host part of a range in the lecture's layout."""

    def __init__(self, name: str, a: Any, rows: bool, two_d: bool) -> None:
        kind = _kind(a)
        if kind == "host":
            a = to_numpy(a) if is_array(a) else np.asarray(a)
        shape = tuple(a.shape)
        if not all(isinstance(d, int | np.integer) for d in shape):
            raise ValueError(f"{name} has unknown chunk sizes (shape {shape}); call "
                             f"{name}.compute_chunk_sizes() first")
        layout = "(m, n) with examples as rows" if rows else "(n, m) with examples as columns"
        if len(shape) != 2 and (two_d or len(shape) != 1):
            raise ValueError(f"{name} must be 2-D {layout}"
                             f"{'' if two_d else ' or 1-D (one label per example)'}, "
                             f"got shape {shape}")
        dtype = np.dtype(a.dtype)
        if dtype.kind not in "biuf":
            raise TypeError(f"{name} must be a real numeric array, got dtype {dtype}")
        self.name, self.a, self.kind, self.dtype = name, a, kind, dtype
        self.axis = 0 if rows or len(shape) == 1 else 1  # the stored examples axis
        self.m = int(shape[self.axis])
        self.n = 1 if len(shape) == 1 else int(shape[1 - self.axis])
        if self.m == 0 or self.n == 0:
            raise ValueError(f"{name} is empty (shape {shape})")
        self.file = _file_of(a) if kind == "memmap" else None
        self.fd = -1  # the file's descriptor, open while this source lives
        if self.file is not None:
            self.fd = self.file.open(name)
            weakref.finalize(self, os.close, self.fd)
        if kind == "zarr":
            _warn_missing_chunks(name, a)

    def chunk_sizes(self, block_bytes: int) -> list[int]:
        """The sizes of the chunks along the examples axis."""
        if self.kind == "dask":
            return [int(c) for c in self.a.chunks[self.axis]]
        if self.kind == "zarr":
            step = int(self.a.chunks[self.axis])
        else:
            step = max(1, block_bytes // (self.n * self.dtype.itemsize))
        return [min(step, self.m - a) for a in range(0, self.m, step)]

    def part(self, lo: int, hi: int) -> Any:
        """Examples ``lo:hi`` as stored: lazy for Dask, read for zarr and for
        a memmap's file (positioned reads), a view of an array in memory."""
        index = (slice(lo, hi),) if self.axis == 0 else (slice(None), slice(lo, hi))
        if self.kind == "zarr":
            try:
                return np.asarray(self.a[index])
            except Exception as exc:  # zarr's codecs raise their own errors
                raise StreamDataError(self._unreadable(lo, hi, exc)) from None
        if self.file is not None:
            shape = list(self.a.shape)
            shape[self.axis] = hi - lo
            return self.file.read(self.name, self.fd, lo * self.file.strides[self.axis],
                                  tuple(shape))
        return self.a[index]

    def _unreadable(self, lo: int, hi: int, exc: Exception) -> str:
        """Why examples ``lo:hi`` of a zarr array cannot be read, naming the
        array and the first of its chunks there that fails (by its indices
        in the chunk grid)."""
        chunks = tuple(int(c) for c in self.a.chunks)
        grid = [range(lo // chunks[0], lo // chunks[0] + 1)]
        if len(chunks) == 2:  # every chunk along the features too
            grid = [range(-(-int(self.a.shape[i]) // chunks[i])) for i in (0, 1)]
            grid[self.axis] = range(lo // chunks[self.axis], lo // chunks[self.axis] + 1)
        where, reason = None, exc
        for coords in np.ndindex(*(len(g) for g in grid)):
            at = tuple(g[i] for g, i in zip(grid, coords, strict=True))
            try:
                np.asarray(self.a[tuple(slice(i * c, (i + 1) * c)
                                        for i, c in zip(at, chunks, strict=True))])
            except Exception as e:
                where, reason = at, e
                break
        chunk = "a chunk" if where is None else \
            f"chunk ({', '.join(map(str, where))})" if len(where) > 1 else f"chunk {where[0]}"
        return (f"{self.name} ({_zarr_label(self.a)}): {chunk} of examples {lo}..{hi - 1} "
                f"cannot be read: {type(reason).__name__}: {reason} (a damaged or "
                "partly written chunk file?)")

    def gather(self, raw: np.ndarray, sel: slice | np.ndarray) -> np.ndarray:
        """The examples ``sel`` of a part, in the lecture's layout ``(n, k)``
        (a view of a transposed copy for rows)."""
        if isinstance(sel, slice):
            got = raw[sel] if self.axis == 0 else raw[:, sel]
        else:
            got = np.take(raw, sel, axis=self.axis)
        if got.ndim == 1:
            return got[None, :]
        return got.T if self.axis == 0 else got


_READ_BYTES = 4 * 2**20  # a strided part is read in spans of about this size


@dataclass(frozen=True)
class _File:
    """Where a memmap's elements lie in its file: element ``[0, ...]`` at
    byte ``start``, the others ``strides`` bytes apart (any sign)."""

    path: str
    start: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    dtype: np.dtype

    def open(self, name: str) -> int:
        """The file opened for reading, after refusing one shorter than the
        array (before anything is read); the caller closes the descriptor."""
        _, hi = _extent(0, self.shape, self.strides, self.dtype.itemsize)
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError as exc:
            raise ValueError(f"{name} is a memmap of {self.path!r}, which cannot be read: "
                             f"{exc.strerror}") from None
        size = os.fstat(fd).st_size
        if self.start + hi > size:
            os.close(fd)
            raise ValueError(f"{name} is a memmap of {self.path!r} up to byte "
                             f"{self.start + hi:,}, but the file has {size:,} bytes "
                             "(truncated?)")
        return fd

    def read(self, name: str, fd: int, at: int, shape: tuple[int, ...]) -> np.ndarray:
        """A copy of the elements of ``shape`` whose first is at ``at``
        (relative to ``start``), read from the file open as ``fd``."""
        try:
            return self._read(fd, name, at, shape)
        except OSError as exc:
            raise StreamDataError(f"{name} is streamed from {self.path!r}, which cannot be "
                                  f"read: {exc.strerror or exc}") from None

    def _read(self, fd: int, name: str, at: int, shape: tuple[int, ...]) -> np.ndarray:
        for order in ("C", "F"):  # stored contiguously: one read into the result
            out = np.empty(shape, self.dtype, order=order)
            if all(s == t for n, s, t in zip(shape, self.strides, out.strides, strict=True)
                   if n > 1):
                _read_into(fd, name, self.path, self.start + at, out)
                return out
        result = np.empty(shape, self.dtype)
        out, strides = result, self.strides
        if len(shape) == 1:
            out, strides = result[:, None], (strides[0], 0)
        # spans of whole lines (along the axis of the shorter stride), read and copied
        if out.shape[1] == 1 or (out.shape[0] > 1 and abs(strides[0]) >= abs(strides[1])):
            outer = 0
        else:
            outer = 1
        lines = max(1, _READ_BYTES // max(abs(strides[outer]), 1))
        for j in range(0, out.shape[outer], lines):
            k = min(out.shape[outer], j + lines)
            part = (k - j, out.shape[1]) if outer == 0 else (out.shape[0], k - j)
            first = at + j * strides[outer]
            lo, hi = _extent(first, part, strides, self.dtype.itemsize)
            span = np.empty(hi - lo, np.uint8)
            _read_into(fd, name, self.path, self.start + lo, span)
            view = np.ndarray(part, self.dtype, buffer=span, offset=first - lo,
                              strides=strides)
            out[(slice(j, k),) if outer == 0 else (slice(None), slice(j, k))] = view
        return result


def _extent(at: int, shape: tuple[int, ...], strides: tuple[int, ...],
            itemsize: int) -> tuple[int, int]:
    """The bytes ``[lo, hi)`` spanned by the elements of ``shape`` and
    ``strides`` whose first starts at byte ``at``."""
    lo = hi = at
    for n, s in zip(shape, strides, strict=True):
        if n > 1:
            lo, hi = lo + min(0, (n - 1) * s), hi + max(0, (n - 1) * s)
    return lo, hi + itemsize


def _file_of(a: np.memmap) -> _File | None:
    """Where ``a``'s elements lie in its file; ``None`` for a memmap of
    memory, or one copy-on-write (its changes are in the mapping only)."""
    root: np.ndarray = a
    while isinstance(root.base, np.ndarray):
        root = root.base
    if (not isinstance(root, np.memmap) or not isinstance(root.base, mmap.mmap)
            or root.filename is None or root.offset is None or root.mode == "c"):
        return None
    start = root.offset + (a.__array_interface__["data"][0]
                           - root.__array_interface__["data"][0])
    return _File(str(root.filename), int(start), tuple(a.shape), tuple(a.strides),
                 np.dtype(a.dtype))


def _read_into(fd: int, name: str, path: str, at: int, out: np.ndarray) -> None:
    """Fill ``out``'s bytes from byte ``at`` of the file open as ``fd``
    (positioned reads: the descriptor's offset is never used, so threads may
    share it)."""
    # out is contiguous: ravel is a view; an ndarray is a buffer (NumPy's stubs say so
    # from Python 3.12 on)
    buffer = memoryview(out.ravel(order="K").view(np.uint8))  # type: ignore[arg-type]
    done = 0
    while done < len(buffer):
        if hasattr(os, "preadv"):
            got = os.preadv(fd, [buffer[done:]], at + done)
        else:  # Windows: a read at a position of a duplicate descriptor
            with os.fdopen(os.dup(fd), "rb", buffering=0) as f:
                f.seek(at + done)
                got = f.readinto(buffer[done:]) or 0
        if got == 0:
            size = os.fstat(fd).st_size
            raise StreamDataError(
                f"{name} is streamed from {path!r}, which now ends at byte {size:,}: the "
                f"batch needs bytes {at:,} to {at + len(buffer):,} (was the file truncated "
                "or rewritten while it was read?)")
        done += got


def _warn_missing_chunks(name: str, a: Any) -> None:
    missing = uninitialized_chunks(a)
    if missing:
        label = _zarr_label(a)
        warnings.warn(MissingChunksWarning(
            f"{name} ({label}) has {missing:,} of {a.nchunks:,} chunks not written: they "
            f"read as its fill value {fill_value(a)!r}. zarr leaves out chunks that hold "
            "only the fill value, so this may be meant; if chunk files were lost, training "
            "sees the fill value there (open_arrays(..., missing_chunks='error') refuses "
            "such arrays)"), stacklevel=5)


def _zarr_label(a: Any) -> str:
    """``zarr array '/X' of 'file:///data/d.zarr'``: the zarr array ``a``
    by its name and store, for messages."""
    where = getattr(a, "store_path", None) or getattr(getattr(a, "store", None), "path", None)
    return f"zarr array {a.name!r}" + (f" of {str(where)!r}" if where else "")


@dataclass(frozen=True)
class Order:
    """An epoch's order: the chunks in reading order, and for each (aligned)
    the order of its examples."""

    chunks: np.ndarray
    within: tuple[np.ndarray, ...]


class Stream:
    """X (and Y) read a batch at a time onto ``target`` as ``dtype``.

    ``examples_as_rows``: X ``(m, n_x)`` and Y ``(m, n_y)`` or ``(m,)``
    instead of the lecture's ``(n_x, m)`` and ``(n_y, m)``. ``prepare``
    checks and completes each host batch (see :data:`Prepare`). Building a
    stream reads nothing."""

    def __init__(self, X: Any, Y: Any = None, *, target: Target, dtype: Any,
                 examples_as_rows: bool = False, prepare: Prepare | None = None,
                 block_bytes: int = BLOCK_BYTES) -> None:
        self.X = _Source("X", X, examples_as_rows, two_d=True)
        self.Y = None if Y is None else _Source("Y", Y, examples_as_rows, two_d=False)
        if self.Y is not None and self.Y.m != self.X.m:
            where = "rows (examples_as_rows=True)" if examples_as_rows else "columns"
            raise ValueError(f"Y has {self.Y.m} examples but X has {self.X.m} "
                             f"(examples are {where})")
        self.target, self.dtype = target, dtype_name(dtype)
        self.examples_as_rows = examples_as_rows
        self.prepare = prepare
        self.chunk_sizes = tuple(self.X.chunk_sizes(block_bytes))
        self.starts = tuple(int(s) for s in np.cumsum((0, *self.chunk_sizes[:-1])))

    @property
    def m(self) -> int:
        """The number of examples."""
        return self.X.m

    @property
    def n_x(self) -> int:
        """The number of features."""
        return self.X.n

    @property
    def n_y(self) -> int | None:
        """The rows of Y in the lecture's layout (``None`` without Y)."""
        return None if self.Y is None else self.Y.n

    def __repr__(self) -> str:
        return (f"Stream(X {self.X.kind} {tuple(self.X.a.shape)} {self.X.dtype}, "
                f"{len(self.chunk_sizes)} chunks, as {self.dtype} on {self.target.device})")

    def n_batches(self, batch_size: int | None) -> int:
        """How many batches an epoch has (``None``: one per chunk)."""
        return len(self.chunk_sizes) if batch_size is None else -(-self.m // batch_size)

    def order(self, random: HostRandom) -> Order:
        """An epoch's chunk-aware shuffle drawn from ``random`` (see the
        module's docstring): with one chunk the draw of ``permutation(m)``."""
        chunks, within = random.chunked_permutation(self.chunk_sizes)
        return Order(chunks, tuple(within))

    def batches(self, batch_size: int | None = None, order: Order | None = None, *,
                device: bool = True) -> Batches:
        """An epoch's batches ``(X_b, Y_b)`` of ``batch_size`` examples (the
        last one partial; ``None``: one batch per chunk) in ``order`` (``None``:
        as stored), on the device (``device=False``: host NumPy arrays). Use it
        as a context manager: leaving it stops the reading thread."""
        if batch_size is not None:
            batch_size = check_integer("batch_size", batch_size, 1)
        return Batches(self, batch_size, order, device)

    def fingerprint(self) -> dict[str, Any]:
        """The shapes and SHA-256 of X and Y as the network sees them (each
        batch of one chunk cast, checked and in the lecture's layout, hashed
        in order): a checkpoint's record of the data. Reads all of it once."""
        hx, hy = hashlib.sha256(), hashlib.sha256()
        with self.batches(device=False) as batches:
            # device=False: NumPy arrays (buffers, which NumPy's stubs say from Python 3.12 on)
            for Xb, Yb in batches:
                hx.update(Xb.view(np.uint8))  # type: ignore[attr-defined]
                if Yb is not None:
                    hy.update(np.ascontiguousarray(Yb).view(np.uint8))  # type: ignore[arg-type]
        return {"shape": [self.n_x, self.m], "dtype": self.dtype, "streamed": True,
                "chunks": len(self.chunk_sizes), "sha256": hx.hexdigest(),
                "Y_sha256": None if self.Y is None else hy.hexdigest()}

    def map(self, fn: Callable[[Array], Array], batch_size: int | None = None) -> np.ndarray:
        """``fn`` of each batch of X, in order, joined along the examples into
        a host NumPy array (predictions of streamed data)."""
        parts = []
        with self.batches(batch_size) as batches:
            for Xb, _ in batches:
                parts.append(to_numpy(fn(Xb)))
        return np.concatenate(parts, axis=1)


class Batches:
    """An epoch of batches (see :meth:`Stream.batches`): an iterator and a
    context manager. One thread reads batch k+1 while batch k is used; on
    leaving (the end, an error, Ctrl-C) the pending read is cancelled or
    waited for and the thread stops."""

    def __init__(self, stream: Stream, batch_size: int | None, order: Order | None,
                 device: bool) -> None:
        self._reader = _Reader(stream, order, device)
        self._plans = _plans([stream.chunk_sizes[c] for c in self._reader.chunks], batch_size)
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[Any] | None = None

    def __enter__(self) -> Batches:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __iter__(self) -> Iterator[tuple[Array, Array | None]]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix=THREAD_NAME)
        plan = next(self._plans, None)
        if plan is not None:
            self._pending = self._pool.submit(self._reader.batch, plan)
        while self._pending is not None:
            done = self._pending.result()
            plan = next(self._plans, None)
            self._pending = None if plan is None else self._pool.submit(self._reader.batch,
                                                                         plan)
            yield done

    def close(self) -> None:
        """Cancel or wait for the pending read and stop the thread."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _plans(sizes: Sequence[int], batch_size: int | None) -> Iterator[list[tuple[int, int, int]]]:
    """Each batch as pieces ``(k, u0, u1)``: examples ``u0:u1`` (in the
    chunk's order) of the k-th chunk in reading order."""
    if batch_size is None:
        for k, size in enumerate(sizes):
            yield [(k, 0, size)]
        return
    pieces: list[tuple[int, int, int]] = []
    room = batch_size
    for k, size in enumerate(sizes):
        u = 0
        while u < size:
            n = min(room, size - u)
            pieces.append((k, u, u + n))
            u, room = u + n, room - n
            if room == 0:
                yield pieces
                pieces, room = [], batch_size
    if pieces:
        yield pieces


class _Reader:
    """Builds the batches of one epoch, on the reading thread only: reads the
    chunks a batch needs and keeps only the last one (the next batch may
    continue it)."""

    def __init__(self, stream: Stream, order: Order | None, device: bool) -> None:
        self.s, self.device = stream, device
        self.chunks = (np.arange(len(stream.chunk_sizes)) if order is None
                       else order.chunks)
        self.within = None if order is None else order.within
        self._cache: dict[int, tuple[Any, Any]] = {}

    def _chunk(self, c: int) -> tuple[Any, Any]:
        if c not in self._cache:
            s = self.s
            lo, hi = s.starts[c], s.starts[c] + s.chunk_sizes[c]
            parts = [src.part(lo, hi) for src in (s.X, s.Y) if src is not None]
            lazy = [i for i, src in enumerate((s.X, s.Y)) if src is not None
                    and src.kind == "dask"]
            if lazy:
                import dask

                computed = dask.compute(*(parts[i] for i in lazy))
                for i, value in zip(lazy, computed, strict=True):
                    parts[i] = np.asarray(value)
            self._cache[c] = (parts[0], parts[1] if len(parts) > 1 else None)
        return self._cache[c]

    def batch(self, pieces: list[tuple[int, int, int]]) -> tuple[Any, Any]:
        s = self.s
        needed = {int(self.chunks[k]) for k, _, _ in pieces}
        self._cache = {c: v for c, v in self._cache.items() if c in needed}
        xs, ys, where = [], [], []
        for k, u0, u1 in pieces:
            c = int(self.chunks[k])
            raw_x, raw_y = self._chunk(c)
            sel = slice(u0, u1) if self.within is None else self.within[k][u0:u1]
            xs.append(s.X.gather(raw_x, sel))
            if s.Y is not None:
                ys.append(s.Y.gather(raw_y, sel))
            where.append(f"{s.starts[c]}..{s.starts[c] + s.chunk_sizes[c] - 1}")
        last = int(self.chunks[pieces[-1][0]])
        self._cache = {last: self._cache[last]}
        X = _joined(xs, s.dtype)
        Y = _joined(ys, s.dtype) if ys else None
        if s.prepare is not None:
            try:
                X, Y = s.prepare(X, Y, (xs, ys))
            except ValueError as exc:
                what = "examples" if self.within is None else "a batch drawn from examples"
                raise StreamDataError(f"{exc} (in {what} {', '.join(where)} of the stream)"
                                      ) from None
        if not self.device:
            return X, Y
        return s.target.put(X), None if Y is None else s.target.put(Y)


def _joined(parts: list[np.ndarray], dtype: str) -> np.ndarray:
    """The parts side by side as a new C-ordered array of ``dtype`` (the cast
    of one batch; an overflow in the cast is left to ``prepare`` to report)."""
    with np.errstate(over="ignore"):
        if len(parts) == 1:
            return np.array(parts[0], dtype=dtype, order="C", copy=True)
        return np.concatenate(parts, axis=1, dtype=dtype, casting="unsafe")
