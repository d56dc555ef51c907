"""How the contenders are timed: interleaved rounds, every clock read after a
device sync, every timing after a garbage collection.

A contender that raises (a capture the library refuses, a device out of
memory) is dropped from the run with its error as the reason, and the others
go on.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

Run = Callable[[int], None]


@dataclass
class Entry:
    """A made contender: ``run(k)``, the ``sync`` to call around it, ``k``
    iterations per timing and ``warm`` iterations of warm-up."""

    run: Run
    sync: Callable[[], None]
    k: int
    warm: int


def failure(exc: BaseException) -> str:
    """An exception as one line for the report."""
    text = str(exc).strip().splitlines()
    return f"failed: {type(exc).__name__}" + (f": {text[0][:200]}" if text else "")


def interleaved(entries: dict[str, Entry], repeats: int,
                failed: dict[str, str] | None = None) -> dict[str, float]:
    """Median seconds per iteration of each entry, timed in rounds: every
    contender once per round, in an order drawn afresh each round (seeded),
    so that a machine that slows down mid-run slows all of them alike and no
    contender always follows the same one (whose library's threads may still
    spin for a while). Entries that raise are left out and named in
    ``failed`` with the error."""
    failed = {} if failed is None else failed
    live = dict(entries)
    for name, e in list(live.items()):
        try:
            if e.warm:
                e.run(e.warm)  # warm-up: allocations, JIT, kernels, captures, caches
            e.sync()
        except Exception as exc:
            failed[name] = failure(exc)
            del live[name]
    names = list(live)
    times: dict[str, list[float]] = {n: [] for n in names}
    # Every timing starts from a collected heap, so that no contender pays for
    # the garbage of the one before it (Dask's graphs, freed tensors). What
    # is alive now is frozen first: those collections then cost microseconds,
    # not the ~160 ms of a full one with every library imported.
    gc.collect()
    gc.freeze()
    try:
        order = random.Random(0)
        for _ in range(repeats):
            for name in order.sample(names, len(names)):
                if name in failed:
                    continue
                e = live[name]
                gc.collect()
                try:
                    e.sync()
                    t0 = time.perf_counter()
                    e.run(e.k)
                    e.sync()
                except Exception as exc:
                    failed[name] = failure(exc)
                    continue
                times[name].append((time.perf_counter() - t0) / e.k)
    finally:
        gc.unfreeze()
    return {n: statistics.median(t) for n, t in times.items() if n not in failed and t}


def minibatch_times(fits: dict[str, tuple[Callable[[], None], Callable[[], None]]],
                    repeats: int, epochs: int,
                    failed: dict[str, str] | None = None) -> dict[str, tuple[float, float]]:
    """``name: (seconds per epoch, seconds of the first fit)`` for each
    ``name: (fit, sync)``. The first fit of each contender is timed alone,
    compiles and captures included (nothing of its shapes ran before in this
    process); then warm fits in interleaved rounds give the time per epoch
    (a warm fit of ``epochs`` epochs / ``epochs``)."""
    failed = {} if failed is None else failed
    first: dict[str, float] = {}
    for name, (fit, sync) in fits.items():
        try:
            sync()
            t0 = time.perf_counter()
            fit()
            sync()
            first[name] = time.perf_counter() - t0
        except Exception as exc:
            failed[name] = failure(exc)

    def run_of(name: str) -> Run:
        return lambda _k: fits[name][0]()

    entries = {n: Entry(run_of(n), fits[n][1], 1, 0) for n in first}
    per_fit = interleaved(entries, repeats, failed)
    return {n: (per_fit[n] / epochs, first[n]) for n in per_fit}


def peak_memory(run: Run) -> int:
    """Peak bytes NumPy allocated during 2 iterations of an already warm ``run``
    (tracemalloc sees NumPy's allocations, not torch's or a GPU's)."""
    run(1)
    tracemalloc.start()
    try:
        run(2)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
