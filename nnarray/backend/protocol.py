"""The type of an array in nnarray's annotations."""

from __future__ import annotations

from typing import Any, Protocol


class Array(Protocol):
    """An array of any supported library, as nnarray's math uses one.

    A structural type (:class:`typing.Protocol`): NumPy, CuPy, PyTorch, JAX,
    Dask and array_api_strict arrays satisfy it as they are, with nothing to
    register or wrap. By their own annotations, NumPy's ``ndarray`` (proved
    on every check by ``tests/typing/usage.py``), ``torch.Tensor``,
    ``jax.Array`` and array_api_strict's arrays do; CuPy and Dask arrays have
    no annotations a type checker reads, so they pass as ``Any``. It is not
    the standard's ``__array_namespace__`` protocol on purpose: torch tensors
    and Dask arrays lack that method (nnarray finds their namespaces through
    ``array_api_compat``), so a type that required it would reject two of
    the supported libraries.

    It holds what nnarray touches on an array itself, and nothing more:
    ``shape`` and ``dtype``; the arithmetic, power, ``@``, comparison and
    ``|`` operators; indexing; ``.T``; ``float()`` of a 0-d array (a cost).
    Everything else goes through the namespace ``xp`` (``xp.matrix_transpose``
    rather than ``.mT``, which Dask arrays lack). Operands are ``Any``, since
    each library takes its own arrays and Python scalars; results are
    ``Array``, ``==`` included (elementwise, not the ``bool`` of
    ``object.__eq__``). A cost on NumPy is a NumPy scalar, which behaves as a
    0-d array but whose stubs lack ``@`` and indexing: it is annotated as an
    ``Array`` all the same. The type serves annotations and type checkers
    only: nothing in nnarray tests ``isinstance(x, Array)``.
    """

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> Any: ...

    @property
    def T(self) -> Array: ...

    def __getitem__(self, key: Any, /) -> Array: ...

    def __float__(self) -> float: ...

    def __neg__(self) -> Array: ...

    def __add__(self, other: Any, /) -> Array: ...

    def __radd__(self, other: Any, /) -> Array: ...

    def __sub__(self, other: Any, /) -> Array: ...

    def __rsub__(self, other: Any, /) -> Array: ...

    def __mul__(self, other: Any, /) -> Array: ...

    def __rmul__(self, other: Any, /) -> Array: ...

    def __truediv__(self, other: Any, /) -> Array: ...

    def __rtruediv__(self, other: Any, /) -> Array: ...

    def __pow__(self, other: Any, /) -> Array: ...

    def __matmul__(self, other: Any, /) -> Array: ...

    def __lt__(self, other: Any, /) -> Array: ...

    def __le__(self, other: Any, /) -> Array: ...

    def __gt__(self, other: Any, /) -> Array: ...

    def __ge__(self, other: Any, /) -> Array: ...

    # elementwise, so an array where object.__eq__ promises a bool
    def __eq__(self, other: Any, /) -> Array: ...  # type: ignore[override]

    def __or__(self, other: Any, /) -> Array: ...
