"""Arrays: which namespace and device they live in, and moving them (the sync points)."""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import array_api_compat
import numpy as np

from . import sharding
from .libraries import BACKENDS, DTYPES
from .targets import Array, Target, dtype_name, numpy_namespace, resolve


def is_array(x: Any) -> bool:
    """True for an array of any supported library (not a Python scalar or list)."""
    return array_api_compat.is_array_api_obj(x) and not isinstance(x, (int, float, bool))


def namespace(*arrays: Array) -> Any:
    """The Array API namespace of ``arrays``; ``ValueError`` when they mix
    libraries or devices. NumPy arrays get NumPy 2 itself (no compat wrapper)."""
    arrays = tuple(a for a in arrays if a is not None)
    if not arrays:
        raise ValueError("namespace() needs at least one array")
    if all(type(a) is np.ndarray for a in arrays):  # the common case, without the probes below
        return numpy_namespace
    for a in arrays:
        if not is_array(a):
            raise TypeError(
                f"expected an array (NumPy, CuPy, PyTorch, JAX, Dask, array_api_strict), "
                f"got {type(a).__name__}"
            )
    kinds = {_library(a) for a in arrays}
    if len(kinds) > 1:
        raise ValueError(
            f"arrays from different libraries were mixed: {sorted(kinds)}; convert them to "
            "one library first (the functional API never copies silently)"
        )
    devices = {_where(a) for a in arrays}
    if len(devices) > 1:
        raise ValueError(
            f"arrays on different devices were mixed: {sorted(devices)}; move them to one "
            "device first (the functional API never copies silently)"
        )
    kind = kinds.pop()
    if kind == "numpy":
        return numpy_namespace
    if kind == "jax":
        import jax.numpy as jnp

        return jnp
    return array_api_compat.array_namespace(*arrays)


def _where(a: Array) -> str:
    """The device (or devices, for a JAX array split or replicated over several) of ``a``."""
    if array_api_compat.is_jax_array(a):
        import jax

        if not isinstance(a, jax.core.Tracer):
            return _jax_devices(a.sharding)
    return str(array_api_compat.device(a))


@functools.lru_cache(maxsize=64)
def _jax_devices(place: Any) -> str:
    """:func:`_where` of the JAX arrays placed by ``place`` (a sharding)."""
    return ",".join(sorted(str(d) for d in place.device_set))


def _library(x: Array) -> str:
    """The library of an array: its type decides (a NumPy array's dtype aside:
    JAX's float0 gradients are NumPy arrays, hence no cache for NumPy)."""
    kind = type(x)
    name = _libraries.get(kind)
    if name is None:
        name = _probe_library(x)
        if kind is not np.ndarray:
            _libraries[kind] = name
    return name


_libraries: dict[type, str] = {}


def _probe_library(x: Array) -> str:
    for name, test in (
        ("numpy", array_api_compat.is_numpy_array),
        ("cupy", array_api_compat.is_cupy_array),
        ("torch", array_api_compat.is_torch_array),
        ("jax", array_api_compat.is_jax_array),
        ("dask", array_api_compat.is_dask_array),
    ):
        if test(x):
            return name
    return type(x).__module__.split(".")[0]


def target_of(x: Any) -> Target:
    """The :class:`Target` an existing array lives on."""
    backend = _library(x)
    if backend not in BACKENDS:
        raise TypeError(f"arrays of {type(x).__module__!r} are not supported; use {BACKENDS}")
    if backend in ("numpy", "dask"):
        return resolve(backend, "cpu")
    if backend == "jax":
        return _jax_target(x.sharding)
    dev = array_api_compat.device(x)
    if backend == "array_api_strict":
        name = dev._device  # array_api_strict.Device has no public name attribute
        return resolve(backend, "cpu" if name == "CPU_DEVICE" else name)
    if backend == "cupy":
        return resolve(backend, f"cuda:{dev.id}")
    return resolve(backend, "cpu" if dev.type == "cpu" else f"cuda:{dev.index or 0}")  # torch


@functools.lru_cache(maxsize=64)
def _jax_target(place: Any) -> Target:
    """The target of JAX arrays placed by ``place`` (a sharding): one device,
    or a set (a mesh's devices in its order)."""
    import jax

    devices = list(place.mesh.devices.flat) if hasattr(place, "mesh") else sorted(
        place.device_set, key=lambda d: d.id)
    return resolve("jax", ",".join(sharding.device_names(jax, devices)))


