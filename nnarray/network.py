"""``Network``: layer sizes, activations and parameters on one device.

A network converts its inputs (any library, any device, lists too) to its own
namespace, device and dtype once per call, at the boundary, and checks them
there before any parameter changes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import activations, engines, fitting, io, losses, metrics, optimizers, propagation, train
from . import backend as _backend
from . import init as _init
from .backend import Array
from .backend.checks import check_seed
from .inputs import Inputs, finite
from .train import History, TrainState


class Network:
    """An L-layer network: [LINEAR -> hidden] × (L−1) -> LINEAR -> output.

    ``metadata``: what :meth:`save` keeps of the data (``classes``, ``input``,
    ``dataset``: :mod:`nnarray.io.model`), given back by :func:`load`; never read here.

    Parameters
    ----------
    layer_dims : ``[n_x, n[1], ..., n[L]]``, e.g. ``[12288, 20, 7, 5, 1]``.
    hidden : activation of layers 1..L−1: ``relu``, ``leaky_relu``, ``tanh``, ``sigmoid``.
    output : ``sigmoid`` (binary cross-entropy), ``softmax`` (categorical
        cross-entropy; Y one-hot ``(n[L], m)`` or integer classes ``(1, m)``)
        or ``linear`` (squared error).
    init : ``zeros``, ``random`` (×0.01), ``xavier``, ``he``, or a dict of
        initial parameters ``{"W1": ..., "b1": ...}`` from any library.
    seed : seed of the host random generator (the same on every device).
    device, backend : where to compute (see :func:`nnarray.backend.resolve`).
    dtype : ``float32`` (default) or ``float64``.
    generator : ``"default"`` draws from ``numpy.random.default_rng(seed)``;
        ``"legacy"`` from ``numpy.random.RandomState(seed)``, the course's
        ``np.random.seed(seed); np.random.randn(...)``, layer by layer: with
        the course's ``init`` and ``seed`` and ``dtype="float64"`` the initial
        parameters are the course's, bit for bit (as ``nnarray train`` builds
        them). Ignored when ``init`` is a dict or ``"zeros"`` (nothing is drawn).

    Examples
    --------
    The course's 4-layer cat classifier, its initial parameters included::

        net = nn.Network([12288, 20, 7, 5, 1], init="xavier", seed=1,
                         generator="legacy", dtype="float64")
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
        generator: str = "default",
    ) -> None:
        dims, target, dtype = _init.check_layer_dims(layer_dims), *_where(backend, device, dtype)
        _check_choices(hidden, output, generator)
        seed = check_seed(seed, legacy=generator == "legacy")
        params = _initial(init, dims, seed, target, dtype, generator)
        self.init = "given" if isinstance(init, Mapping) else init
        self.layer_dims = dims
        self.hidden = hidden
        self.output = output
        self.seed = seed
        self.generator = generator
        self.dtype = dtype
        self.history: History | None = None
        self.metadata: dict[str, Any] = {}
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

    def execution(self, record_every: int | None = 100) -> str:
        """How :meth:`fit` runs here, in words, e.g. ``"cuda:0 (jax, compiled
        chunks of 100)"`` or ``"cpu (numpy, step by step)"`` (see
        :func:`nnarray.engines.describe`)."""
        return engines.describe(self.backend, self.device, record_every)

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
        *,
        optimizer: str | optimizers.Optimizer = "gd",
        batch_size: int | None = None,
        epochs: int | None = None,
        l2: float = 0.0,
        dropout: Mapping[int, float] | None = None,
        decay_rate: float = 0.0,
        validation: tuple[Any, Any] | None = None,
        patience: int | None = None,
        on_iteration: Callable[[int], Any] | None = None,
        on_epoch: Callable[[int, History], Any] | None = None,
        matmul_precision: str = "highest",
        checkpoint: str | os.PathLike[str] | None = None,
        checkpoint_every: int | None = None,
        resume: str | os.PathLike[str] | None = None,
        examples_as_rows: bool = False,
    ) -> History:
        """Train from the current parameters.

        X is ``(n_x, m)``, Y is ``(n[L], m)``. Without ``batch_size``: the
        lecture's full-batch loop for ``iterations`` steps, costs recorded before
        the update at iterations 0, k, 2k, ... and the last. With
        ``batch_size``: ``epochs`` passes over seeded shuffles of the data, one
        cost per epoch.

        ``optimizer``: ``"gd"``, ``"momentum"``, ``"rmsprop"``, ``"adam"`` or an
        object from :mod:`nnarray.optimizers`. ``l2`` is λ of the penalty
        (λ/2m) Σ‖W‖². ``dropout`` maps hidden layers to keep_prob (inverted
        dropout). ``decay_rate`` divides α by (1 + decay_rate · epoch).
        ``validation=(X_val, Y_val)`` records a validation cost at each record
        point or epoch; with ``patience`` training stops after that many
        without improvement and keeps the best parameters.
        ``on_iteration(i)`` and ``on_epoch(epoch, history)`` are called after
        each step and epoch; ``on_iteration`` runs the steps one by one
        (otherwise JAX and PyTorch on CUDA run the steps between two record
        points as one compiled chunk, with the same results).
        ``matmul_precision``: ``"highest"`` (true float32 products, as NumPy,
        CuPy and PyTorch give) or ``"tf32"`` (JAX only: TensorFloat-32
        products on GPUs that have them, faster, relative error about 3e-4
        per product instead of 4e-7).

        ``checkpoint=PATH`` writes atomically, every ``checkpoint_every``
        iterations (a multiple of ``record_every``; default ``record_every``)
        or epochs (default 1), what an exact resume needs; ``resume=PATH``
        continues such a run bit for bit: ``iterations``/``epochs`` is the
        run's total, the History holds the records made before. A checkpoint
        of another run, past the total, or whose fields disagree is refused,
        naming the difference. ``nn.load`` opens a checkpoint as a model.

        Data larger than memory: with ``batch_size``, a Dask array, a NumPy
        memmap (:func:`nnarray.io.open_memmap`) or a zarr array is streamed,
        batch by batch in a chunk-aware shuffle, the next batch read on a
        background thread (:mod:`nnarray.backend.streams`).
        ``examples_as_rows=True`` takes X ``(m, n_x)`` and Y ``(m, n[L])``
        or ``(m,)`` (``validation`` too; in memory or streamed): with
        examples as rows a batch is one contiguous read.
        A batch with NaN/inf or bad labels raises a ``ValueError`` naming
        its examples and leaves the parameters as they were.

        Returns the :class:`History` (also kept as ``self.history``).
        ``progress`` shows a bar (tqdm) on a terminal, elsewhere a line every
        few seconds of a long run (:mod:`nnarray.progress`). On a NaN/inf cost
        raises :class:`~nnarray.DivergenceError` keeping the last finite
        parameters; a last recorded cost more than 1 % above the first (or,
        mini-batches, ten times the starting parameters' cost) warns
        (:class:`~nnarray.CostRoseWarning`). Ctrl-C keeps the last completed
        step and the history so far.
        """
        plan = fitting.plan(
            self._in, self.hidden, self.seed, self._meta(), X, Y, iterations, learning_rate,
            record_every, optimizer=optimizer, batch_size=batch_size, epochs=epochs, l2=l2,
            dropout=dropout, decay_rate=decay_rate, validation=validation, patience=patience,
            on_iteration=on_iteration, on_epoch=on_epoch, matmul_precision=matmul_precision,
            checkpoint_path=checkpoint, checkpoint_every=checkpoint_every, resume=resume,
            examples_as_rows=examples_as_rows)
        state = TrainState(self._params)
        self.history = state.history
        try:
            with self._target.context(), _backend.quiet_float_errors():
                plan.run(state, progress)
        finally:
            self._params = state.parameters
        return state.history

    def predict_proba(self, X: Any, *, batch_size: int | None = None,
                      examples_as_rows: bool = False) -> Array:
        """A[L] for X ``(n_x, m)``: probabilities ``(n[L], m)`` on the network's device.

        Streamed X (a Dask array, a memmap, a zarr array; ``examples_as_rows``
        as in :meth:`fit`) is read ``batch_size`` examples at a time (default:
        one chunk) and the result is a host NumPy array."""
        X, _ = self._in.data(X, stream=True, examples_as_rows=examples_as_rows)
        if isinstance(X, _backend.Stream):
            return X.map(self._forward, batch_size)
        return self._proba(X)

    def _proba(self, X: Array) -> Array:
        """A[L] of checked inputs; on a device set, of the real columns only."""
        X, _, examples = self._in.split(X, None)
        AL = self._forward(X)
        return AL if examples is None else _backend.sharding.real_columns(AL, examples)

    def _forward(self, X: Array) -> Array:
        with self._target.context():
            AL, _ = propagation.model_forward(X, self._params, self.hidden, self.output)
        return AL

    def predict(self, X: Any, threshold: float = 0.5, *, batch_size: int | None = None,
                examples_as_rows: bool = False) -> Array:
        """Class labels 0/1 (``A[L] > threshold``, in the network's dtype) for a
        sigmoid output; class indices ``(1, m)`` (argmax over the rows) for a
        softmax one; the values A[L] for a linear one. Streamed X: as
        :meth:`predict_proba`, batch by batch, a host NumPy array."""
        threshold = _backend.check_number("threshold", threshold)
        X, _ = self._in.data(X, stream=True, examples_as_rows=examples_as_rows)
        if isinstance(X, _backend.Stream):
            return X.map(lambda Xb: self._labels(self._forward(Xb), threshold), batch_size)
        return self._labels(self._proba(X), threshold)

    def _labels(self, AL: Array, threshold: float) -> Array:
        with self._target.context():
            return metrics.labels(AL, self.output, threshold, xp=self._target.xp)

    def score(self, X: Any, Y: Any, *, batch_size: int | None = None,
              examples_as_rows: bool = False) -> float:
        """Accuracy (fraction of correct labels) for a sigmoid output; R² for a linear one.
        Streamed data is read batch by batch (as in :meth:`predict_proba`)."""
        X, Y = self._in.data(X, Y, stream=True, examples_as_rows=examples_as_rows)
        if isinstance(X, _backend.Stream):
            with self._target.context():
                return metrics.stream_score(X, self._forward, self.output, batch_size)
        X, Y, examples = self._in.split(X, Y)
        with self._target.context():
            AL, _ = propagation.model_forward(X, self._params, self.hidden, self.output)
            return metrics.score(AL, Y, self.output, examples)

    def cost(self, X: Any, Y: Any, *, batch_size: int | None = None,
             examples_as_rows: bool = False) -> float:
        """J on (X, Y) with the current parameters, as a Python float (no L2
        term). Streamed data: each batch's J weighted by its share of m."""
        X, Y = self._in.data(X, Y, stream=True, examples_as_rows=examples_as_rows)
        with self._target.context():
            if isinstance(X, _backend.Stream):
                return train.stream_cost(self._params, X, self.hidden, self.output, batch_size)
            X, Y, examples = self._in.split(X, Y)
            J = train.cost(self._params, X, Y, self.hidden, self.output,
                           None if examples is None else examples.weights)
        return _backend.to_float(J)

    @property
    def _in(self) -> Inputs:
        """The boundary of this network's data (:mod:`nnarray.inputs`)."""
        return Inputs(self.layer_dims, self.output, self._target, self.dtype)

    # ------------------------------------------------------------------ #
    def to(self, device: str | None = None, backend: str | None = None) -> Network:
        """Move the parameters to another device/backend (in place); returns ``self``."""
        self._target = _where(backend, device, self.dtype)[0]
        self._params = _init.to_target(self._params, self._target, self.dtype)
        return self

    def __getstate__(self) -> dict[str, Any]:
        """Copy/pickle support (scikit-learn clones and caches estimators):
        parameters as host arrays, the device by name. nnarray's own files
        never use pickle: see :meth:`save`."""
        state = dict(self.__dict__)
        target = state.pop("_target")
        state["_params"] = {k: _backend.to_numpy(v) for k, v in self._params.items()}
        state["_where"] = (target.backend, target.device)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        backend_name, device = state.pop("_where")
        self.__dict__.update(state)
        self._target = _backend.resolve(backend_name, device)
        self._params = _init.to_target(self._params, self._target, self.dtype)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save to ``path`` (an ``.npz`` file, written atomically, no pickle).
        Parameters on a device set are gathered to the host first; of several
        processes, the first alone writes."""
        arrays = {k: _backend.to_numpy(v) for k, v in self._params.items()}
        if _backend.sharding.is_main_process():
            io.save_arrays(path, arrays, self._meta())

    def to_onnx(self, path: str | os.PathLike[str], *, examples_as_rows: bool = False) -> Path:
        """The network as an ONNX graph in ``path``, input ``X`` ``(n_x, m)`` (``(m, n_x)``
        with ``examples_as_rows``): see :mod:`nnarray.onnx` (the ``onnx`` extra)."""
        from . import onnx

        return onnx.export(self._params, path, self.hidden, self.output,
                           examples_as_rows=examples_as_rows)

    def _meta(self) -> dict[str, Any]:
        return {**self.metadata, "class": type(self).__name__, "layer_dims": self.layer_dims,
                "hidden": self.hidden, "output": self.output, "dtype": self.dtype}


class LogisticRegression(Network):
    """The lecture's review: ŷ = σ(wᵀx + b), a network with no hidden layer,
    started from zeros. ``w`` is ``W1.T`` ``(n_x, 1)``.

    Nothing is drawn, so there is no ``seed``, and ``generator=`` is refused
    with a ``TypeError`` that says so. For drawn initial parameters use
    ``Network([n_x, 1], init=..., seed=..., generator=...)``.
    """

    def __init__(
        self,
        n_x: int,
        device: str | None = None,
        backend: str | None = None,
        dtype: Any = "float32",
        init: str | Mapping[str, Any] = "zeros",
        generator: None = None,
    ) -> None:
        if generator is not None:
            raise TypeError(
                "LogisticRegression starts from zeros, as in the lecture, and draws nothing: "
                f"generator={generator!r} does not apply (for drawn initial parameters use "
                "Network([n_x, 1], init=..., seed=..., generator=...))"
            )
        super().__init__([n_x, 1], hidden="relu", output="sigmoid", init=init, seed=None,
                         device=device, backend=backend, dtype=dtype)

    def fit(self, X: Any, Y: Any, iterations: int = 2000, learning_rate: float = 0.005,
            progress: bool = True, record_every: int = 100, **kwargs: Any) -> History:
        """As :meth:`Network.fit`, with the lecture's defaults (2000 iterations, α = 0.005)."""
        return super().fit(X, Y, iterations, learning_rate, progress, record_every, **kwargs)


