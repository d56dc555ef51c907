"""Device sets on JAX: data-parallel training over several devices and hosts.

A device set is a 1-D mesh whose one axis, ``"examples"``, splits the
columns of X and Y; parameters and optimizer state are replicated. The
training step is the same jitted program as on one device: XLA partitions it
and inserts the all-reduce of dW and db (no collective is written here).

``device_put`` with a :class:`~jax.sharding.NamedSharding` refuses an axis
that the devices don't divide, so the columns are padded with zeros to a
multiple of the local device count, and a 0/1 weight per column
(:class:`Examples`) keeps the padding out of the cost and of dZ[L], with m
the count of real examples. Without padding the weights are ``None`` and the
math is the lecture's, unchanged.

Several processes (``nnarray.distributed.initialize``): each process passes
its own columns; the global array is the processes' columns in process
order, each padded alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

AXIS = "examples"


@dataclass(frozen=True, eq=False)
class DeviceSet:
    """The JAX devices of a set, their nnarray names, the mesh and its two
    shardings: ``replicated`` (parameters) and ``columns`` (examples)."""

    devices: tuple[Any, ...]
    names: tuple[str, ...]
    mesh: Any = field(repr=False)
    replicated: Any = field(repr=False)
    columns: Any = field(repr=False)

    @property
    def local(self) -> int:
        """How many of the set's devices this process drives."""
        import jax

        return sum(d.process_index == jax.process_index() for d in self.devices)


@dataclass(frozen=True)
class Examples:
    """Where the real examples of a placed ``(n, m_padded)`` array are:
    ``counts`` the real columns of each process, first in its part of
    ``width`` columns; ``weights`` (1, m_padded), 1 for a real column and 0
    for padding (``None`` when nothing is padded)."""

    weights: Any
    counts: tuple[int, ...]
    width: int

    @property
    def m(self) -> int:
        """The count of real examples."""
        return sum(self.counts)

    @property
    def real(self) -> np.ndarray:
        """The real columns' global indices, on the host."""
        return np.concatenate([p * self.width + np.arange(c)
                               for p, c in enumerate(self.counts)])


def is_device_set(device: Any) -> bool:
    """True for ``"all"``, a list or tuple of device names, or their joined
    form ``"cuda:0,cuda:1"``."""
    if isinstance(device, list | tuple):
        return True
    return isinstance(device, str) and (device.strip().lower() == "all" or "," in device)


def device_names(jax: Any, devices: Any) -> list[str]:
    """nnarray's names of JAX devices: ``cuda:N`` for GPUs (N the index among
    JAX's GPUs), ``cpu`` for a lone host device, ``cpu:N`` where there are
    several."""
    cpus = jax.devices("cpu")
    names = []
    for d in devices:
        if d.platform == "cpu":
            names.append("cpu" if len(cpus) == 1 else f"cpu:{cpus.index(d)}")
        else:
            names.append(f"cuda:{jax.devices(d.platform).index(d)}")
    return names


def named_devices(jax: Any) -> dict[str, Any]:
    """Every JAX device by nnarray's name (``cpu:0`` is also ``cpu``)."""
    found: dict[str, Any] = {}
    platforms = ["cpu"]
    try:
        jax.devices("gpu")
        platforms.append("gpu")
    except RuntimeError:
        pass
    for platform in platforms:
        devices = jax.devices(platform)
        found.update(zip(device_names(jax, devices), devices, strict=True))
    if "cpu" in found:
        found["cpu:0"] = found["cpu"]
    else:
        found["cpu"] = found["cpu:0"]
    return found


def device_set(device: Any) -> DeviceSet | Any:
    """The :class:`DeviceSet` that ``device`` names (see :func:`is_device_set`),
    or the lone JAX device when it names one. ``"all"``: every device of
    JAX's default platform, of every process."""
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    if isinstance(device, str) and device.strip().lower() == "all":
        devices = list(jax.devices())
    else:
        names = device.split(",") if isinstance(device, str) else list(device)
        known = named_devices(jax)
        devices = []
        for name in names:
            if not isinstance(name, str):
                raise TypeError(f"device lists hold device names such as 'cuda:0' or 'cpu:1', "
                                f"got {name!r} in {device!r}")
            key = "cuda:0" if name.strip().lower() == "gpu" else name.strip().lower()
            if key not in known:
                raise ValueError(
                    f"device {name!r} in {device!r} is not one of JAX's devices here: "
                    f"{sorted(set(known) - {'cpu:0'} if len(jax.devices('cpu')) == 1 else known)}"
                    " (more host devices: XLA_FLAGS=--xla_force_host_platform_device_count=N "
                    "or jax.config.update('jax_num_cpu_devices', N) before JAX starts)")
            devices.append(known[key])
        if not devices:
            raise ValueError(f"device list {device!r} is empty")
        if len(set(devices)) != len(devices):
            raise ValueError(f"device list {device!r} names a device twice")
        if len({d.platform for d in devices}) > 1:
            raise ValueError(f"device list {device!r} mixes platforms; name GPUs or host "
                             "devices, not both")
    if len(devices) == 1:
        return devices[0]
    mesh = Mesh(np.array(devices), (AXIS,))
    return DeviceSet(tuple(devices), tuple(device_names(jax, devices)), mesh,
                     NamedSharding(mesh, PartitionSpec()),
                     NamedSharding(mesh, PartitionSpec(None, AXIS)))


