"""Targets: a backend, a device and the namespace that computes there;
device strings, dtypes and the default device."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import types
from dataclasses import dataclass, field
from typing import Any

import array_api_compat
import numpy as np

from . import sharding
from .libraries import (
    _CUDA,
    _STRICT_DEVICES,
    BACKENDS,
    DTYPES,
    BackendUnavailableError,
    _cuda_device_count,
    _import,
    available_devices,
    no_gpu_reason,
)
from .protocol import Array


def _fast_numpy() -> Any:
    """NumPy 2's own namespace with its slowest standard functions for small
    arrays replaced by their direct forms: ``sum`` by ``np.add.reduce``,
    ``all`` by ``np.logical_and.reduce`` and ``matrix_transpose`` by ``x.mT``
    (the wrappers cost several µs a call, a quarter of a step of the
    lecture's planar net). Same results, bit for bit.
    """
    fast: Any = types.ModuleType("nnarray.backend.numpy", "NumPy 2 with direct sum/transpose")
    fast.__dict__.update(np.__dict__)

    def sum(x: Any, /, *, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
        # keepdims is any bool; NumPy's stubs overload it as Literal[True] or Literal[False]
        return np.add.reduce(x, axis=axis, dtype=dtype, keepdims=keepdims)  # type: ignore[call-overload]

    def matrix_transpose(x: Any, /) -> Any:
        return x.mT

    def all(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
        return np.logical_and.reduce(x, axis=axis, keepdims=keepdims)  # type: ignore[call-overload]

    fast.sum = sum
    fast.all = all
    fast.matrix_transpose = matrix_transpose
    # The fusion points ask every namespace for its fused kernels
    # (backend.fused); a missing name would go through NumPy's module
    # __getattr__, 1 µs a call, three calls a step.
    fast.nnarray_fused = None
    return fast


numpy_namespace = _fast_numpy()
"""The namespace nnarray computes NumPy arrays with (see :func:`_fast_numpy`)."""


@dataclass(frozen=True)
class Target:
    """Where arrays live: a backend name, a device name, its namespace ``xp``
    and the library's own device object (``native``)."""

    backend: str
    device: str
    xp: Any = field(repr=False, compare=False)
    native: Any = field(repr=False, compare=False)

    @property
    def is_set(self) -> bool:
        """True for a set of JAX devices (data parallel: see ``backend.sharding``)."""
        return isinstance(self.native, sharding.DeviceSet)

    def context(self) -> contextlib.AbstractContextManager[Any]:
        """Make this device current (CuPy selects devices by context, not ``device=``)."""
        if self.backend == "cupy":
            return self.native
        return contextlib.nullcontext()

    def dtype(self, dtype: Any) -> Any:
        """This namespace's dtype for ``"float32"``/``"float64"`` (or a NumPy dtype).

        Raises ``ValueError`` for other dtypes and for float64 where the device
        or configuration lacks it (array_api_strict's ``no_float64``, JAX
        without ``jax_enable_x64``).
        """
        name = dtype_name(dtype)
        if name == "float64":
            if self.backend == "jax":
                import jax

                if not jax.config.read("jax_enable_x64"):
                    raise ValueError(
                        "dtype='float64' on JAX needs 64-bit mode, which is off: call "
                        "jax.config.update('jax_enable_x64', True) before creating arrays "
                        "(nnarray never flips global flags), or use dtype='float32'"
                    )
            if self.backend == "array_api_strict" and "float64" not in (
                self.xp.__array_namespace_info__().dtypes(device=self.native)
            ):
                raise ValueError(
                    f"dtype='float64' is not supported on device {self.device!r} of "
                    f"backend {self.backend!r}; use dtype='float32'"
                )
        return getattr(self.xp, name)

    def asarray(self, a: Any, dtype: Any) -> Array:
        """Copy a host (NumPy) array here, cast on the host to ``dtype`` first."""
        return self.put(np.asarray(a, dtype=dtype_name(dtype)))

    def put(self, host: np.ndarray) -> Array:
        """Copy a host NumPy array here as it is (its dtype kept)."""
        if self.backend == "numpy":
            return host
        if self.backend == "dask":
            return self.xp.asarray(host)
        if self.backend == "jax":  # a fifth of jnp.asarray's time: per-chunk host values
            if self.is_set:
                return sharding.replicate(host, self.native)
            import jax

            return jax.device_put(host, self.native)
        if self.backend == "torch" and not host.flags.writeable:
            # torch shares a CPU array's memory and warns that a read-only
            # one (a memmap, a loaded file) may be written: give it a copy
            host = np.array(host)
        with self.context():
            return self.xp.asarray(host, device=self.native)


def dtype_name(dtype: Any) -> str:
    """``"float32"`` or ``"float64"`` from a string or any library's dtype;
    ``ValueError`` for anything else."""
    if isinstance(dtype, str):
        name = dtype
    else:
        try:
            return _dtype_names[type(dtype), dtype]  # the type first: no cross-library ==
        except (KeyError, TypeError):  # not seen yet, or not hashable
            pass
        name = str(dtype).rsplit(".", 1)[-1].strip("'>")  # torch.float32, <class ...>
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}")
    if not isinstance(dtype, str):
        _dtype_names[type(dtype), dtype] = name  # a few: the float dtypes of each library
    return name


