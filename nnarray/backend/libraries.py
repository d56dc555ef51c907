"""The optional array libraries: lazy imports with install hints, and the devices they see."""

from __future__ import annotations

import ctypes
import functools
import importlib
import importlib.metadata
import re
from collections.abc import Callable
from typing import Any, NamedTuple

BACKENDS = ("numpy", "cupy", "torch", "jax", "dask", "array_api_strict")
DTYPES = ("float32", "float64")
_STRICT_DEVICES = ("cpu", "device1", "device2", "no_float64")
_CUDA = re.compile(r"^cuda:(\d+)$")

_INSTALL = {
    "cupy": "pip install 'nnarray[cuda13]' (CUDA 13) or 'nnarray[cuda12]' (CUDA 12)",
    "torch": "pip install 'nnarray[torch]'",
    "jax": "pip install 'nnarray[jax]'",
    "dask": "pip install 'nnarray[dask]'",
    "array_api_strict": "pip install 'array-api-strict>=2.6.1'",
}


class BackendUnavailableError(RuntimeError):
    """A backend or device was asked for but is not installed or not present."""


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


class Driver(NamedTuple):
    """What the NVIDIA driver says, asked without CuPy: ``gpus`` it sees
    (0 without a driver), the CUDA version it supports (``(13, 0)``; ``None``
    without a driver) and, without a GPU, ``why`` in words."""

    gpus: int
    cuda: tuple[int, int] | None
    why: str


def _probe_driver(loader: Callable[[str], Any] = ctypes.CDLL) -> Driver:
    """Ask the NVIDIA driver, without CuPy: ``libcuda.so.1`` loads through
    ``loader`` (``ctypes.CDLL``), ``cuInit(0) == 0``, ``cuDeviceGetCount > 0``."""
    try:
        lib = loader("libcuda.so.1")
    except OSError:
        return Driver(0, None, "no NVIDIA driver (libcuda.so.1 does not load)")
    version = ctypes.c_int(0)
    cuda = None
    try:
        if lib.cuDriverGetVersion(ctypes.pointer(version)) == 0 and version.value > 0:
            cuda = (version.value // 1000, version.value % 1000 // 10)
    except (AttributeError, OSError):
        pass
    try:
        code = lib.cuInit(0)
    except (AttributeError, OSError) as exc:
        return Driver(0, cuda, f"the NVIDIA driver does not start ({exc})")
    if code != 0:
        return Driver(0, cuda, f"the NVIDIA driver finds no usable GPU (cuInit returned "
                               f"{code}{' = CUDA_ERROR_NO_DEVICE' if code == 100 else ''})")
    count = ctypes.c_int(0)
    code = lib.cuDeviceGetCount(ctypes.pointer(count))
    if code != 0 or count.value <= 0:
        return Driver(0, cuda, f"the NVIDIA driver sees no GPU (cuDeviceGetCount returned "
                               f"{code}, {count.value} devices)")
    return Driver(int(count.value), cuda, "")


@functools.lru_cache(maxsize=1)
def cuda_driver() -> Driver:
    """:func:`_probe_driver` once a process (the driver's answer does not change)."""
    return _probe_driver()


def cupy_dist() -> str | None:
    """The installed CuPy distribution's name and version (``"cupy-cuda13x
    14.0.1"``), or ``None``."""
    for name in ("cupy-cuda13x", "cupy-cuda12x", "cupy-cuda11x", "cupy"):
        try:
            return f"{name} {importlib.metadata.version(name)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def cupy_wheel(cuda: tuple[int, int] | None) -> str:
    """The extra to install for the driver's CUDA version."""
    if cuda is not None and cuda[0] == 12:
        return "pip install 'nnarray[cuda12]'"
    if cuda is not None and cuda[0] >= 13:
        return "pip install 'nnarray[cuda13]'"
    return _INSTALL["cupy"]


def no_gpu_reason(asked: str = "gpu") -> str | None:
    """Why CuPy cannot compute on a GPU here, in words, or ``None`` when it can:
    no driver or no GPU (said first, whatever is installed), then CuPy
    missing (with the wheel for the driver's CUDA), then CuPy seeing fewer
    devices than the driver. ``asked``: the device string to name."""
    what = f"device={asked!r}"
    driver = cuda_driver()
    if driver.gpus == 0:
        return (f"{what} needs an NVIDIA GPU, and this machine has none: {driver.why}; "
                f"use device='cpu', or 'auto' (the GPU where there is one)")
    try:
        importlib.import_module("cupy")
    except ImportError as exc:
        return (f"{what} needs CuPy, which is not installed ({exc}); the driver sees "
                f"{driver.gpus} GPU(s): install it with: {cupy_wheel(driver.cuda)}")
    if _cuda_device_count() == 0:
        cuda = "" if driver.cuda is None else f" (CUDA {driver.cuda[0]}.{driver.cuda[1]})"
        return (f"{what}: the NVIDIA driver{cuda} sees {driver.gpus} GPU(s) but "
                f"{cupy_dist() or 'CuPy'} sees none: its CUDA version must match the "
                f"driver's ({cupy_wheel(driver.cuda)} in place of it)")
    return None


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
