"""Matrix products on CuPy through cuBLAS's own API (nvmath-python's bindings).

CuPy's cuBLAS wrapper refuses a stream that is capturing a CUDA graph; cuBLAS
itself does not. A :class:`Gemm` owns a cuBLAS handle and computes a
row-major product ``C = A @ B`` of 2-D arrays as the column-major
``Cᵀ = Bᵀ Aᵀ`` (``sgemm`` in float32, ``dgemm`` in float64), its handle bound
to the current stream outside a capture, so that the same call runs step by
step and inside a captured graph, with the same bits.

A transposed view (``xp.matrix_transpose`` of a C-contiguous array is
F-contiguous) becomes cuBLAS's transpose flag, never a copy: :func:`plan`,
a pure function of shapes and strides (tested on the CPU).

:func:`training_namespace` gives the training loop, on CuPy with
nvmath-python installed, its namespace with ``matmul`` the Gemm's; the math
calls ``xp.matmul`` and never sees this module. nvmath-python and CuPy are
imported lazily: ``import nnarray`` needs neither.
"""

from __future__ import annotations

import functools
import types
import warnings
from typing import Any, NamedTuple

import array_api_compat

from .chunks import FallbackWarning

INSTALL = "pip install 'nnarray[cuda13]'"
"""How to get the CuPy CUDA-graph path (``nnarray[cuda12]`` on CUDA 12)."""

OP_N, OP_T = 0, 1
"""cuBLAS's ``CUBLAS_OP_N`` and ``CUBLAS_OP_T``."""


class Plan(NamedTuple):
    """The arguments of one column-major gemm, in cuBLAS's order.

    cuBLAS computes ``C_c (m × n) = op(A_c) op(B_c)``; for the row-major
    product ``C = A @ B`` it is called with ``A_c = B``, ``B_c = A`` and
    ``C_c = Cᵀ`` (so ``m`` is the product's column count and ``n`` its row
    count); ``opA``/``opB`` are the flags of ``A_c``/``B_c``, ``lda``/``ldb``
    their leading dimensions and ``ldc`` that of the C-contiguous output.
    """

    opA: int
    opB: int
    m: int
    n: int
    k: int
    lda: int
    ldb: int
    ldc: int