def as_array(name: str, a: Any) -> Array:
    """``a`` itself if it is an array of a supported library, else a host
    NumPy array of it; ``TypeError`` naming ``name`` when it is not numeric."""
    if type(a) is np.ndarray and a.dtype.kind in "biuf":  # the common case, probes skipped
        return a
    if isinstance(a, np.ndarray):  # a subclass: its own operators are not the standard's
        if isinstance(a, np.ma.MaskedArray) and np.ma.count_masked(a):
            raise TypeError(f"{name} is a masked array with {np.ma.count_masked(a)} masked "
                            f"values: fill them ({name}.filled(value)) or drop those examples; "
                            "nnarray reads values, not masks")
        a = np.asarray(a)  # np.matrix, a memmap, a mask-free masked array: a plain view
    if is_array(a):
        dtype = str(a.dtype)
        if not any(k in dtype for k in ("float", "int", "bool")) or "complex" in dtype:
            raise TypeError(f"{name} must be a real numeric array, got dtype {dtype}")
        return a
    try:
        host = np.asarray(a)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array, got {type(a).__name__}") from exc
    if host.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {host.dtype} "
                        f"from {type(a).__name__}")
    return host


_syncs = 0


def sync_count() -> int:
    """How many times :func:`to_numpy` (and so :func:`to_float`) has run:
    each is a host sync on a GPU. Tests use it to count syncs per ``fit``."""
    return _syncs


def host_arange(n: int) -> np.ndarray:
    """``0, 1, ..., n−1`` on the host (label encodings built at the boundary)."""
    return np.arange(n)


def to_numpy(x: Any) -> np.ndarray:
    """Copy an array of any supported library to a host NumPy array.

    This and :func:`to_float` are the only places where nnarray syncs with a
    device or computes a lazy graph.
    """
    global _syncs
    _syncs += 1
    if isinstance(x, np.ndarray | np.generic):
        return np.asarray(x)
    backend = _library(x)
    if backend == "cupy":
        return x.get()
    if backend == "torch":
        return x.detach().cpu().numpy()
    if backend == "dask":
        return np.asarray(x.compute())
    if backend == "array_api_strict":
        cpu = type(array_api_compat.device(x))("CPU_DEVICE")
        return np.from_dlpack(x.to_device(cpu))
    if backend == "jax" and not x.is_fully_addressable:  # several processes
        return sharding.gather(x)
    return np.asarray(x)


def to_float(x: Array) -> float:
    """A 0-d array (e.g. a cost) as a Python float: a host sync."""
    return float(to_numpy(x))


def from_host(a: Any, like: Array | Target, dtype: Any = None) -> Array:
    """Copy a host array to where ``like`` lives (an array or a :class:`Target`).

    ``dtype`` defaults to ``like``'s dtype; the cast happens on the host.
    """
    if isinstance(like, Target):
        target = like
        if dtype is None:
            raise ValueError("from_host(a, target) needs dtype=")
    else:
        target = target_of(like)
        dtype = like.dtype if dtype is None else dtype
    return target.asarray(a, dtype)


def stacked(values: Any, capacity: int, like: Array, on_host: bool = False) -> Array:
    """Host scalars (one per step of a chunk) as a vector where ``like``
    lives, in its dtype, zero-padded to ``capacity`` so that every chunk has
    the same shape. ``on_host``: the vector as a NumPy array in ``like``'s
    dtype (for a compiled program that copies its operands itself)."""
    host = np.zeros(capacity)
    host[: len(values)] = values
    if on_host:
        return host.astype(dtype_name(like.dtype))
    return from_host(host, like)


def convert(x: Any, target: Target, dtype: Any) -> Array:
    """``x`` (any library, any device, or array-like) on ``target`` as ``dtype``.

    Arrays already there with that dtype are returned as they are (no copy).
    """
    name = dtype_name(dtype)
    if type(x) is np.ndarray and target.backend == "numpy":  # the common case, probes skipped
        return x if x.dtype == _NUMPY_DTYPES[name] else x.astype(name)
    if is_array(x) and _library(x) == target.backend:
        if target_of(x) == target:
            if _dtype_name_or_none(x.dtype) == name:
                return x
            with target.context():
                return target.xp.astype(x, target.dtype(name))
    host = to_numpy(x) if is_array(x) else np.asarray(x)
    return target.asarray(host, name)


_NUMPY_DTYPES = {name: np.dtype(name) for name in DTYPES}


def _dtype_name_or_none(dtype: Any) -> str | None:
    try:
        return dtype_name(dtype)
    except ValueError:
        return None


def backend_of(x: Array) -> str:
    """The backend name of an array: numpy, cupy, torch, jax, dask or array_api_strict."""
    return _library(x)


def quiet_float_errors() -> contextlib.AbstractContextManager[Any]:
    """Silence NumPy's overflow/invalid warnings: training detects a non-finite
    cost itself and raises a clear error instead."""
    return np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")
