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

from typing import Any

import numpy as np

from .backend import sharding
from .backend.libraries import _import


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *,
               local_device_ids: int | list[int] | None = None,
               cpu_collectives: str | None = "gloo") -> None:
    """Join a multi-process run: ``jax.distributed.initialize``.

    ``coordinator`` is process 0's ``HOST:PORT``; with no arguments JAX
    detects the cluster from the environment (SLURM, Open MPI, Kubernetes,
    Cloud TPU). ``cpu_collectives`` is the implementation of collectives
    between host devices of several processes (``"gloo"``; ``None`` keeps
    JAX's setting). Call it once, first thing, in every process.
    """
    given = [coordinator is None, num_processes is None, process_id is None]
    if any(given) and not all(given):
        raise ValueError("initialize() takes coordinator, num_processes and process_id "
                         "together, or none of them (JAX then reads the cluster's "
                         f"environment); got coordinator={coordinator!r}, "
                         f"num_processes={num_processes!r}, process_id={process_id!r}")
    if num_processes is not None and (not isinstance(num_processes, int) or num_processes < 1):
        raise ValueError(f"num_processes must be an integer >= 1, got {num_processes!r}")
    if process_id is not None and num_processes is not None and (
            not isinstance(process_id, int) or not 0 <= process_id < num_processes):
        raise ValueError(f"process_id must be an integer in 0..{num_processes - 1}, "
                         f"got {process_id!r}")
    jax = _import("jax")
    if cpu_collectives is not None:
        jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                               process_id=process_id, local_device_ids=local_device_ids)


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
    """This process's columns of each array ``(n, m)``: the ``index``-th of
    ``count`` nearly equal consecutive parts (default: this process of all).
    Every process loads the same data and keeps its part; for data too large
    for that, load only the part (the same split) yourself."""
    index = process_index() if index is None else index
    count = process_count() if count is None else count
    out = []
    for a in arrays:
        m = a.shape[1]
        bounds = np.linspace(0, m, count + 1).round().astype(int)
        out.append(a[:, bounds[index]:bounds[index + 1]])
    return tuple(out)
