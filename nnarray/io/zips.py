"""Bounded reading of zip archives and of the ``.npy`` arrays they hold.

A file read here is untrusted input. The zip's central directory is
checked in one pass before Python's zip reader parses it
(:func:`check_directory`): exactly the records its end record declares,
each name once, and with a bound, at most that many short records. Each
entry's record and local header must agree, its data be stored
uncompressed, unencrypted, inside the file and overlapping no other entry
(:func:`check_entry`, :func:`check_regions`). A ``.npy`` header is read
with NumPy's limit on its size (:func:`npy_header`), and data a piece at a
time (:func:`read_exactly`). Nothing is ever unpickled. A reason to refuse
a file is a :class:`Refused`, which its reader turns into a ``ValueError``
naming the file.
"""

from __future__ import annotations

import struct
import zipfile
from typing import IO, Any

import numpy as np

_DIRECTORY_BYTES_PER_ENTRY = 256  # a central directory record of "W123.npy" is ~60 bytes
_HEADER_MAX = 10_000  # the .npy header limit NumPy itself applies
_CHUNK = 1 << 20  # arrays are read in pieces this big, into their final buffer

_LOCAL = struct.Struct("<4s5H3L2H")  # a zip local file header, before name and extra
_CENTRAL = struct.Struct("<4s6H3L5H2L")  # a central directory record, before name and extra
_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_ZIP64_EXTRA = 0x0001
_FLAG_ENCRYPTED = 0x1
_FLAG_DATA_DESCRIPTOR = 0x8


class Refused(Exception):
    """A reason to refuse the file; its reader turns it into a ``ValueError``
    naming the file."""


def check_directory(f: IO[bytes], size: int, kind: str, max_entries: int | None) -> int:
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
        raise Refused(f"is not {kind}: no zip end of central directory record")
    end = size - tail_len + at  # where the directory ends
    # the directory's offset is not read: the zip reader finds it back from its end
    _, disk, cd_disk, here, count, cd_size, _, _ = _EOCD.unpack_from(tail, at)
    if end >= _EOCD64_LOCATOR.size:
        f.seek(end - _EOCD64_LOCATOR.size)
        sig, locator_disk, _, disks = _EOCD64_LOCATOR.unpack(f.read(_EOCD64_LOCATOR.size))
        if sig == b"PK\x06\x07":  # the zip reader then reads the zip64 record before it
            if locator_disk or disks > 1:
                raise Refused(f"is not {kind}: a multi-disk zip")
            end -= _EOCD64_LOCATOR.size + _EOCD64.size
            if end < 0:
                raise Refused(f"is not {kind}: its zip64 end record is missing")
            f.seek(end)
            sig, _, _, _, disk, cd_disk, here, count, cd_size, _ = _EOCD64.unpack(
                f.read(_EOCD64.size))
            if sig != b"PK\x06\x06":
                raise Refused(f"is not {kind}: bad zip64 end of central directory record")
    if disk or cd_disk or here != count:
        raise Refused(f"is not {kind}: a multi-disk zip")
    if max_entries is not None and (
            count > max_entries or cd_size > _DIRECTORY_BYTES_PER_ENTRY * max(count, 1)):
        raise Refused(
            f"is not {kind}: its zip directory has {count:,} entries in {cd_size:,} bytes "
            f"(a model file has at most {max_entries:,} short entries)"
        )
    start = end - cd_size
    if start < 0 or cd_size < count * _CENTRAL.size:
        raise Refused(f"is not {kind}: its zip directory of {cd_size:,} bytes cannot hold "
                       f"the {count:,} entries its end record declares")
    f.seek(start)
    directory = f.read(cd_size)
    names: set[str] = set()
    twice: set[str] = set()
    at = 0
    for i in range(count):
        if at + _CENTRAL.size > cd_size:
            raise Refused(f"is not {kind}: its zip directory holds {i:,} records where its "
                           f"end record declares {count:,}")
        (sig, _, version, flags, _, _, _, _, _, _, name_len, extra_len, comment_len,
         _, _, _, _) = _CENTRAL.unpack_from(directory, at)
        stop = at + _CENTRAL.size + name_len + extra_len + comment_len
        if sig != b"PK\x01\x02" or stop > cd_size:
            raise Refused(f"is not {kind}: its zip directory holds {i:,} records where its "
                           f"end record declares {count:,}")
        if version > zipfile.MAX_EXTRACT_VERSION:
            raise Refused(f"is not {kind}: an entry needs zip version {version / 10:.1f}")
        raw = directory[at + _CENTRAL.size:at + _CENTRAL.size + name_len]
        try:
            # the name as the zip reader makes it (cut at a NUL, separators normalized)
            name = zipfile.ZipInfo(raw.decode("utf-8" if flags & 0x800 else "cp437")).filename
        except UnicodeDecodeError:
            raise Refused(f"is not {kind}: entry {i:,} has a name that is not UTF-8: "
                           f"{short(raw)}") from None
        if name in names:
            twice.add(name)
        names.add(name)
        at = stop
    if at != cd_size:
        raise Refused(f"is not {kind}: its zip directory holds more than the {count:,} "
                       f"records its end record declares ({cd_size - at:,} bytes more)")
    if twice:
        raise Refused(f"is not {kind}: entries {short(sorted(twice))} appear more than once")
    return int(count)