def load(path: str | os.PathLike[str], device: str | None = None,
         backend: str | None = None, *, max_bytes: int = io.DEFAULT_MAX_BYTES) -> Network:
    """Load a saved network on ``device`` (any device, whatever it was saved from).

    Returns the class that was saved (``Network`` or ``LogisticRegression``).
    ``max_bytes`` caps the bytes of arrays read (default 4 GiB; a model file
    is untrusted input): raise it for a larger model from a source you trust.
    """
    arrays, meta = io.load_arrays(path, max_bytes=max_bytes)
    arrays = {k: a for k, a in arrays.items() if "." not in k}  # a checkpoint's state
    classes = {"Network": Network, "LogisticRegression": LogisticRegression}
    name = meta.get("class")
    if not isinstance(name, str) or name not in classes:
        raise ValueError(f"{str(path)!r} is not a consistent nnarray model: its metadata's "
                         f"class is {io.zips.short(name)}, not one of the classes nnarray "
                         f"saves ({', '.join(classes)}); nothing of it is imported")
    try:
        cls = classes[name]
        dims = _init.check_layer_dims(meta["layer_dims"])
        dtype = _backend.dtype_name(meta["dtype"])
        _init.check_parameters(arrays, dims)
        for k, a in arrays.items():
            if a.dtype.name != dtype:
                raise ValueError(f"{k} has dtype {a.dtype.name}, the metadata says {dtype}")
            finite(k, a)
        kwargs = {} if cls is LogisticRegression else {
            "hidden": meta["hidden"], "output": meta["output"]}
        shape = dims[0] if cls is LogisticRegression else dims
        host = cls(shape, init=arrays, device="cpu", dtype=dtype, **kwargs)
        host.metadata = {k: meta[k] for k in io.DESCRIPTION_KEYS if k in meta}
    except KeyError as exc:
        raise ValueError(f"{str(path)!r} is not a consistent nnarray model: its metadata has "
                         f"no {exc.args[0]!r} entry") from exc
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} is not a consistent nnarray model: {exc}") from exc
    return host.to(device, backend)


