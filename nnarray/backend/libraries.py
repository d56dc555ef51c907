"""The optional array libraries: lazy imports with install hints, and the devices they see."""

from __future__ import annotations

import importlib
import re
from typing import Any

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
