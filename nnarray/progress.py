"""What training shows while it runs, and how a run's summary reads.

While it runs (:class:`Progress`, on stderr): on a terminal, a tqdm bar with
the steps and the latest cost (without tqdm, an optional extra, a line now
and then); when stderr is no terminal (a pipe, a log file, a notebook), a line
every :data:`PIPE_EVERY` seconds, so a long run is never silent and a short one
prints nothing.

After it (the command line and the examples): :func:`summary_rows` picks about
ten recorded costs, :func:`plain_execution` says in plain words what
:func:`nnarray.engines.describe` says in its own terms, and
:func:`exit_quietly` ends a program whose reader went away (``| head``).
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from .backend import sharding

clock: Callable[[], float] = time.monotonic
"""The clock the lines are timed by (tests put a stand-in clock here)."""

PIPE_EVERY = 5.0
"""Seconds between two lines when stderr is no terminal."""
TERMINAL_EVERY = 2.0
"""Seconds between two lines on a terminal without tqdm."""


class Progress:
    """``update(n)`` after ``n`` steps, ``record(i, cost)`` at record points.

    ``total`` steps in all; ``enabled=False`` shows nothing. On a terminal:
    a tqdm bar, or without tqdm a first line at the first record point and
    then one every :data:`TERMINAL_EVERY` seconds; elsewhere a line every
    :data:`PIPE_EVERY` seconds, none before. Lines are checked after each
    step, or after each compiled chunk where chunks run."""

    def __init__(self, total: int, enabled: bool = True, stream: Any = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.total, self.done = total, 0
        self.bar = None
        self.every: float | None = None  # seconds between lines; None: no lines
        self.cost: float | None = None
        self.start = self.next_line = 0.0
        if not enabled or not sharding.is_main_process():
            return
        isatty = getattr(self.stream, "isatty", None)
        terminal = bool(isatty and isatty())
        if terminal:
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self.bar = tqdm(total=total, file=self.stream, unit="it", dynamic_ncols=True,
                                desc="training")
                return
        self.every = TERMINAL_EVERY if terminal else PIPE_EVERY
        self.start = clock()
        # on a terminal the first record point prints at once; elsewhere after `every`
        self.next_line = self.start if terminal else self.start + self.every

    @property
    def counts_steps(self) -> bool:
        """Whether :meth:`update` shows anything (a bar, or timed lines)."""
        return self.bar is not None or self.every is not None

    def update(self, n: int = 1) -> None:
        """``n`` steps done."""
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.every is not None:
            self._line()

    def record(self, iteration: int, cost: float) -> None:
        """Show the latest recorded cost."""
        self.cost = cost
        if self.bar is not None:
            self.bar.set_postfix(cost=f"{cost:.6f}", refresh=False)
        elif self.every is not None:
            self._line()

    def _line(self) -> None:
        """A line, when :attr:`every` seconds have passed since the last one."""
        now = clock()
        if self.every is None or now < self.next_line:
            return
        self.next_line = now + self.every
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        cost = "" if self.cost is None else f", cost {self.cost:.6f}"
        print(f"training: {self.done} of {self.total} steps{share}{cost}, "
              f"{now - self.start:.0f} s", file=self.stream, flush=True)

    def close(self) -> None:
        """End the bar (also after an error or Ctrl-C)."""
        if self.bar is not None:
            self.bar.close()


def summary_rows(iterations: Sequence[int], costs: Sequence[float],
                 about: int = 10) -> list[list[Any]]:
    """``[iteration, cost]`` rows at about ``about`` record points evenly spread
    (every k-th, k = ⌈(n − 1) / about⌉), the first and the last included."""
    n = len(iterations)
    k = max(1, math.ceil((n - 1) / about)) if n > 1 else 1
    picked = list(range(0, n, k))
    if n and picked[-1] != n - 1:
        picked.append(n - 1)
    return [[iterations[i], costs[i]] for i in picked]


def plural(n: int, word: str) -> str:
    """``"1 iteration"``, ``"2 iterations"``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


LIBRARIES = {"numpy": "NumPy", "cupy": "CuPy", "torch": "PyTorch", "jax": "JAX",
             "dask": "Dask", "array_api_strict": "array-api-strict"}


def _where(device: str) -> str:
    if device == "cpu":
        return "the CPU"
    if device.startswith("cuda:") and "," not in device:
        return f"the GPU {device}"
    return device


def plain_execution(execution: str) -> str:
    """:func:`nnarray.engines.describe`'s words for a student, e.g.
    ``"cpu (numpy, step by step)"`` -> ``"the CPU with NumPy"``, ``"cuda:0
    (jax, compiled chunks of 100)"`` -> ``"the GPU cuda:0 with JAX, compiled
    100 iterations at a time"``. A text it does not know comes back as it is."""
    found = re.fullmatch(r"(\S+) \((\w+), (.*)\)", execution)
    if found is None:
        return execution
    device, name, how = found.groups()
    words = [f"{_where(device)} with {LIBRARIES.get(name, name)}"]
    parallel = re.search(r", data parallel over (\d+) devices$", how)
    if parallel:
        how = how[:parallel.start()]
    chunk = re.fullmatch(r"(compiled chunks|CUDA graph, chunks)(?: of (\d+))?", how)
    if chunk:
        size = f"{chunk[2]} iterations" if chunk[2] else "the iterations between two records"
        words.append(f"compiled {size} at a time" if chunk[1].startswith("compiled") else
                     f"{size} at a time, replayed as one CUDA graph")
    elif how.startswith("jitted steps"):
        words.append("each iteration compiled")
    elif how.startswith("fused kernels"):
        words.append("each iteration run from Python with fused kernels")
    why = how.partition(": ")[2]
    if why:
        words.append(f"one operation at a time ({why})")
    if parallel:
        words.append(f"the examples split over {parallel[1]} devices")
    return ", ".join(words)


def exit_quietly() -> int:
    """After a :class:`BrokenPipeError` (the reader of stdout went away, as
    ``| head`` does): stdout goes to the null device, so that Python's last
    flush raises nothing, and the exit status is 141 (128 + SIGPIPE), as Unix
    tools stop. Returns that status."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):  # no real file (a test's capture)
        pass
    return 141


def run_quietly(main: Callable[[], Any]) -> None:
    """``main()``, ending quietly when stdout's reader goes away (``| head``)."""
    try:
        main()
        sys.stdout.flush()  # what is left in the buffer: the last write is here
    except BrokenPipeError:
        sys.exit(exit_quietly())
