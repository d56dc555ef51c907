"""The boundary between nnarray's math and the array libraries.

This package (with :mod:`nnarray.engines`, which runs the steps) is the only
place that knows which library is underneath; it knows no math and no loop.
Everything else receives a namespace ``xp`` (from :func:`namespace`) or a
:class:`Target` (from :func:`resolve`) and uses only functions of the Array
API standard. One job a module:

- ``libraries``: lazy imports with install hints, :func:`available_devices`,
  the NVIDIA driver asked without CuPy (:func:`cuda_driver`) and why there is
  no GPU here (:func:`no_gpu_reason`);
- ``targets``: :class:`Target`, device strings, dtypes, the default device;
- ``arrays``: :func:`namespace`, conversion, :func:`to_numpy` / :func:`to_float`
  (the only host syncs);
- ``precision``: the float32 matmul precision JAX is asked for;
- ``random``: :class:`HostRandom`, host draws bit-identical everywhere;
- ``checks``: number arguments (counts, seeds, rates) checked, the argument named;
- ``streams``: :class:`Stream`, mini-batches read from Dask, memmap or zarr
  data onto the device, the next one prefetched;
- ``sharding``: device sets on JAX (data parallel over devices and hosts).

Device strings: ``"cpu"``, ``"gpu"`` (= ``"cuda:0"``), ``"cuda:N"``, ``"auto"``
(the GPU when one is usable, else the CPU); array_api_strict also knows its own
test devices ``"device1"``, ``"device2"``, ``"no_float64"``. On JAX,
``"cpu:N"`` names one of several host devices, and a device set —
``"all"``, a list such as ``["cuda:0", "cuda:1"]`` or ``"cuda:0,cuda:1"`` —
trains data parallel (a set picks JAX; other backends refuse it).
Backends: ``numpy``, ``cupy``, ``torch``, ``jax``, ``dask``, ``array_api_strict``.
A device string picks the default backend (``cpu`` -> numpy, ``gpu`` ->
cupy); ``backend=`` overrides it.
"""

from __future__ import annotations

from . import sharding
from .arrays import (
    as_array,
    backend_of,
    convert,
    from_host,
    host_arange,
    is_array,
    namespace,
    quiet_float_errors,
    stacked,
    sync_count,
    target_of,
    to_float,
    to_numpy,
)
from .checks import check_integer, check_number
from .libraries import (
    _INSTALL,
    BACKENDS,
    DTYPES,
    BackendUnavailableError,
    Driver,
    _cuda_device_count,
    available_devices,
    cuda_driver,
    no_gpu_reason,
)
from .random import HostRandom
from .streams import Stream, StreamDataError, is_streamable
from .targets import (
    ENV_DEVICE,
    Array,
    Target,
    device,
    dtype_name,
    get_default_device,
    numpy_namespace,
    resolve,
    set_default_device,
)

__all__ = [
    "BACKENDS",
    "DTYPES",
    "ENV_DEVICE",
    "_INSTALL",
    "Array",
    "BackendUnavailableError",
    "Driver",
    "HostRandom",
    "Stream",
    "StreamDataError",
    "Target",
    "_cuda_device_count",
    "as_array",
    "available_devices",
    "backend_of",
    "check_integer",
    "check_number",
    "convert",
    "cuda_driver",
    "device",
    "dtype_name",
    "from_host",
    "get_default_device",
    "host_arange",
    "is_array",
    "is_streamable",
    "namespace",
    "no_gpu_reason",
    "numpy_namespace",
    "quiet_float_errors",
    "resolve",
    "set_default_device",
    "sharding",
    "stacked",
    "sync_count",
    "target_of",
    "to_float",
    "to_numpy",
]

