"""The boundary of a network's data: X and Y checked and converted, once
per call, to the network's namespace, device and dtype, before any parameter
changes; data to stream (Dask, memmap, zarr) wrapped as a
:class:`~nnarray.backend.Stream` whose batches are checked as they are read;
columns split over a device set."""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from . import backend
from .backend import Array, Target
from .engines import compile_step


@dataclass(frozen=True)
class Inputs:
    """The checks of a network with ``layer_dims`` and ``output`` computing
    on ``target`` in ``dtype``."""

    layer_dims: Sequence[int]
    output: str
    target: Target
    dtype: str

    def inputs(self, X: Any, Y: Any = None) -> tuple[Array, Array | None]:
        """X (and Y) checked and converted to the network's target and dtype."""
        X = _as_2d("X", X)
        n_x = self.layer_dims[0]
        if X.shape[0] != n_x:
            hint = " (examples are columns: pass X.T?)" if X.shape[1] == n_x else ""
            raise ValueError(
                f"X has {X.shape[0]} rows but the network's input layer has n_x={n_x}{hint}"
            )
        if X.shape[1] == 0:
            raise ValueError("X has no examples (m=0 columns)")
        Xc = self.convert(X)
        if Y is None:
            if not self._valid(Xc, None)[0]:
                finite("X", Xc, X)
            return Xc, None
        Y = _as_2d("Y", Y, hint=" (labels are a row: pass Y.reshape(1, -1)?)")
        n_y = self.layer_dims[-1]
        if self.output == "softmax" and n_y > 1 and tuple(Y.shape) == (1, X.shape[1]):
            Y = _one_hot(Y, n_y)
        if tuple(Y.shape) != (n_y, X.shape[1]):
            raise ValueError(
                f"Y has shape {tuple(Y.shape)} but must be (n[L], m) = ({n_y}, {X.shape[1]}) "
                "for this network and X"
            )
        Yc = self.convert(Y)
        x_ok, y_ok, labels_ok = self._valid(Xc, Yc)
        if not x_ok:
            finite("X", Xc, X)
        if not y_ok:
            finite("Y", Yc, Y)
        if not labels_ok:
            raise ValueError(
                "Y must hold only the labels 0 and 1 for a sigmoid output "
                "(e.g. 1 = cat, 0 = non-cat); got other values"
                if self.output == "sigmoid" else
                f"Y must be one-hot ({n_y}, m) columns or integer classes (1, m) in "
                f"0..{n_y - 1} for a softmax output; got other values"
            )
        return Xc, Yc

    def _valid(self, X: Array, Y: Array | None) -> list[bool]:
        """Whether X's and Y's values are finite, and whether Y holds labels
        the output takes: one program where the network computes, one host
        sync; none for JAX arrays that passed already (they never change)."""
        key = (id(X), id(Y), self.output)
        immutable = self.target.backend == "jax" and not self.target.is_set  # JAX arrays here
        held = _passed.get(key) if immutable else None
        if held is not None and held[0]() is X and (held[1] is None or held[1]() is Y):
            return [True, True, True]
        name = "numpy" if self.target.is_set else self.target.backend  # a set: on the host
        with self.target.context():
            flags = _value_checks(name, self.output)(X, Y)
        valid = [bool(f) for f in backend.to_numpy(flags)]
        if all(valid) and immutable:
            if len(_passed) >= 16:
                _passed.clear()
            _passed[key] = (weakref.ref(X), None if Y is None else weakref.ref(Y))
        return valid

    def data(self, X: Any, Y: Any = None, *, stream: bool,
              examples_as_rows: bool = False) -> tuple[Any, Array | None]:
        """X (and Y) for a call: a :class:`~nnarray.backend.Stream` of both
        (and ``None``) when ``stream`` and X is data to stream (Dask, memmap,
        zarr) for a network that is not Dask's; else :meth:`inputs` of them
        (transposed first with ``examples_as_rows``)."""
        if examples_as_rows not in (True, False):
            raise TypeError(f"examples_as_rows must be True or False, got {examples_as_rows!r}")
        if stream and self.target.backend != "dask" and backend.is_streamable(X):
            return self.stream(X, Y, bool(examples_as_rows)), None
        if examples_as_rows:
            X, Y = _as_columns("X", X), None if Y is None else _as_columns("Y", Y)
        return self.inputs(X, Y)

    def stream(self, X: Any, Y: Any, rows: bool) -> backend.Stream:
        """X and Y as a stream to this network's device and dtype, their
        shapes checked as :meth:`inputs` checks them (values: batch by batch)."""
        if self.target.is_set:
            raise ValueError(f"streamed X ({type(X).__name__}) trains on one device; this "
                             f"network computes on the set {self.target.device!r}: load X into "
                             "memory, or move the network to one device (net.to('cuda:0'))")
        n_x, n_y = self.layer_dims[0], self.layer_dims[-1]
        shape = tuple(X.shape)
        if len(shape) == 2 and shape[1 if rows else 0] != n_x:
            swapped = shape[0 if rows else 1] == n_x
            hint = ("" if not swapped else " (stored with examples as columns? pass "
                    "examples_as_rows=False)" if rows else " (stored with examples as rows? "
                    "pass examples_as_rows=True)")
            raise ValueError(f"X {shape} has {shape[1 if rows else 0]} features per example "
                             f"but the network's input layer has n_x={n_x}{hint}")
        data = backend.Stream(X, Y, target=self.target, dtype=self.dtype,
                               examples_as_rows=rows)
        one_hot = data.n_y is not None and self.output == "softmax" and n_y > 1 \
            and data.n_y == 1
        if data.n_y is not None and data.n_y != n_y and not one_hot:
            raise ValueError(f"Y {tuple(Y.shape)} has {data.n_y} values per example but "
                             f"must have n[L]={n_y} for this network")
        data.prepare = lambda Xb, Yb, parts: self.check_batch(Xb, Yb, one_hot, parts)
        return data

    def check_batch(self, X: Any, Y: Any, one_hot: bool,
                    sources: tuple[list[Any], list[Any]]) -> tuple[Any, Any]:
        """A streamed batch on the host, checked as :meth:`inputs` checks
        whole inputs: X finite; Y finite, made one-hot from integer classes,
        with the output's labels. ``sources`` are the parts of X and Y the
        batch was cast from (an overflow in the cast is named as one)."""
        finite("X", X, sources[0])
        if Y is None:
            return X, Y
        finite("Y", Y, sources[1])
        xp = backend.namespace(Y)
        n_y = self.layer_dims[-1]
        if one_hot:
            Y = _one_hot(Y, n_y)
        if self.output in ("sigmoid", "softmax"):
            ok = bool(xp.all((Y == 0.0) | (Y == 1.0)))
            if ok and self.output == "softmax":
                ok = bool(xp.all(xp.sum(Y, axis=0) == 1.0))
            if not ok:
                raise ValueError(
                    "Y must hold only the labels 0 and 1 for a sigmoid output; got other values"
                    if self.output == "sigmoid" else
                    f"Y must be one-hot ({n_y}, m) columns or integer classes (1, m) in "
                    f"0..{n_y - 1} for a softmax output; got other values")
        return X, Y

    def convert(self, a: Any) -> Array:
        """``a`` as the network's dtype where it computes (on the host for a
        device set); an overflow in the cast is reported by :func:`finite`."""
        with backend.quiet_float_errors():
            return self._convert(a)

    def _convert(self, a: Any) -> Array:
        if self.target.is_set:  # checked on the host, then split: see _split
            return backend.convert(a, backend.resolve("numpy", "cpu"), self.dtype)
        return backend.convert(a, self.target, self.dtype)

    def split(self, X: Any, Y: Any) -> tuple[Array, Array | None, Any]:
        """On a device set, checked inputs' columns split over its devices
        (padded; ``backend.sharding.Examples`` says where the real ones are);
        elsewhere the inputs as they are and ``None``."""
        if not self.target.is_set or not backend.is_array(X):
            return X, Y, None
        sets = backend.sharding
        X, examples = sets.place_examples(X, self.target.native)
        if Y is not None:
            Y, _ = sets.place_examples(Y, self.target.native, examples)
        return X, Y, examples