_dtype_names: dict[tuple[type, Any], str] = {}
""":func:`dtype_name` of the dtype objects met so far (``str`` of a dtype is slow)."""


_default_device: str | None = None
"""The default device once set or read from ``NNARRAY_DEVICE`` (``None``: not yet)."""

ENV_DEVICE = "NNARRAY_DEVICE"
"""The environment variable that names the default device, read when it is first needed."""


def set_default_device(device: str) -> None:
    """Set the device used when none is given (``"cpu"`` at start, or
    ``NNARRAY_DEVICE``'s).

    Raises at once when the device is missing, naming what to install.
    """
    global _default_device
    resolve(None, device)
    _default_device = _resolve_device_name(device)


def get_default_device() -> str:
    """The device used when none is given: the one set by
    :func:`set_default_device`, else ``NNARRAY_DEVICE``'s (read at the first
    call, never at import), else ``"cpu"``.

    Raises :class:`BackendUnavailableError` naming ``NNARRAY_DEVICE`` when its
    value cannot be used here (and again at each call until it can).
    """
    global _default_device
    if _default_device is None:
        env = os.environ.get(ENV_DEVICE, "").strip()
        if not env:
            _default_device = "cpu"
        else:
            try:
                resolve(None, env)
            except (ValueError, TypeError, BackendUnavailableError) as exc:
                raise BackendUnavailableError(
                    f"{ENV_DEVICE}={env!r} cannot be used here; unset it or set it to 'cpu' "
                    f"or 'auto'. {exc}") from exc
            _default_device = _resolve_device_name(env)
    return _default_device


def _resolve_device_name(device: str) -> str:
    """Normalize a device string: ``gpu`` -> ``cuda:0``, ``auto`` -> GPU or CPU."""
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda:0', or a list of "
                        f"them, got {device!r}")
    name = device.strip().lower()
    if name == "auto":
        return "cuda:0" if _cuda_device_count() > 0 else "cpu"
    if name == "gpu":
        return "cuda:0"
    if name == "cpu:0":
        return "cpu"
    return name


def device(name: str = "auto") -> str:
    """Resolve a device string to the concrete one nnarray will use.

    ``device("auto")`` is ``"cuda:0"`` when CuPy sees a GPU, else ``"cpu"``;
    ``device("gpu")`` is ``"cuda:0"`` and raises when there is no usable GPU.
    """
    return resolve(None, name).device


