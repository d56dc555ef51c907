"""Atomic writes, and the checks of their targets.

A file is written to a temporary file in the same folder (its name holds
the writer's process id and a random part, so concurrent writers never
share one), fsynced and renamed over the target: a crash mid-write leaves
any old file intact, and of two processes writing one path the last rename
wins whole. A temporary file left by a killed writer is never read, and is
removed by the next write to that path. A new file gets the permissions
``np.savez`` would give it (``0o666`` less the umask), an overwritten one
keeps its own; a symbolic link is kept and its target replaced.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from collections.abc import Callable
from glob import escape as glob_escape
from pathlib import Path
from typing import IO


def write_atomically(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> Path:
    """Write a file at ``path`` by ``write(f)``, atomically; returns the path.

    The file is written whole to a temporary file next to it, fsynced, then
    renamed over it: a reader sees the old file or the new one, never a
    part. Permissions: a new file gets ``0o666`` less the umask, as
    ``np.savez`` gives it; a file overwritten keeps its permission bits. A
    symbolic link stays a link: its target is replaced (the temporary file
    is made in the target's folder, so that the rename is atomic there).
    Errors are ``OSError`` naming ``path`` (never the temporary file; see
    :func:`check_writable` for the folder's), and leave the file at
    ``path`` as it was.
    """
    path = Path(path)
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
            write(f)
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
    """Refuse a ``path`` that :func:`write_atomically` could not write, before
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