def _as_2d(name: str, a: Any, hint: str = "") -> Any:
    """``a`` as an array with a 2-D shape, or a clear error."""
    a = backend.as_array(name, a)
    shape = tuple(a.shape)
    if len(shape) != 2:
        raise ValueError(f"{name} must be 2-D (n, m) with examples as columns, got shape "
                         f"{shape}{hint if len(shape) == 1 else ''}")
    if math.prod(shape) == 0:
        raise ValueError(f"{name} is empty (shape {shape})")
    return a


def _as_columns(name: str, a: Any) -> Any:
    """``a`` stored with examples as rows, ``(m, n)`` (or ``(m,)`` for Y), in
    the lecture's layout ``(n, m)``."""
    a = backend.as_array(name, a)
    shape = tuple(a.shape)
    if len(shape) != 2 and (name == "X" or len(shape) != 1):
        raise ValueError(f"{name} must be 2-D (m, n) with examples as rows "
                         f"(examples_as_rows=True), got shape {shape}")
    xp = backend.namespace(a)
    return xp.reshape(a, (1, shape[0])) if len(shape) == 1 else xp.matrix_transpose(a)


def _one_hot(Y: Any, n_y: int) -> Any:
    """Integer classes ``(1, m)`` in 0..n_y−1 as one-hot columns ``(n_y, m)`` (on the host)."""
    labels = backend.to_numpy(Y) if backend.is_array(Y) else Y
    classes = labels[0].astype(int) if (labels == labels.astype(int)).all() else None
    if classes is None or classes.min() < 0 or classes.max() >= n_y:
        raise ValueError(
            f"Y as a row must hold integer classes 0..{n_y - 1} for a softmax output of "
            f"n[L]={n_y} units; got values from {labels.min()} to {labels.max()}"
        )
    return (classes[None, :] == backend.host_arange(n_y)[:, None]).astype(labels.dtype)