def check_entry(f: IO[bytes], size: int, info: zipfile.ZipInfo) -> tuple[int, int, str]:
    """Check one entry's directory record and local header; its data's byte range."""
    what = f"entry {info.filename!r}"
    if info.compress_type != zipfile.ZIP_STORED:
        raise Refused(
            f"has a compressed {what} (zip method {info.compress_type}); nnarray writes "
            "entries uncompressed, and refuses others: their size is unknown until inflated"
        )
    if info.flag_bits & _FLAG_ENCRYPTED:
        raise Refused(f"has an encrypted {what}")
    if info.compress_size != info.file_size:
        raise Refused(
            f"has a stored {what} whose sizes disagree ({info.compress_size:,} bytes stored, "
            f"{info.file_size:,} claimed)"
        )
    if info.header_offset < 0 or info.header_offset + _LOCAL.size > size:
        raise Refused(f"has an {what} whose header lies outside the file")
    f.seek(info.header_offset)
    (sig, _, flags, method, _, _, crc, csize, usize,
     name_len, extra_len) = _LOCAL.unpack(f.read(_LOCAL.size))
    name = f.read(name_len)
    extra = f.read(extra_len)
    if sig != b"PK\x03\x04" or len(extra) != extra_len:
        raise Refused(f"is not a readable nnarray model file: bad local header of {what}")
    if name != info.orig_filename.encode("utf-8" if flags & 0x800 else "cp437"):
        raise Refused(f"is not a readable nnarray model file: {what}'s local header names "
                       f"{name!r}")
    if method != info.compress_type or flags & _FLAG_ENCRYPTED:
        raise Refused(f"has an {what} whose local header disagrees with the directory")
    if not flags & _FLAG_DATA_DESCRIPTOR:
        if 0xFFFFFFFF in (csize, usize):
            usize, csize = _zip64_sizes(extra, usize, csize, what)
        if (csize, usize, crc) != (info.compress_size, info.file_size, info.CRC):
            raise Refused(f"has an {what} whose local header disagrees with the directory "
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
    raise Refused(f"has an {what} whose zip64 sizes cannot be read from its local header")


def check_regions(regions: list[tuple[int, int, str]], size: int) -> None:
    """Entries' data lie inside the file and overlap nowhere: what is read is
    at most the file's size."""
    end, before = 0, None
    for start, stop, name in sorted(regions):
        if stop > size:
            raise Refused(f"is truncated: entry {name!r} ends at byte {stop:,} of {size:,}")
        if start < end:
            raise Refused(f"has entries {before!r} and {name!r} that overlap")
        end, before = stop, name


def open_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[Any, tuple[int, ...], bool,
                                                                  np.dtype, int]:
    """Open an entry and read its .npy header: (open file, shape, fortran, dtype, header bytes)."""
    fp = zf.open(info)
    try:
        shape, fortran, dtype = npy_header(fp, f"an entry {info.filename!r}")
    except BaseException:
        fp.close()
        raise
    return fp, shape, fortran, dtype, fp.tell()


def npy_header(f: IO[bytes], what: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """The shape, Fortran order and dtype of the ``.npy`` header at ``f``'s
    position (``what`` names the array): versions 1.0 and 2.0, at most
    ``_HEADER_MAX`` bytes."""
    try:
        version = np.lib.format.read_magic(f)
    except ValueError:
        raise Refused(f"has {what} that is not in NumPy's .npy format (no .npy magic "
                       "bytes)") from None
    if version not in ((1, 0), (2, 0)):
        raise Refused(f"has {what} in .npy format {version}, expected 1.0 or 2.0")
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    try:
        shape, fortran, dtype = read_header(f, _HEADER_MAX)
    except ValueError as exc:
        raise Refused(f"has {what} that cannot be read: {numpy_refusal(exc)}") from None
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


def read_exactly(fp: IO[bytes], n: int, out: memoryview | None = None) -> bytes:
    """``n`` bytes from ``fp`` (into ``out`` when given), a piece at a time."""
    pieces = []
    done = 0
    while done < n:
        piece = fp.read(min(_CHUNK, n - done))
        if not piece:
            raise Refused(f"is truncated: an entry ended after {done:,} of {n:,} bytes")
        if out is None:
            pieces.append(piece)
        else:
            out[done:done + len(piece)] = piece
        done += len(piece)
    return b"".join(pieces)


def short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (metadata can be anything)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