def replicate(host: np.ndarray, devices: DeviceSet) -> Any:
    """A host array copied whole to every device of the set (every process
    passes the same values: parameters drawn from one seed, host scalars)."""
    import jax

    return jax.device_put(host, devices.replicated)


def place_examples(host: np.ndarray, devices: DeviceSet,
                   layout: Examples | None = None) -> tuple[Any, Examples]:
    """This process's columns ``host`` (n, m_local) split over the set's
    columns, each process's part zero-padded to the same multiple of its
    device count. Returns the global array and its :class:`Examples`
    (``layout`` given: place another array of the same columns, Y after X)."""
    import jax

    processes = jax.process_count()
    m_local = host.shape[1]
    if layout is None:
        counts = [m_local]
        if processes > 1:
            from jax.experimental import multihost_utils

            counts = [int(c) for c in np.asarray(multihost_utils.process_allgather(
                np.array([m_local]))).reshape(-1)]
        local = devices.local
        width = math.ceil(max(counts) / local) * local
        weights = None
        if any(c != width for c in counts):
            w = np.zeros((1, width), dtype=host.dtype)
            w[:, :m_local] = 1
            weights = _global(w, devices, processes)
        layout = Examples(weights, tuple(counts), width)
    padded = host
    if layout.width != m_local:
        padded = np.zeros((host.shape[0], layout.width), dtype=host.dtype)
        padded[:, :m_local] = host
    return _global(padded, devices, processes), layout


def _global(local: np.ndarray, devices: DeviceSet, processes: int) -> Any:
    import jax

    shape = (local.shape[0], local.shape[1] * processes)
    return jax.make_array_from_process_local_data(devices.columns, local, shape)


def gather(x: Any) -> np.ndarray:
    """A JAX array that this process can't address in full, on the host: a
    replicated one from its local copy, a split one gathered from every
    process."""
    if x.is_fully_replicated:
        return np.asarray(x.addressable_data(0))
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def real_columns(A: Any, examples: Examples) -> Any:
    """The real examples' columns of a placed result ``(n, m_padded)``: a JAX
    array where this process addresses them all, else a host NumPy array
    gathered from every process."""
    import jax

    if jax.process_count() == 1:
        return A if A.shape[1] == examples.m else A[:, : examples.m]
    return gather(A)[:, examples.real]


def is_main_process() -> bool:
    """False in the processes of a multi-host run but the first (which alone
    prints and writes files); True when JAX is not in use."""
    import sys

    jax = sys.modules.get("jax")
    return jax is None or jax.process_index() == 0


def process_shuffle(examples: Examples, batch_size: int, seed: int | None,
                    epoch: int) -> np.ndarray:
    """An epoch's order of the real columns over several processes: each
    process shuffles its own columns from ``(seed, process index, epoch)``,
    and batch j takes the next ``batch_size / processes`` columns of each
    process in process order. Every process gathers every process's draw, so
    all hold the same order (the index the training step reads)."""
    import jax
    from jax.experimental import multihost_utils

    processes, me = jax.process_count(), jax.process_index()
    rng = np.random.default_rng(None if seed is None else [seed, me, epoch])
    mine = np.full(max(examples.counts), -1, dtype=np.int64)
    mine[: examples.counts[me]] = me * examples.width + rng.permutation(examples.counts[me])
    drawn = np.asarray(multihost_utils.process_allgather(mine)).reshape(processes, -1)
    share = batch_size // processes
    parts = [drawn[p, j:j + share] for j in range(0, drawn.shape[1], share)
             for p in range(processes)]
    order = np.concatenate(parts)
    return order[order >= 0]
