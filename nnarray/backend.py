"""The boundary between nnarray's math and the array libraries.

This is the only module that knows which library is underneath. Everything
else receives a namespace ``xp`` (from :func:`namespace`) or a :class:`Target`
(from :func:`resolve`) and uses only functions of the Array API standard.

Device strings: ``"cpu"``, ``"gpu"`` (= ``"cuda:0"``), ``"cuda:N"``, ``"auto"``
(the GPU when one is usable, else the CPU); array_api_strict also knows its own
test devices ``"device1"``, ``"device2"``, ``"no_float64"``.
Backends: ``numpy``, ``cupy``, ``torch``, ``jax``, ``dask``, ``array_api_strict``.
A device string picks the default backend (``cpu`` -> numpy, ``gpu`` ->
cupy); ``backend=`` overrides it.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import types
from dataclasses import dataclass, field
from typing import Any

import array_api_compat
import numpy as np

Array = Any
"""Any array of a supported library (type alias for annotations)."""

BACKENDS = ("numpy", "cupy", "torch", "jax", "dask", "array_api_strict")
DTYPES = ("float32", "float64")
_STRICT_DEVICES = ("cpu", "device1", "device2", "no_float64")
_CUDA = re.compile(r"^cuda:(\d+)$")

_INSTALL = {
    "cupy": "pip install 'nnarray[cuda13]' (CUDA 13) or 'nnarray[cuda12]' (CUDA 12)",
    "torch": "pip install 'nnarray[torch]'",
    "jax": "pip install 'nnarray[jax]'",
    "dask": "pip install 'nnarray[dask]'",
    "array_api_strict": "pip install array-api-strict",
}


def _fast_numpy() -> Any:
    """NumPy 2's own namespace with its two slowest standard functions for
    small arrays replaced by their direct forms: ``sum`` by ``np.add.reduce``
    and ``matrix_transpose`` by ``x.mT`` (the wrappers cost several µs a call,
    a quarter of a step of the lecture's planar net). Same results, bit for bit.
    """
    fast = types.ModuleType("nnarray.backend.numpy", "NumPy 2 with direct sum/transpose")
    fast.__dict__.update(np.__dict__)

    def sum(x: Any, /, *, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
        return np.add.reduce(x, axis=axis, dtype=dtype, keepdims=keepdims)

    def matrix_transpose(x: Any, /) -> Any:
        return x.mT

    fast.sum = sum
    fast.matrix_transpose = matrix_transpose
    return fast


numpy_namespace = _fast_numpy()
"""The namespace nnarray computes NumPy arrays with (see :func:`_fast_numpy`)."""


class BackendUnavailableError(RuntimeError):
    """A backend or device was asked for but is not installed or not present."""


# --------------------------------------------------------------------------- #
# Importing the optional libraries, lazily.
# --------------------------------------------------------------------------- #


def _import(backend: str) -> Any:
    """Import an optional library, with an error that says how to install it."""
    module = {"dask": "dask.array"}.get(backend, backend)
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = _INSTALL.get(backend, f"pip install {backend}")
        raise BackendUnavailableError(
            f"backend={backend!r} needs the package {backend!r}, which is not installed "
            f"({exc}); install it with: {hint}"
        ) from exc


def _cuda_device_count() -> int:
    """Number of CUDA devices CuPy can see (0 without CuPy or without a driver)."""
    try:
        import cupy
    except ImportError:
        return 0
    try:
        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:  # no driver, no device: CuPy raises its own CUDARuntimeError
        return 0


def available_devices() -> list[str]:
    """The devices nnarray can use here: ``["cpu"]`` plus ``"cuda:N"`` per CuPy GPU."""
    return ["cpu"] + [f"cuda:{i}" for i in range(_cuda_device_count())]


# --------------------------------------------------------------------------- #
# Targets: a backend, a device and the namespace that computes there.
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Target:
    """Where arrays live: a backend name, a device name, its namespace ``xp``
    and the library's own device object (``native``)."""

    backend: str
    device: str
    xp: Any = field(repr=False, compare=False)
    native: Any = field(repr=False, compare=False)

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
        with self.context():
            return self.xp.asarray(host, device=self.native)


def dtype_name(dtype: Any) -> str:
    """``"float32"`` or ``"float64"`` from a string or any library's dtype;
    ``ValueError`` for anything else."""
    if isinstance(dtype, str):
        name = dtype
    else:
        name = str(dtype).rsplit(".", 1)[-1].strip("'>")  # torch.float32, <class ...>
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}")
    return name


_default_device = "cpu"


def set_default_device(device: str) -> None:
    """Set the device used when none is given (``"cpu"`` at start).

    Raises at once when the device is missing, naming what to install.
    """
    global _default_device
    resolve(None, device)
    _default_device = _resolve_device_name(device)


def get_default_device() -> str:
    """The device used when none is given."""
    return _default_device


