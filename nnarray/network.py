"""``Network``: layer sizes, activations and parameters on one device.

A network converts its inputs (any library, any device, lists too) to its own
namespace, device and dtype once per call, at the boundary, and checks them
there before any parameter changes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from . import activations, io, losses, propagation, train
from . import backend as _backend
from . import init as _init
from .backend import Array
from .optimizers import check_learning_rate
from .train import History, TrainState

HIDDEN = tuple(a for a in activations.ACTIVATIONS if a != "linear")


class Network:
    """An L-layer network: [LINEAR -> hidden] × (L−1) -> LINEAR -> output.

    Parameters
    ----------
    layer_dims : ``[n_x, n[1], ..., n[L]]``, e.g. ``[12288, 20, 7, 5, 1]``.
    hidden : activation of layers 1..L−1: ``relu``, ``leaky_relu``, ``tanh``, ``sigmoid``.
    output : ``sigmoid`` (binary cross-entropy) or ``linear`` (squared error).
    init : ``zeros``, ``random`` (×0.01), ``xavier``, ``he``, or a dict of
        initial parameters ``{"W1": ..., "b1": ...}`` from any library.
    seed : seed of the host random generator (the same on every device).
    device, backend : where to compute (see :func:`nnarray.backend.resolve`).
    dtype : ``float32`` (default) or ``float64``.
    """

    def __init__(
        self,
        layer_dims: Sequence[int],
        hidden: str = "relu",
        output: str = "sigmoid",
        init: str | Mapping[str, Any] = "he",
        seed: int | None = 1,
        device: str | None = None,
        backend: str | None = None,
        dtype: Any = "float32",
    ) -> None:
        dims = _init.check_layer_dims(layer_dims)
        if hidden not in HIDDEN:
            raise ValueError(f"hidden must be one of {list(HIDDEN)}, got {hidden!r}")
        if output not in losses.OUTPUTS:
            raise ValueError(f"output must be one of {list(losses.OUTPUTS)}, got {output!r}")
        target = _backend.resolve(backend, device)
        target.dtype(dtype)
        dtype = _backend.dtype_name(dtype)
        if isinstance(init, Mapping):
            _init.check_parameters(init, dims)
            params = _init.to_target({k: init[k] for k in sorted(init)}, target, dtype)
            self.init = "given"
        else:
            host = _init.initialize_host(dims, init, seed, dtype)
            params = _init.to_target(host, target, dtype)
            self.init = init
        self.layer_dims = dims
        self.hidden = hidden
        self.output = output
        self.seed = seed
        self.dtype = dtype
        self.history: History | None = None
        self._target = target
        self._params = params

    # ------------------------------------------------------------------ #
    @property
    def parameters(self) -> dict[str, Array]:
        """``{"W1", "b1", ..., "WL", "bL"}`` on the network's device (a new dict)."""
        return dict(self._params)

    @property
    def device(self) -> str:
        """The device the parameters live on, e.g. ``"cpu"`` or ``"cuda:0"``."""
        return self._target.device

    @property
    def backend(self) -> str:
        """The array library that computes: numpy, cupy, torch, jax, dask, array_api_strict."""
        return self._target.backend

    @property
    def L(self) -> int:
        """Number of layers with parameters."""
        return len(self.layer_dims) - 1

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.layer_dims}, hidden={self.hidden!r}, "
            f"output={self.output!r}, device={self.device!r}, backend={self.backend!r}, "
            f"dtype={self.dtype!r})"
        )

    # ------------------------------------------------------------------ #
    def fit(
        self,
        X: Any,
        Y: Any,
        iterations: int = 2500,
        learning_rate: float = 0.0075,
        progress: bool = True,
        record_every: int = 100,
    ) -> History:
        """Full-batch gradient descent from the current parameters.

        X is ``(n_x, m)``, Y is ``(n[L], m)``. Returns the :class:`History`
        (also kept as ``self.history``): costs before the update at
        iterations 0, k, 2k, ... and the last. ``progress`` shows a bar (tqdm)
        when stderr is a terminal. On a NaN/inf cost raises
        :class:`~nnarray.DivergenceError` keeping the last finite parameters;
        Ctrl-C keeps the last completed step and the history so far.
        """
        lr = check_learning_rate(learning_rate)
        iterations, record_every = train.check_iterations(iterations, record_every)
        X, Y = self._inputs(X, Y)
        state = TrainState(self._params)
        self.history = state.history
        try:
            with self._target.context(), _backend.quiet_float_errors():
                train.run(state, X, Y, hidden=self.hidden, output=self.output,
                          iterations=iterations, learning_rate=lr,
                          record_every=record_every, progress=progress)
        finally:
            self._params = state.parameters
        return state.history

    def predict_proba(self, X: Any) -> Array:
        """A[L] for X ``(n_x, m)``: probabilities ``(n[L], m)`` on the network's device."""
        X, _ = self._inputs(X)
        with self._target.context():
            AL, _ = propagation.model_forward(X, self._params, self.hidden, self.output)
        return AL

    def predict(self, X: Any, threshold: float = 0.5) -> Array:
        """Class labels 0/1 (``A[L] > threshold``, in the network's dtype) for a
        sigmoid output; the values A[L] for a linear one."""
        AL = self.predict_proba(X)
        if self.output == "linear":
            return AL
        xp = self._target.xp
        with self._target.context():
            return xp.astype(AL > float(threshold), AL.dtype)

    def score(self, X: Any, Y: Any) -> float:
        """Accuracy (fraction of correct labels) for a sigmoid output; R² for a linear one."""
        X, Y = self._inputs(X, Y)
        xp = self._target.xp
        with self._target.context():
            AL, _ = propagation.model_forward(X, self._params, self.hidden, self.output)
            if self.output == "linear":
                residual = xp.sum((Y - AL) ** 2)
                total = xp.sum((Y - xp.mean(Y, axis=1, keepdims=True)) ** 2)
                return 1.0 - _backend.to_float(residual) / _backend.to_float(total)
            correct = xp.astype((AL > 0.5) == (Y > 0.5), AL.dtype)
            return _backend.to_float(xp.sum(correct)) / math.prod(Y.shape)

    def cost(self, X: Any, Y: Any) -> float:
        """J on (X, Y) with the current parameters, as a Python float."""
        X, Y = self._inputs(X, Y)
        with self._target.context():
            J = train.cost(self._params, X, Y, self.hidden, self.output)
        return _backend.to_float(J)

    # ------------------------------------------------------------------ #
    def to(self, device: str | None = None, backend: str | None = None) -> Network:
        """Move the parameters to another device/backend (in place); returns ``self``."""
        target = _backend.resolve(backend, device)
        target.dtype(self.dtype)
        self._params = _init.to_target(self._params, target, self.dtype)
        self._target = target
        return self

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save to ``path`` (an ``.npz`` file, written atomically, no pickle)."""
        arrays = {k: _backend.to_numpy(v) for k, v in self._params.items()}
        io.save_arrays(path, arrays, self._meta())

    def _meta(self) -> dict[str, Any]:
        return {
            "class": type(self).__name__,
            "layer_dims": self.layer_dims,
            "hidden": self.hidden,
            "output": self.output,
            "dtype": self.dtype,
        }

    # ------------------------------------------------------------------ #
    def _inputs(self, X: Any, Y: Any = None) -> tuple[Array, Array | None]:
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
        Xc = _finite("X", self._convert(X))
        if Y is None:
            return Xc, None
        Y = _as_2d("Y", Y, hint=" (labels are a row: pass Y.reshape(1, -1)?)")
        n_y = self.layer_dims[-1]
        if tuple(Y.shape) != (n_y, X.shape[1]):
            raise ValueError(
                f"Y has shape {tuple(Y.shape)} but must be (n[L], m) = ({n_y}, {X.shape[1]}) "
                "for this network and X"
            )
        Yc = _finite("Y", self._convert(Y))
        if self.output == "sigmoid":
            xp = self._target.xp
            with self._target.context():
                ok = xp.all((Yc == 0.0) | (Yc == 1.0))
            if not bool(_backend.to_numpy(ok)):
                raise ValueError(
                    "Y must hold only the labels 0 and 1 for a sigmoid output "
                    "(e.g. 1 = cat, 0 = non-cat); got other values"
                )
        return Xc, Yc

    def _convert(self, a: Any) -> Array:
        return _backend.convert(a, self._target, self.dtype)


class LogisticRegression(Network):
    """The lecture's review: ŷ = σ(wᵀx + b), a network with no hidden layer,
    started from zeros. ``w`` is ``W1.T`` ``(n_x, 1)``."""

    def __init__(
        self,
        n_x: int,
        device: str | None = None,
        backend: str | None = None,
        dtype: Any = "float32",
        init: str | Mapping[str, Any] = "zeros",
    ) -> None:
        super().__init__([n_x, 1], hidden="relu", output="sigmoid", init=init, seed=None,
                         device=device, backend=backend, dtype=dtype)

    def fit(self, X: Any, Y: Any, iterations: int = 2000, learning_rate: float = 0.005,
            progress: bool = True, record_every: int = 100) -> History:
        """As :meth:`Network.fit`, with the lecture's defaults (2000 iterations, α = 0.005)."""
        return super().fit(X, Y, iterations, learning_rate, progress, record_every)


