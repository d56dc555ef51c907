"""``Network``: layer sizes, activations and parameters on one device.

A network converts its inputs (any library, any device, lists too) to its own
namespace, device and dtype once per call, at the boundary, and checks them
there before any parameter changes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import activations, io, losses, optimizers, propagation, train
from . import backend as _backend
from . import checkpoint as _checkpoint
from . import init as _init
from .backend import Array
from .optimizers import check_learning_rate
from .train import History, TrainState

HIDDEN = tuple(a for a in activations.ACTIVATIONS if a not in ("linear", "softmax"))


class Network:
    """An L-layer network: [LINEAR -> hidden] × (L−1) -> LINEAR -> output.

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
        dims = _init.check_layer_dims(layer_dims)
        if generator not in _init.GENERATORS:
            raise ValueError(
                f"generator must be one of {list(_init.GENERATORS)} (legacy: the course's "
                f"np.random.seed draws), got {generator!r}"
            )
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
            host = _init.initialize_host(dims, init, seed, dtype, generator)
            params = _init.to_target(host, target, dtype)
            self.init = init
        self.layer_dims = dims
        self.hidden = hidden
        self.output = output
        self.seed = seed
        self.generator = generator
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

    def execution(self, record_every: int | None = 100) -> str:
        """How :meth:`fit` runs here, in words, e.g. ``"cuda:0 (jax, compiled
        chunks of 100)"`` or ``"cpu (numpy, step by step)"`` (see
        :func:`nnarray.backend.execute.describe`)."""
        return _backend.execute.describe(self.backend, self.device, record_every)

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

        ``checkpoint=PATH`` writes, every ``checkpoint_every`` iterations (a
        multiple of ``record_every``; default ``record_every``) or epochs
        (default 1), atomically, what an exact resume needs; ``resume=PATH``
        continues such a run: ``iterations``/``epochs`` is the run's total, the
        History holds the records made before, and the result is bit for bit
        the uninterrupted run's. A checkpoint of another run (network,
        settings, data) is refused, naming the difference. ``nn.load`` opens
        a checkpoint as a model.

        Data larger than memory: with ``batch_size``, X (and Y) given as a
        Dask array, a NumPy memmap (:func:`nnarray.io.open_memmap`) or a
        zarr array are streamed, never converted as a whole: each epoch
        draws a chunk-aware shuffle (the order of the chunks, then of the
        examples in each), and each batch is read, cast to the network's
        dtype, checked and copied to the device, the next one read on a
        background thread meanwhile (see :mod:`nnarray.backend.streams`).
        ``examples_as_rows=True`` takes X ``(m, n_x)`` and Y ``(m, n[L])``
        or ``(m,)`` (``validation`` too; in memory or streamed): with
        examples as rows a batch is one contiguous read.
        A batch with NaN/inf or bad labels raises a ``ValueError`` naming
        its examples and leaves the parameters as they were.

        Returns the :class:`History` (also kept as ``self.history``).
        ``progress`` shows a bar (tqdm) when stderr is a terminal. On a NaN/inf
        cost raises :class:`~nnarray.DivergenceError` keeping the last finite
        parameters; Ctrl-C keeps the last completed step and the history so far.
        """
        lr = check_learning_rate(learning_rate)
        iterations, record_every = train.check_iterations(iterations, record_every)
        settings = train.Settings(
            self.hidden, self.output, lr, optimizers.get(optimizer),
            l2=_nonnegative("l2", l2), dropout=self._check_dropout(dropout),
            decay_rate=_nonnegative("decay_rate", decay_rate), seed=self.seed,
            matmul_precision=_backend.execute.check_matmul_precision(matmul_precision),
        )
        if batch_size is not None:
            batch_size = train.check_count("batch_size", batch_size, 1)
            if epochs is None:
                raise ValueError("batch_size needs epochs= (the number of passes over the data)")
            epochs = train.check_count("epochs", epochs, 0)
        elif epochs is not None:
            raise ValueError("epochs needs batch_size= (without it, training is full batch "
                             "for `iterations` steps)")
        if patience is not None:
            patience = train.check_count("patience", patience, 1)
            if validation is None:
                raise ValueError("patience needs validation=(X_val, Y_val) to watch")
        X, Y = self._data(X, Y, stream=batch_size is not None, examples_as_rows=examples_as_rows)
        val: tuple[Any, Any] | None = None  # (X or a Stream, Y or None)
        if validation is not None:
            if not isinstance(validation, tuple | list) or len(validation) != 2:
                raise TypeError("validation must be a pair (X_val, Y_val)")
            val = self._data(*validation, stream=True, examples_as_rows=examples_as_rows)
        X, Y, examples = self._split(X, Y)
        processes = 1 if examples is None else len(examples.counts)
        if batch_size is not None and batch_size % processes:
            raise ValueError(f"batch_size must be a multiple of the {processes} processes (each "
                             f"batch takes batch_size / {processes} examples from each), got "
                             f"{batch_size}")
        val_examples = None
        if val is not None:
            Xv, Yv, val_examples = self._split(*val)
            val = (Xv, Yv)
        extras = train.Extras(val, patience, on_iteration, on_epoch, examples=examples,
                              validation_examples=val_examples)
        if checkpoint is not None or resume is not None:
            self._checkpointing(extras, settings, X, Y, checkpoint, checkpoint_every, resume,
                                record_every if batch_size is None else None, batch_size)
        elif checkpoint_every is not None:
            raise ValueError("checkpoint_every needs checkpoint=PATH (where to write them)")
        state = TrainState(self._params)
        self.history = state.history
        try:
            with self._target.context(), _backend.quiet_float_errors():
                if batch_size is None:
                    train.run(state, X, Y, hidden=self.hidden, output=self.output,
                              iterations=iterations, learning_rate=lr,
                              record_every=record_every, progress=progress,
                              settings=settings, extras=extras)
                else:  # batch_size given: epochs was checked above, not None
                    train.run_epochs(state, X, Y, settings=settings, epochs=epochs,  # type: ignore[arg-type]
                                     batch_size=batch_size, progress=progress, extras=extras)
        finally:
            self._params = state.parameters
        return state.history

    def _checkpointing(self, extras: train.Extras, settings: train.Settings, X: Array,
                       Y: Array, path: Any, every: Any, resume: Any, record_every: int | None,
                       batch_size: int | None) -> None:
        """Fill ``extras`` with the checkpoint writer and the resumed state."""
        kind = "iterations" if batch_size is None else "epochs"
        if every is None:
            every = record_every or 1
        every = train.check_count("checkpoint_every", every, 1)
        if record_every is not None and every % record_every:
            raise ValueError(f"checkpoint_every must be a multiple of record_every="
                             f"{record_every} (checkpoints fall on record points), got {every}")
        record = {
            "optimizer": repr(settings.optimizer), "learning_rate": settings.learning_rate,
            "decay_rate": settings.decay_rate, "l2": settings.l2,
            "dropout": {str(k): v for k, v in sorted(settings.dropout.items())},
            "seed": self.seed, "batch_size": batch_size, "record_every": record_every,
            "X": _checkpoint.fingerprint(X), "Y": _checkpoint.fingerprint(Y),
        }
        if extras.validation is not None:
            record |= {"X_val": _checkpoint.fingerprint(extras.validation[0]),
                       "Y_val": _checkpoint.fingerprint(extras.validation[1]),
                       "patience": extras.patience}
        meta = self._meta()
        if resume is not None:
            extras.resume = _checkpoint.read(resume, meta, record, kind, self._target)
        if path is not None:
            extras.checkpoint = _checkpoint.writer(path, meta, record, kind)
            extras.checkpoint_every = every

    def _check_dropout(self, dropout: Mapping[int, float] | None) -> dict[int, float]:
        if not dropout:
            return {}
        if not isinstance(dropout, Mapping):
            raise TypeError(f"dropout must be a dict {{layer: keep_prob}}, got {dropout!r}")
        out = {}
        for l, keep in dropout.items():
            if isinstance(l, bool) or not isinstance(l, int) or not 1 <= l < self.L:
                raise ValueError(f"dropout layers must be hidden layers 1..{self.L - 1}, "
                                 f"got {l!r}")
            keep = float(keep)
            if not 0.0 < keep <= 1.0:
                raise ValueError(f"dropout keep_prob for layer {l} must be in (0, 1], "
                                 f"got {keep!r}")
            out[l] = keep
        return out

    def predict_proba(self, X: Any, *, batch_size: int | None = None,
                      examples_as_rows: bool = False) -> Array:
        """A[L] for X ``(n_x, m)``: probabilities ``(n[L], m)`` on the network's device.

        Streamed X (a Dask array, a memmap, a zarr array; ``examples_as_rows``
        as in :meth:`fit`) is read ``batch_size`` examples at a time (default:
        one chunk) and the result is a host NumPy array."""
        X, _ = self._data(X, stream=True, examples_as_rows=examples_as_rows)
        if isinstance(X, _backend.Stream):
            return X.map(self._forward, batch_size)
        return self._proba(X)

    def _proba(self, X: Array) -> Array:
        """A[L] of checked inputs; on a device set, of the real columns only."""
        X, _, examples = self._split(X, None)
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
        X, _ = self._data(X, stream=True, examples_as_rows=examples_as_rows)
        if isinstance(X, _backend.Stream):
            return X.map(lambda Xb: self._labels(self._forward(Xb), threshold), batch_size)
        return self._labels(self._proba(X), threshold)

    def _labels(self, AL: Array, threshold: float) -> Array:
        if self.output == "linear":
            return AL
        xp = self._target.xp
        with self._target.context():
            if self.output == "softmax":
                return xp.argmax(AL, axis=0, keepdims=True)
            return xp.astype(AL > float(threshold), AL.dtype)

    def score(self, X: Any, Y: Any, *, batch_size: int | None = None,
              examples_as_rows: bool = False) -> float:
        """Accuracy (fraction of correct labels) for a sigmoid output; R² for a linear one.
        Streamed data is read batch by batch (as in :meth:`predict_proba`)."""
        X, Y = self._data(X, Y, stream=True, examples_as_rows=examples_as_rows)
        if isinstance(X, _backend.Stream):
            return self._stream_score(X, batch_size)
        X, Y, examples = self._split(X, Y)
        xp = self._target.xp
        w = None if examples is None else examples.weights  # padding columns: weight 0

        def total(a: Array, **kw: Any) -> Array:
            return xp.sum(a if w is None else a * w, **kw)

        with self._target.context():
            AL, _ = propagation.model_forward(X, self._params, self.hidden, self.output)
            if self.output == "linear":
                residual = total((Y - AL) ** 2)
                if w is None:
                    spread = xp.sum((Y - xp.mean(Y, axis=1, keepdims=True)) ** 2)
                else:
                    spread = total((Y - total(Y, axis=1, keepdims=True) / examples.m) ** 2)
                return 1.0 - _backend.to_float(residual) / _backend.to_float(spread)
            if self.output == "softmax":
                same = xp.argmax(AL, axis=0) == xp.argmax(Y, axis=0)
            else:
                same = (AL > 0.5) == (Y > 0.5)
            count = math.prod(same.shape) if w is None else (
                examples.m * math.prod(same.shape[:-1]))
            return _backend.to_float(total(xp.astype(same, AL.dtype))) / count

    def cost(self, X: Any, Y: Any, *, batch_size: int | None = None,
             examples_as_rows: bool = False) -> float:
        """J on (X, Y) with the current parameters, as a Python float (no L2
        term). Streamed data: each batch's J weighted by its share of m."""
        X, Y = self._data(X, Y, stream=True, examples_as_rows=examples_as_rows)
        with self._target.context():
            if isinstance(X, _backend.Stream):
                return train.stream_cost(self._params, X, self.hidden, self.output, batch_size)
            X, Y, examples = self._split(X, Y)
            J = train.cost(self._params, X, Y, self.hidden, self.output,
                           None if examples is None else examples.weights)
        return _backend.to_float(J)

    def _stream_score(self, data: _backend.Stream, batch_size: int | None) -> float:
        """:meth:`score` batch by batch: correct labels counted on the device;
        for R² the residuals summed and each row's mean and sum of squared
        deviations combined batch by batch (Chan et al.'s pairwise update)."""
        xp = self._target.xp
        correct, count, residual, n, mean, ss = None, 0, 0.0, 0, None, None
        with self._target.context(), data.batches(batch_size) as batches:
            for Xb, Yb in batches:
                AL = self._forward(Xb)
                if self.output == "linear":
                    k = Xb.shape[1]
                    residual += _backend.to_float(xp.sum((Yb - AL) ** 2))
                    mean_b = xp.mean(Yb, axis=1, keepdims=True)
                    ss_b = _backend.to_numpy(xp.sum((Yb - mean_b) ** 2, axis=1, keepdims=True))
                    mean_b = _backend.to_numpy(mean_b).astype("float64")
                    if mean is None:
                        mean, ss = mean_b, ss_b.astype("float64")
                    else:
                        delta = mean_b - mean
                        mean = mean + delta * (k / (n + k))
                        ss = ss + ss_b + delta**2 * (n * k / (n + k))
                    n += k
                    continue
                if self.output == "softmax":
                    same = xp.argmax(AL, axis=0) == xp.argmax(Yb, axis=0)
                else:  # Yb is not None: score's data has Y
                    same = (AL > 0.5) == (Yb > 0.5)  # type: ignore[operator]
                right = xp.sum(xp.astype(same, AL.dtype))
                correct = right if correct is None else correct + right
                count += math.prod(same.shape)
        # the first batch set ss (linear output) or correct (the others)
        if self.output == "linear":
            return 1.0 - residual / float(ss.sum())  # type: ignore[union-attr]
        return _backend.to_float(correct) / count  # type: ignore[arg-type]

    # ------------------------------------------------------------------ #
    def to(self, device: str | None = None, backend: str | None = None) -> Network:
        """Move the parameters to another device/backend (in place); returns ``self``."""
        target = _backend.resolve(backend, device)
        target.dtype(self.dtype)
        self._params = _init.to_target(self._params, target, self.dtype)
        self._target = target
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
        if self.output == "softmax" and n_y > 1 and tuple(Y.shape) == (1, X.shape[1]):
            Y = _one_hot(Y, n_y)
        if tuple(Y.shape) != (n_y, X.shape[1]):
            raise ValueError(
                f"Y has shape {tuple(Y.shape)} but must be (n[L], m) = ({n_y}, {X.shape[1]}) "
                "for this network and X"
            )
        Yc = _finite("Y", self._convert(Y))
        if self.output in ("sigmoid", "softmax"):
            xp = _backend.namespace(Yc)
            with self._target.context():
                ok = xp.all((Yc == 0.0) | (Yc == 1.0))
                if self.output == "softmax":
                    ok = ok & xp.all(xp.sum(Yc, axis=0) == 1.0)
            if not bool(_backend.to_numpy(ok)):
                raise ValueError(
                    "Y must hold only the labels 0 and 1 for a sigmoid output "
                    "(e.g. 1 = cat, 0 = non-cat); got other values"
                    if self.output == "sigmoid" else
                    f"Y must be one-hot ({n_y}, m) columns or integer classes (1, m) in "
                    f"0..{n_y - 1} for a softmax output; got other values"
                )
        return Xc, Yc

    def _data(self, X: Any, Y: Any = None, *, stream: bool,
              examples_as_rows: bool = False) -> tuple[Any, Array | None]:
        """X (and Y) for a call: a :class:`~nnarray.backend.Stream` of both
        (and ``None``) when ``stream`` and X is data to stream (Dask, memmap,
        zarr) for a network that is not Dask's; else :meth:`_inputs` of them
        (transposed first with ``examples_as_rows``)."""
        if examples_as_rows not in (True, False):
            raise TypeError(f"examples_as_rows must be True or False, got {examples_as_rows!r}")
        if stream and self.backend != "dask" and _backend.is_streamable(X):
            return self._stream(X, Y, bool(examples_as_rows)), None
        if examples_as_rows:
            X, Y = _as_columns("X", X), None if Y is None else _as_columns("Y", Y)
        return self._inputs(X, Y)

    def _stream(self, X: Any, Y: Any, rows: bool) -> _backend.Stream:
        """X and Y as a stream to this network's device and dtype, their
        shapes checked as :meth:`_inputs` checks them (values: batch by batch)."""
        if self._target.is_set:
            raise ValueError(f"streamed X ({type(X).__name__}) trains on one device; this "
                             f"network computes on the set {self.device!r}: load X into "
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
        data = _backend.Stream(X, Y, target=self._target, dtype=self.dtype,
                               examples_as_rows=rows)
        one_hot = data.n_y is not None and self.output == "softmax" and n_y > 1 \
            and data.n_y == 1
        if data.n_y is not None and data.n_y != n_y and not one_hot:
            raise ValueError(f"Y {tuple(Y.shape)} has {data.n_y} values per example but "
                             f"must have n[L]={n_y} for this network")
        data.prepare = lambda Xb, Yb: self._check_batch(Xb, Yb, one_hot)
        return data

    def _check_batch(self, X: Any, Y: Any, one_hot: bool) -> tuple[Any, Any]:
        """A streamed batch on the host, checked as :meth:`_inputs` checks
        whole inputs: X finite; Y finite, made one-hot from integer classes,
        with the output's labels."""
        xp = _backend.namespace(X)
        if not bool(xp.all(xp.isfinite(X))):
            raise ValueError("X contains NaN or inf values")
        if Y is None:
            return X, Y
        if not bool(xp.all(xp.isfinite(Y))):
            raise ValueError("Y contains NaN or inf values")
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

    def _convert(self, a: Any) -> Array:
        if self._target.is_set:  # checked on the host, then split: see _split
            return _backend.convert(a, _backend.resolve("numpy", "cpu"), self.dtype)
        return _backend.convert(a, self._target, self.dtype)

    def _split(self, X: Any, Y: Any) -> tuple[Array, Array | None, Any]:
        """On a device set, checked inputs' columns split over its devices
        (padded; ``backend.sharding.Examples`` says where the real ones are);
        elsewhere the inputs as they are and ``None``."""
        if not self._target.is_set or not _backend.is_array(X):
            return X, Y, None
        sets = _backend.sharding
        X, examples = sets.place_examples(X, self._target.native)
        if Y is not None:
            Y, _ = sets.place_examples(Y, self._target.native, examples)
        return X, Y, examples


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


def _as_columns(name: str, a: Any) -> Any:
    """``a`` stored with examples as rows, ``(m, n)`` (or ``(m,)`` for Y), in
    the lecture's layout ``(n, m)``."""
    a = _backend.as_array(name, a)
    shape = tuple(a.shape)
    if len(shape) != 2 and (name == "X" or len(shape) != 1):
        raise ValueError(f"{name} must be 2-D (m, n) with examples as rows "
                         f"(examples_as_rows=True), got shape {shape}")
    xp = _backend.namespace(a)
    return xp.reshape(a, (1, shape[0])) if len(shape) == 1 else xp.matrix_transpose(a)


def _nonnegative(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def _one_hot(Y: Any, n_y: int) -> Any:
    """Integer classes ``(1, m)`` in 0..n_y−1 as one-hot columns ``(n_y, m)`` (on the host)."""
    labels = _backend.to_numpy(Y) if _backend.is_array(Y) else Y
    classes = labels[0].astype(int) if (labels == labels.astype(int)).all() else None
    if classes is None or classes.min() < 0 or classes.max() >= n_y:
        raise ValueError(
            f"Y as a row must hold integer classes 0..{n_y - 1} for a softmax output of "
            f"n[L]={n_y} units; got values from {labels.min()} to {labels.max()}"
        )
    return (classes[None, :] == _backend.host_arange(n_y)[:, None]).astype(labels.dtype)


def _finite(name: str, a: Array) -> Array:
    xp = _backend.namespace(a)
    if not bool(_backend.to_numpy(xp.all(xp.isfinite(a)))):
        raise ValueError(f"{name} contains NaN or inf values")
    return a