def _resolve_device_name(device: str) -> str:
    """Normalize a device string: ``gpu`` -> ``cuda:0``, ``auto`` -> GPU or CPU."""
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda:0', got {device!r}")
    name = device.strip().lower()
    if name == "auto":
        return "cuda:0" if _cuda_device_count() > 0 else "cpu"
    if name == "gpu":
        return "cuda:0"
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
    cupy on ``cuda:N``. ``device=None`` means the default device (see
    :func:`set_default_device`).
    """
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)} or None, got {backend!r}")
    name = _resolve_device_name(_default_device if device is None else device)
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
        cupy = _import("cupy")
        count = _cuda_device_count()
        if index >= count:
            raise BackendUnavailableError(
                f"device={asked!r} needs a CUDA GPU, but CuPy sees {count} "
                f"(devices here: {available_devices()}); check the NVIDIA driver and that "
                f"the cupy wheel matches its CUDA version ({_INSTALL['cupy']})"
            )
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


# --------------------------------------------------------------------------- #
# Arrays: which namespace and device they live in, and moving them.
# --------------------------------------------------------------------------- #


def is_array(x: Any) -> bool:
    """True for an array of any supported library (not a Python scalar or list)."""
    return array_api_compat.is_array_api_obj(x) and not isinstance(x, (int, float, bool))


def namespace(*arrays: Array) -> Any:
    """The Array API namespace of ``arrays``; ``ValueError`` when they mix
    libraries or devices. NumPy arrays get NumPy 2 itself (no compat wrapper)."""
    arrays = tuple(a for a in arrays if a is not None)
    if not arrays:
        raise ValueError("namespace() needs at least one array")
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
    devices = {str(array_api_compat.device(a)) for a in arrays}
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


def _library(x: Array) -> str:
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


def target_of(x: Array) -> Target:
    """The :class:`Target` an existing array lives on."""
    backend = _library(x)
    if backend not in BACKENDS:
        raise TypeError(f"arrays of {type(x).__module__!r} are not supported; use {BACKENDS}")
    dev = array_api_compat.device(x)
    if backend in ("numpy", "dask"):
        return resolve(backend, "cpu")
    if backend == "array_api_strict":
        name = dev._device  # array_api_strict.Device has no public name attribute
        return resolve(backend, "cpu" if name == "CPU_DEVICE" else name)
    if backend == "cupy":
        return resolve(backend, f"cuda:{dev.id}")
    if backend == "torch":
        return resolve(backend, "cpu" if dev.type == "cpu" else f"cuda:{dev.index or 0}")
    # jax
    return resolve(backend, "cpu" if dev.platform == "cpu" else f"cuda:{dev.id}")


def as_array(name: str, a: Any) -> Array:
    """``a`` itself if it is an array of a supported library, else a host
    NumPy array of it; ``TypeError`` naming ``name`` when it is not numeric."""
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


def to_numpy(x: Array) -> np.ndarray:
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


def convert(x: Any, target: Target, dtype: Any) -> Array:
    """``x`` (any library, any device, or array-like) on ``target`` as ``dtype``.

    Arrays already there with that dtype are returned as they are (no copy).
    """
    name = dtype_name(dtype)
    if is_array(x) and _library(x) == target.backend:
        if target_of(x) == target:
            if _dtype_name_or_none(x.dtype) == name:
                return x
            with target.context():
                return target.xp.astype(x, target.dtype(name))
    host = to_numpy(x) if is_array(x) else np.asarray(x)
    return target.asarray(host, name)


def _dtype_name_or_none(dtype: Any) -> str | None:
    try:
        return dtype_name(dtype)
    except ValueError:
        return None


def backend_of(x: Array) -> str:
    """The backend name of an array: numpy, cupy, torch, jax, dask or array_api_strict."""
    return _library(x)


def jit_enabled() -> bool:
    """False when the environment sets ``NNARRAY_NO_JIT`` (e.g. to debug or compare)."""
    return not os.environ.get("NNARRAY_NO_JIT")


def compile_step(fn: Any, backend: str, static_argnames: tuple[str, ...] = ()) -> Any:
    """The training step as the loop runs it. JAX: ``jax.jit`` (the whole step
    becomes one XLA program; the optional fast path, off when the environment
    sets ``NNARRAY_NO_JIT=1``, tested to give the same parameters). Dask: every
    array the step returns is computed once (``persist``), so that the graphs
    do not grow step after step. Every other backend: ``fn`` itself."""
    if backend == "dask":
        import dask

        return lambda *args, **kwargs: dask.persist(fn(*args, **kwargs))[0]
    if backend != "jax" or not jit_enabled():
        return fn
    import jax

    return jax.jit(fn, static_argnames=static_argnames)


class HostRandom:
    """Seeded random draws made on the host with NumPy, then copied to the
    device: dropout masks and mini-batch orders come out the same on every
    backend and device (the Array API has no random module)."""

    def __init__(self, seed: int | None) -> None:
        self._rng = np.random.default_rng(seed)

    def state(self) -> dict[str, Any]:
        """The generator's state, to :meth:`restore` it (divergence replay)."""
        return self._rng.bit_generator.state

    def restore(self, state: dict[str, Any]) -> None:
        """Go back to a :meth:`state`: the same draws follow."""
        self._rng.bit_generator.state = state

    def dropout_mask(self, shape: tuple[int, int], keep_prob: float, like: Array) -> Array:
        """D / keep_prob with D ~ Bernoulli(keep_prob), as ``like``'s dtype and device."""
        D = self._rng.random(shape) < keep_prob
        return from_host(D / keep_prob, like)

    def permutation(self, m: int, like: Array) -> Array:
        """A shuffled ``0..m−1`` as an integer index array where ``like`` lives."""
        return target_of(like).put(self._rng.permutation(m))


def quiet_float_errors() -> contextlib.AbstractContextManager[Any]:
    """Silence NumPy's overflow/invalid warnings: training detects a non-finite
    cost itself and raises a clear error instead."""
    return np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")


def _read_env_device() -> None:
    env = os.environ.get("NNARRAY_DEVICE")
    if env:
        try:
            set_default_device(env)
        except (ValueError, BackendUnavailableError) as exc:
            raise BackendUnavailableError(f"NNARRAY_DEVICE={env!r}: {exc}") from exc


_read_env_device()
