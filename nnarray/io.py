"""Model files: ``.npz`` of host arrays plus a JSON metadata entry. No pickle.

Saving writes a temporary file in the same folder (its name holds the
writer's process id and a random part, so concurrent writers never share
one), fsyncs it and renames it over the target: a crash mid-save leaves any
old file intact, and of two processes saving to one path the last rename wins
whole. A temporary file left by a killed writer is never read. A new file
gets the permissions ``np.savez`` would give it (``0o666`` less the umask),
an overwritten one keeps its own; a symbolic link is kept and its target
replaced.

A model file is untrusted input, and loading reads it metadata first, with
bounds. Before a byte of array data is read, :func:`load_arrays` checks:

- the zip's central directory is small (at most ``MAX_ENTRIES`` entries),
  holds exactly the records its end record declares, each name once (read
  in one pass, before the zip reader parses it), and
  every entry is stored uncompressed (``np.savez`` writes no other kind), not
  encrypted, with a local header that agrees with the directory, its data
  inside the file and overlapping no other entry's;
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

Data files larger than memory are opened without being read:
:func:`open_memmap` maps a ``.npy`` or a stored ``.npz`` member,
:func:`open_arrays` every array of a ``.npz`` or a zarr group; ``fit(...,
batch_size=)`` then streams them. Their zip directory is read in one pass
too, and no reader here passes on NumPy's advice to allow pickle: an array
of Python objects is refused in nnarray's words.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
import secrets
import stat
import struct
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from glob import escape as glob_escape
from pathlib import Path
from typing import IO, Any

import numpy as np

from ._version import __version__

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

_DIRECTORY_BYTES_PER_ENTRY = 256  # a central directory record of "W123.npy" is ~60 bytes
_HEADER_MAX = 10_000  # the .npy header limit NumPy itself applies
_CHUNK = 1 << 20  # arrays are read in pieces this big, into their final buffer
_DTYPES = ("float32", "float64")

_LOCAL = struct.Struct("<4s5H3L2H")  # a zip local file header, before name and extra
_CENTRAL = struct.Struct("<4s6H3L5H2L")  # a central directory record, before name and extra
_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_ZIP64_EXTRA = 0x0001
_FLAG_ENCRYPTED = 0x1
_FLAG_DATA_DESCRIPTOR = 0x8


def save_arrays(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray],
                meta: Mapping[str, Any]) -> Path:
    """Write ``arrays`` and ``meta`` to ``path`` atomically; returns the path.

    The file is written whole to a temporary file next to it, then renamed
    over it: a reader sees the old file or the new one, never a part.
    Permissions: a new file gets ``0o666`` less the umask, as ``np.savez``
    gives it; a file overwritten keeps its permission bits. A symbolic link
    stays a link: its target is replaced (the temporary file is made in the
    target's folder, so that the rename is atomic there). Errors are
    ``OSError`` naming ``path`` (never the temporary file; see
    :func:`check_writable` for the folder's), and leave the file at
    ``path`` as it was.
    """
    path = Path(path)
    if _META_KEY in arrays:
        raise ValueError(f"array name {_META_KEY!r} is reserved")
    header = dict(meta, format=FORMAT, format_version=FORMAT_VERSION,
                  nnarray_version=__version__)
    payload: dict[str, Any] = dict(arrays)
    payload[_META_KEY] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    target = _target(path)
    problem = _unwritable(path, target)
    if problem is not None:
        kind, reason = problem
        raise kind(f"cannot write {str(path)!r}: {reason}")
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None  # a new file: the umask decides, as for any file created
    except OSError as exc:
        raise _write_error(path, exc) from None
    _remove_stale_temporaries(target.parent, target.name)
    try:
        fd, tmp = _create_temporary(target.parent, target.name)
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None:
                _chmod(f.fileno(), tmp, mode)
            np.savez(f, **payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _write_error(path, exc) from None
        raise
    return path


def check_writable(path: str | os.PathLike[str], name: str) -> None:
    """Refuse a ``path`` that :func:`save_arrays` could not write, before
    any work is done for it: ``FileNotFoundError`` when its folder does not
    exist, ``NotADirectoryError`` when that is no folder,
    ``IsADirectoryError`` when ``path`` is a folder, ``PermissionError``
    when the folder is not writable. The message names the argument
    ``name`` (e.g. ``"--save"``) and ``path``. A symbolic link is
    followed, as saving follows it."""
    path = Path(path)
    problem = _unwritable(path, _target(path))
    if problem is not None:
        kind, reason = problem
        raise kind(f"{name} {str(path)!r} cannot be written: {reason}")


def _target(path: Path) -> Path:
    """The file a save to ``path`` replaces: ``path``, or where its symbolic
    links lead."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else path


def _unwritable(path: Path, target: Path) -> tuple[type[OSError], str] | None:
    """Why ``target`` (``path`` followed) cannot be written: the error type
    and the reason, naming the folder as the user wrote it; ``None`` when it
    can."""
    linked = target != path
    via = f"it links to {str(target)!r}, and " if linked else ""
    folder = target.parent
    shown = str(folder) if linked else str(path.parent)
    if os.path.islink(target):
        return OSError, "its symbolic links form a loop"
    if target.is_dir():
        return IsADirectoryError, f"{via}{'that' if linked else 'it'} is a folder"
    if not folder.exists():
        return FileNotFoundError, f"{via}folder {shown!r} does not exist"
    if not folder.is_dir():
        return NotADirectoryError, f"{via}{shown!r} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return PermissionError, f"{via}folder {shown!r} is not writable"
    return None


_NAME_MAX = 255
"""The longest file name, in bytes, on common file systems (ext4, XFS,
APFS, NTFS counts 255 characters: no fewer bytes)."""


def _temporary_prefix(name: str) -> str:
    """``.NAME.``, the start of the temporary files of saves to ``name``. A
    name too long to leave room for ``PID.RANDOM.tmp`` (up to 24 bytes) is cut,
    and 12 hex digits of its SHA-256 keep two long names apart."""
    raw = os.fsencode(name)
    if len(raw) <= _NAME_MAX - 28:
        return f".{name}."
    digest = hashlib.sha256(raw).hexdigest()[:12]
    return f".{os.fsdecode(raw[:_NAME_MAX - 28 - 13])}~{digest}."


def _create_temporary(folder: Path, name: str) -> tuple[int, Path]:
    """A new file ``.NAME.PID.RANDOM.tmp`` in ``folder`` (see
    :func:`_temporary_prefix`), open for writing, created with mode
    ``0o666`` (the umask applies)."""
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    prefix = _temporary_prefix(name)
    while True:
        tmp = folder / f"{prefix}{os.getpid()}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def _chmod(fd: int, path: Path, mode: int) -> None:
    if hasattr(os, "fchmod"):
        os.fchmod(fd, mode)
    else:
        os.chmod(path, mode)


def _write_error(path: Path, exc: OSError) -> OSError:
    """``exc``, met while writing ``path``, reworded to name ``path`` (not
    the temporary file)."""
    reason = exc.strerror or str(exc) or type(exc).__name__  # strerror: without file names
    message = f"cannot write {str(path)!r}: {reason} (any file there is unchanged)"
    try:
        error = type(exc)(message)
    except Exception:  # an OSError subclass with a constructor of its own
        error = OSError(message)
    error.errno = exc.errno
    return error


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
                raise _Refused("is not a .npy array (NumPy's format): it does not start "
                               "with NumPy's magic bytes")
            return _map_npy(f, path, 0, os.fstat(f.fileno()).st_size, "an array",
                            exact=False)
    with _refusals(path, _NPZ), open(path, "rb") as f:
        members = _members(f)
        if key is None:
            if len(members) != 1:
                raise _Refused(f"holds the arrays {sorted(members)}: say which with key=")
            key = next(iter(members))
        if key not in members:
            raise _Refused(f"has no array {key!r} (it holds {sorted(members)})")
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
        members = _members(f)
        # one mapping of the archive, each member a view of it: a mapping holds a file
        # descriptor, and an archive may have more members than a process may open files
        whole = np.memmap(path, dtype=np.uint8, mode="r")
        return {key: _map_member(f, path, key, info, whole) for key, info in members.items()}


_NPZ = "a .npz archive (a zip file, as np.savez writes)"


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
        from .backend.streams import fill_value, uninitialized_chunks

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
    except _Refused as exc:
        raise ValueError(f"{str(path)!r} {exc}") from None
    except (zipfile.BadZipFile, EOFError, struct.error, NotImplementedError) as exc:
        raise ValueError(f"{str(path)!r} is not {what} that can be read: {exc}") from None


def _members(f: IO[bytes]) -> dict[str, zipfile.ZipInfo]:
    """The ``.npy`` members of the zip archive open as ``f``, by name
    without ``.npy``; the directory checked in one pass first."""
    _check_directory(f, os.fstat(f.fileno()).st_size, _NPZ, None)
    with zipfile.ZipFile(f) as zf:
        return {i.filename[:-4]: i for i in zf.infolist() if i.filename.endswith(".npy")}


def _map_member(f: IO[bytes], path: Path, key: str, info: zipfile.ZipInfo,
                whole: np.memmap | None = None) -> np.ndarray:
    """The checked member ``key`` (``info``) of the archive open as ``f``,
    mapped (a view of ``whole``, the archive's bytes mapped, when given)."""
    if info.compress_type != zipfile.ZIP_STORED:
        raise _Refused(f"stores {key!r} compressed (np.savez_compressed): a compressed "
                       "member cannot be memory-mapped; write it with np.savez, or read "
                       "it into memory with np.load")
    start, stop, _ = _check_entry(f, os.fstat(f.fileno()).st_size, info)
    return _map_npy(f, path, start, stop, repr(key), exact=True, whole=whole)


def _map_npy(f: IO[bytes], path: Path, start: int, stop: int, what: str, *,
             exact: bool, whole: np.memmap | None = None) -> np.ndarray:
    """The ``.npy`` array in bytes ``start:stop`` of ``f`` (the file
    ``path``), mapped read-only after its header is checked; ``exact``: the
    array must end at ``stop`` (a zip member), else within it (a file).
    With ``whole`` (the file mapped as bytes) a view of it, no new mapping."""
    f.seek(start)
    shape, fortran, dtype = _npy_header(f, what)
    if dtype.hasobject:
        raise _Refused(f"holds {what} as Python objects (dtype {dtype}), which would need "
                       "pickle to read; nnarray reads only numeric arrays and never "
                       "unpickles")
    offset = f.tell()
    nbytes = math.prod(shape) * dtype.itemsize
    if offset + nbytes > stop or (exact and offset + nbytes != stop):
        raise _Refused(f"has {what} of {stop - start:,} bytes where its header "
                       f"implies {offset - start + nbytes:,}")
    if nbytes == 0:  # nothing to map (mmap refuses a length of 0)
        return np.empty(shape, dtype=dtype)
    if whole is not None:  # a view of the file's mapping: a memmap, sharing its descriptor
        return whole[offset:offset + nbytes].view(dtype).reshape(
            shape, order="F" if fortran else "C")
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=tuple(shape),
                     order="F" if fortran else "C")


def _npy_header(f: IO[bytes], what: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """The shape, Fortran order and dtype of the ``.npy`` header at ``f``'s
    position (``what`` names the array): versions 1.0 and 2.0, at most
    ``_HEADER_MAX`` bytes."""
    try:
        version = np.lib.format.read_magic(f)
    except ValueError:
        raise _Refused(f"has {what} that is not in NumPy's .npy format (no .npy magic "
                       "bytes)") from None
    if version not in ((1, 0), (2, 0)):
        raise _Refused(f"has {what} in .npy format {version}, expected 1.0 or 2.0")
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    try:
        shape, fortran, dtype = read_header(f, _HEADER_MAX)
    except ValueError as exc:
        raise _Refused(f"has {what} that cannot be read: {numpy_refusal(exc)}") from None
    return tuple(shape), bool(fortran), dtype


def numpy_refusal(exc: BaseException) -> str:
    """NumPy's reason for not reading a ``.npy`` array, in nnarray's words:
    never its advice to load with ``allow_pickle=True``."""
    text = str(exc)
    if "max_header_size" in text or "Header info length" in text:
        return (f"its .npy header is longer than the {_HEADER_MAX:,} bytes read "
                "(a header of a numeric array is a few hundred)")
    if "pickle" in text.lower():
        return ("it holds Python objects (pickled data); nnarray reads only numeric "
                "arrays and never unpickles")
    return text


def _remove_stale_temporaries(folder: Path, name: str) -> None:
    """Delete the temporary files of earlier saves to ``name`` whose writer
    process is gone (killed mid-save); a live writer's file is left alone."""
    prefix = _temporary_prefix(name)
    for tmp in folder.glob(f"{glob_escape(prefix)}*.tmp"):
        pid = tmp.name[len(prefix):].split(".", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but another user's
        return True
    return True


class _Refused(Exception):
    """A reason to refuse the file; :func:`load_arrays` turns it into the ValueError."""


def load_arrays(
    path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by :func:`save_arrays`: ``(arrays, meta)``.

    The metadata and every entry's ``.npy`` header are checked before any
    array data is read (see the module's docstring); at most ``max_bytes``
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
    except _Refused as exc:
        raise ValueError(f"{name} {exc}") from None
    except Exception as exc:  # any parse failure of a damaged file is the same error to a user
        raise ValueError(
            f"{name} is not a readable nnarray model file (truncated or corrupt?): "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _read(f: IO[bytes], max_bytes: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    size = os.fstat(f.fileno()).st_size
    count = _check_directory(f, size, _MODEL, MAX_ENTRIES)
    with zipfile.ZipFile(f) as zf:
        infos = zf.infolist()
        by_name = {i.filename: i for i in infos}
        if len(infos) != count or len(by_name) != count:  # the reader agrees with the check
            raise _Refused(f"is not {_MODEL}: its zip directory reads as {len(infos):,} "
                           f"entries, {len(by_name):,} names, where {count:,} are declared")
        meta_info = by_name.get(_META_KEY + ".npy")
        if meta_info is None:
            raise _Refused(
                "is not a readable nnarray model file: it has no nnarray metadata "
                "(it was not saved by nnarray)"
            )
        regions = [_check_entry(f, size, meta_info)]
        meta = _read_meta(zf, meta_info)
        expected = _expected_entries(meta)
        _check_names(by_name, expected)
        total = sum(math.prod(shape) for shape in expected.values())
        total *= np.dtype(meta["dtype"]).itemsize
        if total > max_bytes:
            raise _Refused(
                f"asks for {total:,} bytes of arrays (layer_dims={meta['layer_dims']}, "
                f"{meta['dtype']}), more than max_bytes={max_bytes:,}; if you trust this "
                "file, load it with a larger max_bytes"
            )
        regions += [_check_entry(f, size, by_name[key + ".npy"]) for key in expected]
        _check_regions(regions, size)
        headers = {key: _check_header(zf, by_name[key + ".npy"], key, shape, meta["dtype"])
                   for key, shape in expected.items()}
        arrays = {key: _read_array(zf, by_name[key + ".npy"], key, *headers[key])
                  for key in expected}
    return arrays, meta


_MODEL = "a readable nnarray model file"


def _check_directory(f: IO[bytes], size: int, kind: str, max_entries: int | None) -> int:
    """Check the zip's central directory in one pass, before the zip reader
    parses it (the reader holds every record in memory, and parses records
    until the directory's bytes end, whatever their count); returns the
    number of entries.

    The directory is found as the zip reader finds it (the end record, and
    a zip64 record where a zip64 locator precedes the end record). It must
    hold exactly the records the end record declares, each with a distinct
    name; with ``max_entries``, at most that many, of short records. Work
    and memory are linear in the directory's size, which is at most the
    file's. ``kind`` says what the file should be, for the refusals."""
    tail_len = min(size, _EOCD.size + 0xFFFF)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + _EOCD.size > len(tail):
        raise _Refused(f"is not {kind}: no zip end of central directory record")
    end = size - tail_len + at  # where the directory ends
    # the directory's offset is not read: the zip reader finds it back from its end
    _, disk, cd_disk, here, count, cd_size, _, _ = _EOCD.unpack_from(tail, at)
    if end >= _EOCD64_LOCATOR.size:
        f.seek(end - _EOCD64_LOCATOR.size)
        sig, locator_disk, _, disks = _EOCD64_LOCATOR.unpack(f.read(_EOCD64_LOCATOR.size))
        if sig == b"PK\x06\x07":  # the zip reader then reads the zip64 record before it
            if locator_disk or disks > 1:
                raise _Refused(f"is not {kind}: a multi-disk zip")
            end -= _EOCD64_LOCATOR.size + _EOCD64.size
            if end < 0:
                raise _Refused(f"is not {kind}: its zip64 end record is missing")
            f.seek(end)
            sig, _, _, _, disk, cd_disk, here, count, cd_size, _ = _EOCD64.unpack(
                f.read(_EOCD64.size))
            if sig != b"PK\x06\x06":
                raise _Refused(f"is not {kind}: bad zip64 end of central directory record")
    if disk or cd_disk or here != count:
        raise _Refused(f"is not {kind}: a multi-disk zip")
    if max_entries is not None and (
            count > max_entries or cd_size > _DIRECTORY_BYTES_PER_ENTRY * max(count, 1)):
        raise _Refused(
            f"is not {kind}: its zip directory has {count:,} entries in {cd_size:,} bytes "
            f"(a model file has at most {max_entries:,} short entries)"
        )
    start = end - cd_size
    if start < 0 or cd_size < count * _CENTRAL.size:
        raise _Refused(f"is not {kind}: its zip directory of {cd_size:,} bytes cannot hold "
                       f"the {count:,} entries its end record declares")
    f.seek(start)
    directory = f.read(cd_size)
    names: set[str] = set()
    twice: set[str] = set()
    at = 0
    for i in range(count):
        if at + _CENTRAL.size > cd_size:
            raise _Refused(f"is not {kind}: its zip directory holds {i:,} records where its "
                           f"end record declares {count:,}")
        (sig, _, version, flags, _, _, _, _, _, _, name_len, extra_len, comment_len,
         _, _, _, _) = _CENTRAL.unpack_from(directory, at)
        stop = at + _CENTRAL.size + name_len + extra_len + comment_len
        if sig != b"PK\x01\x02" or stop > cd_size:
            raise _Refused(f"is not {kind}: its zip directory holds {i:,} records where its "
                           f"end record declares {count:,}")
        if version > zipfile.MAX_EXTRACT_VERSION:
            raise _Refused(f"is not {kind}: an entry needs zip version {version / 10:.1f}")
        raw = directory[at + _CENTRAL.size:at + _CENTRAL.size + name_len]
        try:
            # the name as the zip reader makes it (cut at a NUL, separators normalized)
            name = zipfile.ZipInfo(raw.decode("utf-8" if flags & 0x800 else "cp437")).filename
        except UnicodeDecodeError:
            raise _Refused(f"is not {kind}: entry {i:,} has a name that is not UTF-8: "
                           f"{_short(raw)}") from None
        if name in names:
            twice.add(name)
        names.add(name)
        at = stop
    if at != cd_size:
        raise _Refused(f"is not {kind}: its zip directory holds more than the {count:,} "
                       f"records its end record declares ({cd_size - at:,} bytes more)")
    if twice:
        raise _Refused(f"is not {kind}: entries {_short(sorted(twice))} appear more than once")
    return int(count)


def _check_entry(f: IO[bytes], size: int, info: zipfile.ZipInfo) -> tuple[int, int, str]:
    """Check one entry's directory record and local header; its data's byte range."""
    what = f"entry {info.filename!r}"
    if info.compress_type != zipfile.ZIP_STORED:
        raise _Refused(
            f"has a compressed {what} (zip method {info.compress_type}); nnarray writes "
            "entries uncompressed, and refuses others: their size is unknown until inflated"
        )
    if info.flag_bits & _FLAG_ENCRYPTED:
        raise _Refused(f"has an encrypted {what}")
    if info.compress_size != info.file_size:
        raise _Refused(
            f"has a stored {what} whose sizes disagree ({info.compress_size:,} bytes stored, "
            f"{info.file_size:,} claimed)"
        )
    if info.header_offset < 0 or info.header_offset + _LOCAL.size > size:
        raise _Refused(f"has an {what} whose header lies outside the file")
    f.seek(info.header_offset)
    (sig, _, flags, method, _, _, crc, csize, usize,
     name_len, extra_len) = _LOCAL.unpack(f.read(_LOCAL.size))
    name = f.read(name_len)
    extra = f.read(extra_len)
    if sig != b"PK\x03\x04" or len(extra) != extra_len:
        raise _Refused(f"is not a readable nnarray model file: bad local header of {what}")
    if name != info.orig_filename.encode("utf-8" if flags & 0x800 else "cp437"):
        raise _Refused(f"is not a readable nnarray model file: {what}'s local header names "
                       f"{name!r}")
    if method != info.compress_type or flags & _FLAG_ENCRYPTED:
        raise _Refused(f"has an {what} whose local header disagrees with the directory")
    if not flags & _FLAG_DATA_DESCRIPTOR:
        if 0xFFFFFFFF in (csize, usize):
            usize, csize = _zip64_sizes(extra, usize, csize, what)
        if (csize, usize, crc) != (info.compress_size, info.file_size, info.CRC):
            raise _Refused(f"has an {what} whose local header disagrees with the directory "
                           f"(sizes {csize:,}/{usize:,}, directory {info.file_size:,})")
    start = info.header_offset + _LOCAL.size + name_len + extra_len
    return start, start + info.compress_size, info.filename


def _zip64_sizes(extra: bytes, usize: int, csize: int, what: str) -> tuple[int, int]:
    """The sizes from a local header's zip64 extra field (in the order the format gives)."""
    i = 0
    while i + 4 <= len(extra):
        tag, n = struct.unpack_from("<2H", extra, i)
        body = extra[i + 4:i + 4 + n]
        if len(body) != n:
            break
        if tag == _ZIP64_EXTRA:
            values = [v for (v,) in struct.iter_unpack("<Q", body[: n - n % 8])]
            if usize == 0xFFFFFFFF:
                if not values:
                    break
                usize = values.pop(0)
            if csize == 0xFFFFFFFF:
                if not values:
                    break
                csize = values.pop(0)
            return usize, csize
        i += 4 + n
    raise _Refused(f"has an {what} whose zip64 sizes cannot be read from its local header")


def _check_regions(regions: list[tuple[int, int, str]], size: int) -> None:
    """Entries' data lie inside the file and overlap nowhere: what is read is
    at most the file's size."""
    end, before = 0, None
    for start, stop, name in sorted(regions):
        if stop > size:
            raise _Refused(f"is truncated: entry {name!r} ends at byte {stop:,} of {size:,}")
        if start < end:
            raise _Refused(f"has entries {before!r} and {name!r} that overlap")
        end, before = stop, name


def _header(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[Any, tuple[int, ...], bool,
                                                                  np.dtype, int]:
    """Open an entry and read its .npy header: (open file, shape, fortran, dtype, header bytes)."""
    fp = zf.open(info)
    try:
        shape, fortran, dtype = _npy_header(fp, f"an entry {info.filename!r}")
    except BaseException:
        fp.close()
        raise
    return fp, shape, fortran, dtype, fp.tell()


def _read_meta(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> dict[str, Any]:
    fp, shape, _, dtype, offset = _header(zf, info)
    with fp:
        if dtype != np.dtype(np.uint8) or len(shape) != 1:
            raise _Refused(f"has corrupt nnarray metadata: expected a 1-D uint8 array, "
                           f"got dtype {dtype} shape {shape}")
        if shape[0] > MAX_META_BYTES:
            raise _Refused(f"has {shape[0]:,} bytes of metadata, more than "
                           f"{MAX_META_BYTES:,} (a model's is a few hundred)")
        if info.file_size != offset + shape[0]:
            raise _Refused(f"has a metadata entry of {info.file_size:,} bytes where its header "
                           f"implies {offset + shape[0]:,}")
        raw = _read_exactly(fp, shape[0])
    try:
        meta = json.loads(raw.decode(), parse_int=_parse_int)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Refused(f"has corrupt nnarray metadata: {exc}") from None
    if not isinstance(meta, dict):
        raise _Refused("has corrupt nnarray metadata: not a JSON object")
    long = _long_integer(meta)
    if long is not None:
        field, digits = long
        raise _Refused(f"has corrupt nnarray metadata: {field} is an integer of {digits:,} "
                       f"digits (at most {MAX_INT_DIGITS} are read)")
    if meta.get("format") != FORMAT:
        raise _Refused(f"is not an nnarray model (format={meta.get('format')!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise _Refused(
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
        raise _Refused(f"{bad}layer_dims must be a list of 2 to {MAX_LAYERS + 1} layer sizes, "
                       f"got {_short(dims)}")
    for l, n in enumerate(dims):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise _Refused(f"{bad}layer_dims[{l}] must be a positive integer, got {_short(n)}")
    if meta.get("dtype") not in _DTYPES:
        raise _Refused(f"{bad}dtype must be one of {list(_DTYPES)}, got "
                       f"{_short(meta.get('dtype'))}")
    expected = {}
    for l in range(1, len(dims)):
        expected[f"W{l}"] = (dims[l], dims[l - 1])
        expected[f"b{l}"] = (dims[l], 1)
    prefixes = meta.get("state_prefixes", [])
    if (not isinstance(prefixes, list) or len(set(map(str, prefixes))) != len(prefixes)
            or not set(prefixes) <= set(STATE_PREFIXES)):
        raise _Refused(f"{bad}state_prefixes must be distinct names from "
                       f"{list(STATE_PREFIXES)}, got {_short(prefixes)}")
    expected |= {f"{p}.{k}": shape for p in prefixes for k, shape in list(expected.items())}
    return expected


def _check_names(by_name: Mapping[str, zipfile.ZipInfo],
                 expected: Mapping[str, tuple[int, int]]) -> None:
    want = {k + ".npy" for k in expected} | {_META_KEY + ".npy"}
    missing = sorted(k[:-4] for k in want - set(by_name))
    extra = sorted(set(by_name) - want)
    if missing or extra:
        raise _Refused(
            f"is not a consistent nnarray model: its layer_dims ask for {sorted(expected)}; "
            f"missing {missing}, unexpected entries {_short(extra)}"
        )


def _check_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, key: str,
                  shape: tuple[int, int], dtype_name: str) -> tuple[np.dtype, bool]:
    """The entry's .npy header against the metadata, and its size against both."""
    fp, got_shape, fortran, dtype, offset = _header(zf, info)
    fp.close()
    bad = "is not a consistent nnarray model: "
    if dtype.hasobject:
        raise _Refused(f"{bad}{key} holds Python objects (dtype {dtype}), which would need "
                       "pickle to load; nnarray never unpickles")
    if dtype.kind != "f" or dtype.itemsize != np.dtype(dtype_name).itemsize:
        raise _Refused(f"{bad}{key} has dtype {dtype.name}, the metadata says {dtype_name}")
    if got_shape != shape:
        l = key[1:]
        what = f"(n[{l}], n[{int(l) - 1}])" if key[0] == "W" else f"(n[{l}], 1)"
        raise _Refused(f"{bad}{key} must have shape {what} = {shape} by the metadata's "
                       f"layer_dims, the file has {got_shape}")
    nbytes = math.prod(shape) * dtype.itemsize
    if info.file_size != offset + nbytes:
        raise _Refused(
            f"has an entry {info.filename!r} of {info.file_size:,} bytes where its header "
            f"and the metadata imply {offset + nbytes:,}"
        )
    return dtype, fortran


def _read_array(zf: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, dtype: np.dtype,
                fortran: bool) -> np.ndarray:
    """The checked entry's data, read in pieces into one array (native byte order, C order)."""
    fp, shape, _, _, _ = _header(zf, info)
    with fp:
        flat = np.empty(math.prod(shape), dtype=dtype)
        # an ndarray is a buffer; NumPy's stubs say so from Python 3.12 on
        _read_exactly(fp, flat.nbytes, out=memoryview(flat).cast("B"))  # type: ignore[arg-type]
        if fp.read(1):
            raise _Refused(f"has an entry {info.filename!r} longer than its header says")
    array = flat.reshape(shape, order="F" if fortran else "C")
    native = dtype.newbyteorder("=")
    if dtype != native or fortran:
        array = np.ascontiguousarray(array, dtype=native)
    return array


def _read_exactly(fp: IO[bytes], n: int, out: memoryview | None = None) -> bytes:
    """``n`` bytes from ``fp`` (into ``out`` when given), a piece at a time."""
    pieces = []
    done = 0
    while done < n:
        piece = fp.read(min(_CHUNK, n - done))
        if not piece:
            raise _Refused(f"is truncated: an entry ended after {done:,} of {n:,} bytes")
        if out is None:
            pieces.append(piece)
        else:
            out[done:done + len(piece)] = piece
        done += len(piece)
    return b"".join(pieces)


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (metadata can be anything)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
