"""Training over several processes (hosts) on JAX.

Start one process per host (or per GPU), call :func:`initialize` in each
before anything else touches JAX, then train on ``device="all"``: the device
set spans every process's devices, each process passes only its own columns
of X and Y (:func:`shard`), and XLA all-reduces the gradients across hosts.
The first process alone prints and writes files (:func:`is_main_process`).

    import nnarray as nn
    nn.distributed.initialize("10.0.0.1:1234", num_processes=2, process_id=0)
    X, Y = nn.distributed.shard(X_all, Y_all)        # this process's columns
    net = nn.Network([12288, 20, 7, 5, 1], device="all")
    net.fit(X, Y)
    if nn.distributed.is_main_process():
        net.save("cat.npz")
"""

from __future__ import annotations

import socket
import time
from typing import Any

import numpy as np

from .backend import check_integer, sharding
from .backend.libraries import _import

MAX_PROCESSES = 2**16
"""The most processes :func:`initialize` takes."""

CPU_COLLECTIVES = ("gloo", "mpi", "megascale")
"""JAX's implementations of collectives between host devices of several
processes (``jax_cpu_collectives_implementation``)."""

DEFAULT_TIMEOUT = 300
"""Seconds a process waits for the run to form without ``timeout`` (JAX's
``initialization_timeout`` default)."""

MAX_TIMEOUT = 10**8
"""The longest ``timeout`` taken, in seconds (about three years)."""

_connect = socket.create_connection  # stand-ins in tests: no network, no waiting
_clock = time.monotonic
_sleep = time.sleep


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *,
               local_device_ids: int | list[int] | None = None,
               cpu_collectives: str | None = "gloo", timeout: int | None = None) -> None:
    """Join a multi-process run: ``jax.distributed.initialize``.

    ``coordinator`` is process 0's ``HOST:PORT``; with no arguments JAX
    detects the cluster from the environment (SLURM, Open MPI, Kubernetes,
    Cloud TPU). ``num_processes`` is in 1..2**16, ``process_id`` in
    0..num_processes−1. ``cpu_collectives`` is the implementation of
    collectives between host devices of several processes (one of
    :data:`CPU_COLLECTIVES`; ``None`` keeps JAX's setting). ``timeout``:
    seconds to wait (default 300, JAX's). A process other than 0 first waits
    for the coordinator's port to answer (:func:`wait_for_coordinator`) and
    raises ``TimeoutError`` when it does not within ``timeout``; then JAX
    waits for every process to join (JAX's ``initialization_timeout``),
    after which JAX ends the process (SIGABRT; ``nnarray train
    --distributed`` exits first, with one line). Call it once, first thing,
    in every process.

    The arguments are checked before JAX is imported.
    """
    join(coordinator, num_processes, process_id, local_device_ids=local_device_ids,
         cpu_collectives=cpu_collectives, timeout=timeout)


def join(coordinator: str | None, num_processes: int | None, process_id: int | None, *,
         local_device_ids: int | list[int] | None = None, cpu_collectives: str | None = "gloo",
         timeout: int | None = None, jax_timeout: int | None = None) -> None:
    """:func:`initialize`, with JAX's own deadline ``jax_timeout`` apart
    from ``timeout`` (default: the same), for a caller that ends the process
    itself before JAX does (the command's watchdog)."""
    coordinator, num_processes, process_id = check_run(coordinator, num_processes, process_id)
    if cpu_collectives is not None and cpu_collectives not in CPU_COLLECTIVES:
        raise ValueError(f"cpu_collectives must be one of {', '.join(map(repr, CPU_COLLECTIVES))} "
                         f"or None (JAX's setting), got {cpu_collectives!r}")
    options: dict[str, Any] = {}
    if timeout is not None:
        timeout = options["initialization_timeout"] = check_integer("timeout", timeout, 1,
                                                                    MAX_TIMEOUT)
    if jax_timeout is not None:
        options["initialization_timeout"] = check_integer("jax_timeout", jax_timeout, 1)
    if coordinator is not None and process_id != 0:
        wait_for_coordinator(coordinator, DEFAULT_TIMEOUT if timeout is None else timeout)
    jax = _import("jax")
    if cpu_collectives is not None:
        jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                               process_id=process_id, local_device_ids=local_device_ids,
                               **options)