def finite(name: str, a: Array, source: Any = None) -> Array:
    """``a`` if all its values are finite, else a ``ValueError`` naming
    ``name``: that it overflows ``a``'s dtype when ``source`` (what ``a``
    was cast from, or a list of the parts it was cast from) is finite, else
    that it contains NaN or inf."""
    if _all_finite(a):
        return a
    parts = source if isinstance(source, list) else [source]
    if source is not None and all(backend.is_array(p) and _all_finite(p) for p in parts):
        dtype = backend.dtype_name(a.dtype)
        largest = float(backend.numpy_namespace.finfo(dtype).max)
        raise ValueError(f"{name} has values beyond {dtype}'s range (|x| > {largest:.4g}): "
                         f"it overflows {dtype} (pass dtype='float64', or rescale {name})")
    raise ValueError(f"{name} contains NaN or inf values")


_passed: dict[tuple[int, int, str], tuple[Any, Any]] = {}
"""JAX inputs whose values passed :meth:`Inputs._valid`, by ``id`` (weak
references tell a reused ``id`` apart)."""


@lru_cache(maxsize=32)
def _value_checks(backend_name: str, output: str) -> Callable[..., Array]:
    """``check(X, Y) -> [X finite, Y finite, Y's labels right for output]``,
    compiled where the backend compiles. Without Y, or for a linear output,
    the flags it has no check for repeat the last one."""
    def check(X: Array, Y: Array | None) -> Array:
        xp = backend.namespace(X)
        flags = [xp.all(xp.isfinite(X))]
        if Y is not None:
            flags.append(xp.all(xp.isfinite(Y)))
            if output in ("sigmoid", "softmax"):
                labels = xp.all((Y == 0.0) | (Y == 1.0))
                if output == "softmax":
                    labels = labels & xp.all(xp.sum(Y, axis=0) == 1.0)
                flags.append(labels)
        return xp.stack(flags + flags[-1:] * (3 - len(flags)))

    return compile_step(check, backend_name)


def _all_finite(a: Array) -> bool:
    xp = backend.namespace(a)
    if not xp.isdtype(a.dtype, ("real floating", "complex floating")):
        return True
    return bool(backend.to_numpy(xp.all(xp.isfinite(a))))