# ---------------------------------------------------------------------- #


def _where(backend: str | None, device: str | None, dtype: Any) -> tuple[_backend.Target, str]:
    """The target of ``backend`` and ``device``, checked to compute in ``dtype``."""
    target = _backend.resolve(backend, device)
    target.dtype(dtype)
    return target, _backend.dtype_name(dtype)


def _initial(init: str | Mapping[str, Any], dims: list[int], seed: int | None,
             target: _backend.Target, dtype: str, generator: str) -> dict[str, Array]:
    """The initial parameters on ``target``: drawn by the method ``init``, or
    the given ones checked (shapes; finite values: a network never holds NaN)."""
    if not isinstance(init, Mapping):
        host = _init.initialize_host(dims, init, seed, dtype, generator)
        return _init.to_target(host, target, dtype)
    _init.check_parameters(init, dims)
    params = _init.to_target({k: init[k] for k in sorted(init)}, target, dtype)
    for k, a in params.items():
        finite(f"init[{k!r}]", a)
    return params


def _check_choices(hidden: str, output: str, generator: str) -> None:
    if generator not in _init.GENERATORS:
        raise ValueError(f"generator must be one of {list(_init.GENERATORS)} (legacy: the "
                         f"course's np.random.seed draws), got {generator!r}")
    activations.check_hidden(hidden)
    losses.check_output(output)