def resolve(backend: str | None = None, device: str | None = None) -> Target:
    """Turn a backend name and a device string into a :class:`Target`.

    ``backend=None`` picks the device's default backend: numpy on ``cpu``,
    cupy on ``cuda:N``. ``device=None`` means nnarray's default device (see
    :func:`set_default_device`) whatever the backend: with ``backend="jax"`` it
    is not JAX's own default device (a GPU where JAX has CUDA).
    """
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)} or None, got {backend!r}")
    if sharding.is_device_set(device):
        if backend not in (None, "jax"):
            raise ValueError(
                f"device={device!r} is a set of devices, which runs on JAX only: use "
                f"backend='jax' or backend=None, not {backend!r}")
        _import("jax")
        names = device.split(",") if isinstance(device, str) else list(device or [])
        return _jax_target(",".join(_resolve_device_name(d) if isinstance(d, str) else repr(d)
                                    for d in names))
    name = _resolve_device_name(get_default_device() if device is None else device)
    if _HOST_N.match(name):
        if backend not in (None, "jax"):
            raise ValueError(f"device={device!r} names one of several host devices, which "
                             f"only JAX has: use backend='jax', not {backend!r}")
        _import("jax")
        return _jax_target(name)
    cuda = _CUDA.match(name)
    if backend is None:
        if name == "cpu":
            backend = "numpy"
        elif cuda:
            backend = "cupy"
        else:
            raise ValueError(
                f"device must be 'cpu', 'gpu', 'cuda:N' or 'auto', got {device!r}"
            )
    if backend == "array_api_strict":
        return _strict_target(name, device)
    if name == "cpu":
        if backend == "cupy":
            raise ValueError("backend='cupy' runs on a GPU only: use device='gpu' or 'cuda:N'")
        return _cpu_target(backend)
    if not cuda:
        raise ValueError(
            f"device must be 'cpu', 'gpu', 'cuda:N' or 'auto', got {device!r}"
        )
    index = int(cuda.group(1))
    if backend in ("numpy", "dask"):
        raise ValueError(
            f"backend={backend!r} runs on the CPU only; for device={device!r} use "
            "backend='cupy' (the default for GPUs), 'torch' or 'jax'"
        )
    return _cuda_target(backend, index, device)


_HOST_N = re.compile(r"^cpu:(\d+)$")


@functools.lru_cache(maxsize=64)
def _jax_target(key: str) -> Target:
    """A JAX target from a device set's key (``"all"``, ``"cuda:0,cuda:1"``)
    or a host device ``"cpu:N"``; a set of one device is that device."""
    import jax

    found = sharding.device_set(key)
    if isinstance(found, sharding.DeviceSet):
        return Target("jax", ",".join(found.names), jax.numpy, found)
    return Target("jax", sharding.device_names(jax, [found])[0], jax.numpy, found)


def _cpu_target(backend: str) -> Target:
    if backend == "numpy":
        return Target("numpy", "cpu", numpy_namespace, "cpu")
    if backend == "torch":
        torch = _import("torch")
        return Target("torch", "cpu", array_api_compat.array_namespace(torch.empty(0)),
                      torch.device("cpu"))
    if backend == "jax":
        jax = _import("jax")
        return Target("jax", "cpu", jax.numpy, jax.devices("cpu")[0])
    # dask
    da = _import("dask")
    return Target("dask", "cpu", array_api_compat.array_namespace(da.empty(0)), "cpu")


def _cuda_target(backend: str, index: int, asked: str | None) -> Target:
    device_name = f"cuda:{index}"
    if backend == "cupy":
        count = _cuda_device_count()  # CuPy's, 0 without it
        if index >= count:
            # the driver first: no GPU is not a missing package
            why = no_gpu_reason(asked or device_name)
            if why is None:
                why = (f"device={asked!r} is not here: CuPy sees {count} CUDA device(s) "
                       f"(devices here: {available_devices()})")
            raise BackendUnavailableError(why)
        cupy = _import("cupy")
        native = cupy.cuda.Device(index)
        with native:
            xp = array_api_compat.array_namespace(cupy.empty(0))
        return Target("cupy", device_name, xp, native)
    if backend == "torch":
        torch = _import("torch")
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if index >= count:
            raise BackendUnavailableError(
                f"device={asked!r} with backend='torch' needs a CUDA build of PyTorch and a "
                f"GPU; torch {torch.__version__} sees {count} CUDA device(s)"
            )
        return Target("torch", device_name, array_api_compat.array_namespace(torch.empty(0)),
                      torch.device(device_name))
    jax = _import("jax")
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:
        gpus = []
    if index >= len(gpus):
        raise BackendUnavailableError(
            f"device={asked!r} with backend='jax' needs jax with CUDA (pip install "
            f"'jax[cuda13]'); jax sees {len(gpus)} GPU(s)"
        )
    return Target("jax", device_name, jax.numpy, gpus[index])


def _strict_target(name: str, asked: str | None) -> Target:
    strict = _import("array_api_strict")
    if name not in _STRICT_DEVICES:
        raise ValueError(
            f"backend='array_api_strict' knows the devices {list(_STRICT_DEVICES)}, "
            f"got device={asked!r}"
        )
    native = strict.Device("CPU_DEVICE" if name == "cpu" else name)
    return Target("array_api_strict", name, strict, native)
