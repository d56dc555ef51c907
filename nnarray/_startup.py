"""The ``nnarray`` command's start: Ctrl-C while the package is still being
imported (NumPy, the backends: a few hundred milliseconds) ends the command
with one line and exit status 130, as Ctrl-C does later
(:func:`nnarray.cli.main`), not with a traceback. Nothing changes in any
other process: a program that imports nnarray keeps Python's handling.
The package imports this module first, and :func:`guard` runs then."""

from __future__ import annotations

import itertools
import os
import sys
from types import TracebackType


def is_command() -> bool:
    """True in the process of the ``nnarray`` command: its console script,
    or ``python -m nnarray`` (while Python imports the package for ``-m``,
    ``sys.argv[0]`` is ``"-m"`` and ``sys.orig_argv`` names the module)."""
    if not sys.argv:
        return False
    if sys.argv[0] == "-m":
        argv = list(getattr(sys, "orig_argv", ()))
        return "-mnnarray" in argv or any(
            a == "-m" and b == "nnarray" for a, b in itertools.pairwise(argv))
    name = os.path.basename(sys.argv[0])
    return name in ("nnarray", "nnarray.exe", "nnarray-script.py")


def guard() -> None:
    """In the command's process, an uncaught ``KeyboardInterrupt`` prints
    ``nnarray: interrupted`` and exits with status 130 (``sys.excepthook``);
    elsewhere nothing."""
    if not is_command():
        return
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException,
             traceback: TracebackType | None) -> None:
        if not issubclass(kind, KeyboardInterrupt):
            previous(kind, value, traceback)
            return
        try:
            sys.stdout.flush()
        finally:
            print("nnarray: interrupted", file=sys.stderr, flush=True)
            os._exit(130)  # Python would end the process by SIGINT

    sys.excepthook = hook


guard()