def _layout(shape: tuple[int, ...], strides: tuple[int, ...],
            itemsize: int) -> tuple[int, int] | None:
    """``(flag, leading dimension)`` of one operand, read as cuBLAS's
    column-major memory: a row-major array (unit stride along rows) is its
    own transpose in column-major terms (``OP_N``), a column-major one is
    itself (``OP_T``); ``None`` for any other layout."""
    r, c = shape
    s0, s1 = strides
    if (c <= 1 or s1 == itemsize) and (
            r <= 1 or (s0 % itemsize == 0 and s0 // itemsize >= max(1, c))):
        return OP_N, (s0 // itemsize if r > 1 else max(1, c))
    if (r <= 1 or s0 == itemsize) and (
            c <= 1 or (s1 % itemsize == 0 and s1 // itemsize >= max(1, r))):
        return OP_T, (s1 // itemsize if c > 1 else max(1, r))
    return None


def plan(shape_A: tuple[int, ...], strides_A: tuple[int, ...], shape_B: tuple[int, ...],
         strides_B: tuple[int, ...], itemsize: int) -> Plan | None:
    """The gemm that computes the row-major ``A @ B`` (``A`` is ``(m, k)``,
    ``B`` ``(k, n)``, strides in bytes) into a C-contiguous ``(m, n)``
    output, or ``None`` when an operand is laid out neither by rows nor by
    columns with a unit stride (the caller copies it first)."""
    if len(shape_A) != 2 or len(shape_B) != 2 or shape_A[1] != shape_B[0]:
        raise ValueError(f"matmul needs (m, k) @ (k, n), got shapes {tuple(shape_A)} and "
                         f"{tuple(shape_B)}")
    m, k = shape_A
    n = shape_B[1]
    a, b = _layout(shape_A, strides_A, itemsize), _layout(shape_B, strides_B, itemsize)
    if a is None or b is None:
        return None
    return Plan(b[0], a[0], n, m, k, b[1], a[1], max(1, n))


@functools.lru_cache(maxsize=1)
def _loads() -> tuple[bool, str]:
    """``(True, "")`` when CuPy imports and nvmath-python's cuBLAS bindings
    import and load libcublas (they load it at their first call, not at
    import: one call that needs no handle checks it), else ``(False, why)``.
    Asked once a process."""
    try:
        import cupy  # noqa: F401
    except ImportError:
        return False, f"CuPy is not installed, {INSTALL}"
    except Exception as exc:  # a broken install: any error, said, never raised
        return False, f"CuPy does not import ({type(exc).__name__}: {exc})"
    try:
        from nvmath.bindings import cublas
    except ImportError as exc:
        if getattr(exc, "name", None) in ("nvmath", "nvmath.bindings"):
            return False, f"nvmath-python is not installed, {INSTALL}"
        return False, f"nvmath-python's cuBLAS bindings do not load ({exc})"
    except Exception as exc:
        return False, f"nvmath-python does not import ({type(exc).__name__}: {exc})"
    try:
        cublas.get_property(0)  # MAJOR_VERSION: loads libcublas (and asks the driver)
    except Exception as exc:  # DynamicLibNotFoundError; NotSupportedError without a driver
        return False, f"nvmath-python's cuBLAS does not load ({type(exc).__name__}: {exc})"
    return True, ""


_failed: str | None = None
"""Why cuBLAS through nvmath-python failed at its first use in this process
(``None``: it did not): from then on CuPy's own ``matmul`` computes."""


def available() -> tuple[bool, str]:
    """``(True, "")`` when the products can go through cuBLAS's API here
    (CuPy and nvmath-python import, libcublas loads, and no handle failed to
    start), else ``(False, why)``."""
    if _failed is not None:
        return False, _failed
    return _loads()


def _fail(why: str) -> None:
    """Turn the cuBLAS path off for the process, with one warning."""
    global _failed
    if _failed is None:
        _failed = why
        warnings.warn(f"{why}; CuPy's own matmul computes from now on, step by step",
                      FallbackWarning, stacklevel=3)


class Gemm:
    """A cuBLAS handle on one CUDA device and the products made with it.

    The handle is bound to the stream current at each call when that
    stream changes (never while a stream captures: bind it to the capture
    stream first, with :meth:`bind` or one product on that stream)."""

    def __init__(self, device_id: int) -> None:
        import cupy
        import numpy
        from nvmath.bindings import cublas

        self._cupy, self._cublas, self.device_id = cupy, cublas, device_id
        with cupy.cuda.Device(device_id):
            self._handle = cublas.create()
        self._stream: int | None = None
        # alpha and beta: host scalars, alive as long as the handle
        self._scalars = {numpy.dtype(t): (numpy.ones((), t), numpy.zeros((), t))
                         for t in ("float32", "float64")}

    def bind(self, stream_ptr: int) -> None:
        """Run the handle's products on the stream ``stream_ptr``."""
        if stream_ptr != self._stream:
            self._cublas.set_stream(self._handle, stream_ptr)
            self._stream = stream_ptr

    def matmul(self, A: Any, B: Any) -> Any:
        """``A @ B`` of 2-D float32 or float64 CuPy arrays of one dtype, a
        new C-contiguous array from CuPy's allocator on this Gemm's device.
        Empty operands (whatever their strides) give an empty product, or
        zeros when only ``k`` is 0."""
        cp = self._cupy
        if A.dtype != B.dtype or A.dtype.name not in ("float32", "float64"):
            raise TypeError(f"Gemm.matmul takes two float32 or two float64 arrays, got "
                            f"{A.dtype} and {B.dtype}")
        if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0]:
            raise ValueError(f"matmul needs (m, k) @ (k, n), got shapes {tuple(A.shape)} and "
                             f"{tuple(B.shape)}")
        (m, k), n = A.shape, B.shape[1]
        with cp.cuda.Device(self.device_id):  # the output too, whatever device is current
            if m == 0 or n == 0:
                return cp.empty((m, n), dtype=A.dtype)
            if k == 0:
                return cp.zeros((m, n), dtype=A.dtype)
            p = plan(A.shape, A.strides, B.shape, B.strides, A.itemsize)
            if p is None:
                A, B = cp.ascontiguousarray(A), cp.ascontiguousarray(B)
                p = plan(A.shape, A.strides, B.shape, B.strides, A.itemsize)
                assert p is not None  # non-empty C-contiguous operands always have a plan
            C = cp.empty((m, n), dtype=A.dtype)
            one, zero = self._scalars[A.dtype]
            gemm = self._cublas.sgemm if A.dtype.name == "float32" else self._cublas.dgemm
            self.bind(cp.cuda.get_current_stream().ptr)
            gemm(self._handle, p.opA, p.opB, p.m, p.n, p.k, one.ctypes.data, B.data.ptr,
                 p.lda, A.data.ptr, p.ldb, zero.ctypes.data, C.data.ptr, p.ldc)
        return C

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None:
            try:
                self._cublas.destroy(handle)
            except Exception:
                pass


@functools.cache
def gemm_for(device_id: int) -> Gemm:
    """The process's :class:`Gemm` of one CUDA device (the steps and the
    graphs share it: one handle, one choice of kernels)."""
    return Gemm(device_id)


class GemmUnavailableError(RuntimeError):
    """cuBLAS through nvmath-python failed to start (already warned of)."""


def start(device_id: int) -> Gemm:
    """:func:`gemm_for`, asked once: a failure (which ``gemm_for`` does not
    cache) turns the cuBLAS path off for the process with one warning, and
    raises :class:`GemmUnavailableError` now and at every later call."""
    if _failed is None:
        try:
            return gemm_for(device_id)
        except Exception as exc:
            _fail(f"cuBLAS through nvmath-python does not start ({type(exc).__name__}: {exc})")
    raise GemmUnavailableError(str(_failed))


def cupy_matmul(fallback: Any) -> Any:
    """``matmul`` through :func:`gemm_for` for 2-D float operands; anything
    else (batched, integer, mixed) goes to ``fallback``, CuPy's own, and so
    does everything once a handle failed to start (one warning, then
    :func:`available` says why)."""

    def matmul(A: Any, B: Any) -> Any:
        if (_failed is None and getattr(A, "ndim", 0) == 2 and getattr(B, "ndim", 0) == 2
                and A.dtype == B.dtype and A.dtype.name in ("float32", "float64")):
            try:
                g = start(A.device.id)
            except GemmUnavailableError:
                return fallback(A, B)
            return g.matmul(A, B)
        return fallback(A, B)

    return matmul


def training_namespace(xp: Any, cupy: bool | None = None) -> Any:
    """``xp`` itself, except on CuPy (``cupy``: whether ``xp`` is CuPy's;
    by default asked of ``xp``) with nvmath-python installed, where it is
    ``xp`` with ``matmul`` through cuBLAS's API. The same ``xp`` gives the
    same object each time (it keys the loop's caches)."""
    if cupy is None:
        cupy = array_api_compat.is_cupy_namespace(xp)
    if not cupy or not available()[0]:
        return xp
    return with_matmul(xp, "cupy")


@functools.lru_cache(maxsize=16)
def with_matmul(xp: Any, kind: Any) -> Any:
    """``xp`` with its ``matmul`` replaced: ``kind="cupy"``, the Gemm's; a
    callable ``kind(fallback)`` -> matmul otherwise (the tests' stand-ins)."""
    ns: Any = types.ModuleType(f"{getattr(xp, '__name__', 'xp')}+gemm",
                               "an array namespace whose matmul is cuBLAS's API")
    ns.__dict__.update(vars(xp))
    make = cupy_matmul if kind == "cupy" else kind
    ns.matmul = make(xp.matmul)
    return ns