def check_run(coordinator: Any, num_processes: Any, process_id: Any,
              names: tuple[str, str, str] = ("coordinator", "num_processes", "process_id")
              ) -> tuple[str | None, int | None, int | None]:
    """The coordinator, the number of processes (1..2**16) and this one's
    id (0..num_processes−1), checked, all three or none; errors name them
    as ``names`` says."""
    given = [coordinator is None, num_processes is None, process_id is None]
    if any(given) and not all(given):
        raise ValueError("initialize() takes coordinator, num_processes and process_id "
                         "together, or none of them (JAX then reads the cluster's "
                         f"environment); got coordinator={coordinator!r}, "
                         f"num_processes={num_processes!r}, process_id={process_id!r}")
    if coordinator is None:
        return None, None, None
    coordinator = check_coordinator(coordinator, names[0])
    num_processes = check_integer(names[1], num_processes, 1, MAX_PROCESSES)
    process_id = check_integer(names[2], process_id, 0, num_processes - 1)
    return coordinator, num_processes, process_id


def wait_for_coordinator(coordinator: str, timeout: float, retry: float = 0.25) -> None:
    """Return once the coordinator's port (``HOST:PORT``, process 0's)
    accepts a connection (the connection is closed at once), tried again
    ``retry`` seconds after each refusal; ``TimeoutError`` naming it when it
    does not within ``timeout`` seconds."""
    host, _, port = coordinator.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    deadline = _clock() + timeout
    while True:
        left = deadline - _clock()
        try:
            with _connect((host, int(port)), max(left, 0.001)):
                return
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
        left = deadline - _clock()
        if left <= 0:
            raise TimeoutError(
                f"no coordinator answered at {coordinator} within {timeout:g} s ({reason}): "
                "start process 0 there, or check the address and that its port is open")
        _sleep(min(retry, left))


def check_coordinator(address: Any, name: str = "coordinator") -> str:
    """``address`` if it is ``HOST:PORT`` with a port in 1..65535 (an IPv6
    host in brackets, ``[::1]:1234``), else an error naming ``name``."""
    expected = f"{name} must be process 0's address HOST:PORT with a port in 1..65535"
    if not isinstance(address, str):
        raise TypeError(f"{expected}, got {address!r}")
    host, _, port = address.rpartition(":")
    if (not host or any(c.isspace() for c in address) or not (port.isascii() and port.isdigit())
            or not 1 <= int(port) <= 65535):
        raise ValueError(f"{expected}, got {address!r}")
    return address


def process_index() -> int:
    """This process's index (0 without a multi-process run)."""
    jax = _import("jax")
    return int(jax.process_index())


def process_count() -> int:
    """How many processes take part (1 without a multi-process run)."""
    jax = _import("jax")
    return int(jax.process_count())


def is_main_process() -> bool:
    """True in the process that prints and writes files (process 0)."""
    return sharding.is_main_process()


def shard(*arrays: Any, index: int | None = None, count: int | None = None) -> tuple[Any, ...]:
    """This process's columns of each array ``(n, m)`` (X ``(n_x, m)``, Y
    ``(n_y, m)``, all with the same m): the ``index``-th of ``count`` nearly
    equal consecutive parts, none empty (default: this process of all).
    Every process loads the same data and keeps its part; for data too large
    for that, load only the part (the same split) yourself."""
    if count is not None:
        count = check_integer("count", count, 1)
    if index is not None:
        index = check_integer("index", index, 0, None if count is None else count - 1)
    m = None
    for i, a in enumerate(arrays):
        name = "X" if i == 0 else "Y" if i == 1 else f"arrays[{i}]"
        shape = getattr(a, "shape", None)
        if shape is None:
            raise TypeError(f"{name} must be an array (n, m), got {type(a).__name__}")
        if len(shape) != 2:
            hint = " (one row of labels: Y.reshape(1, -1))" if len(shape) == 1 and i else ""
            raise ValueError(f"{name} must be 2-D (n, m) with examples as columns, got shape "
                             f"{tuple(shape)}{hint}")
        if m is None:
            m = shape[1]
        elif shape[1] != m:
            raise ValueError(f"{name} has {shape[1]} examples (columns), X has {m}: shape "
                             f"{tuple(shape)}")
    count = process_count() if count is None else count
    index = process_index() if index is None else index
    if index >= count:
        raise ValueError(f"index must be an integer in 0..{count - 1}, got {index!r}")
    if m is not None and m < count:
        raise ValueError(f"{m} examples cannot be split into {count} parts (count), "
                         "one per process: each needs at least one")
    bounds = np.linspace(0, m or 0, count + 1).round().astype(int)
    return tuple(a[:, bounds[index]:bounds[index + 1]] for a in arrays)