def load(path: str | os.PathLike[str], device: str | None = None,
         backend: str | None = None) -> Network:
    """Load a saved network on ``device`` (any device, whatever it was saved from).

    Returns the class that was saved (``Network`` or ``LogisticRegression``).
    """
    arrays, meta = io.load_arrays(path)
    try:
        cls = {"Network": Network, "LogisticRegression": LogisticRegression}[meta["class"]]
        dims = _init.check_layer_dims(meta["layer_dims"])
        dtype = _backend.dtype_name(meta["dtype"])
        _init.check_parameters(arrays, dims)
        for k, a in arrays.items():
            if a.dtype.name != dtype:
                raise ValueError(f"{k} has dtype {a.dtype.name}, the metadata says {dtype}")
            _finite(k, a)
        kwargs = {} if cls is LogisticRegression else {
            "hidden": meta["hidden"], "output": meta["output"]}
        shape = dims[0] if cls is LogisticRegression else dims
        host = cls(shape, init=arrays, device="cpu", dtype=dtype, **kwargs)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} is not a consistent nnarray model: {exc}") from exc
    return host.to(device, backend)


# ---------------------------------------------------------------------- #


def _as_2d(name: str, a: Any, hint: str = "") -> Any:
    """``a`` as an array with a 2-D shape, or a clear error."""
    a = _backend.as_array(name, a)
    shape = tuple(a.shape)
    if len(shape) != 2:
        raise ValueError(f"{name} must be 2-D (n, m) with examples as columns, got shape "
                         f"{shape}{hint if len(shape) == 1 else ''}")
    if math.prod(shape) == 0:
        raise ValueError(f"{name} is empty (shape {shape})")
    return a


def _finite(name: str, a: Array) -> Array:
    xp = _backend.namespace(a)
    if not bool(_backend.to_numpy(xp.all(xp.isfinite(a)))):
        raise ValueError(f"{name} contains NaN or inf values")
    return a
