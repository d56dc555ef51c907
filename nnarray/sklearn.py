"""scikit-learn estimators backed by nnarray: ``NNClassifier`` and ``NNRegressor``.

They take scikit-learn's layout — X ``(m, n_features)``, y ``(m,)`` — and
transpose to the lecture's columns inside. They work in ``Pipeline`` and
``GridSearchCV`` and pass ``sklearn.utils.estimator_checks.check_estimator``.
Needs scikit-learn (``pip install 'nnarray[sklearn]'``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        "nnarray.sklearn needs scikit-learn, which is not installed: "
        "pip install 'nnarray[sklearn]'"
    ) from exc

from . import backend, onnx
from .network import Network


class _NNBase(BaseEstimator):
    """What both estimators share: the network, its training and its inputs."""

    _output = "sigmoid"

    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] = (64,),
        hidden: str = "relu",
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        batch_size: int = 64,
        epochs: int = 100,
        l2: float = 0.0,
        random_state: int | None = None,
        device: str = "cpu",
        backend: str | None = None,
        dtype: str = "float32",
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.hidden = hidden
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.l2 = l2
        self.random_state = random_state
        self.device = device
        self.backend = backend
        self.dtype = dtype

    def _hidden_layer_sizes(self) -> list[int]:
        """``hidden_layer_sizes`` as ints >= 1 (one int is one hidden layer, as in
        scikit-learn's MLPs); 2.7 or True is refused, not rounded."""
        sizes: Any = self.hidden_layer_sizes
        if isinstance(sizes, str) or not hasattr(sizes, "__iter__"):
            sizes = [sizes]
        return [backend.check_integer(f"hidden_layer_sizes[{i}]", n, 1)
                for i, n in enumerate(sizes)]

    def _refit(self, fit: Callable[[], None]) -> None:
        """Run ``fit``; if it raises, the estimator is left as it was (its
        ``classes_``, ``n_features_in_`` and network from the last fit that
        succeeded), so that it never predicts with a mix of two fits."""
        before = dict(self.__dict__)
        try:
            fit()
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _train(self, X: np.ndarray, Y: np.ndarray) -> None:
        """Build the network for X ``(m, n)`` and targets Y ``(n_out, m)``, then fit."""
        sizes = self._hidden_layer_sizes()
        batch_size = backend.check_integer("batch_size", self.batch_size, 1)
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        dims = [X.shape[1], *sizes, Y.shape[0]]
        self.network_ = Network(dims, hidden=self.hidden, output=self._output, init="he",
                                seed=seed, device=self.device, backend=self.backend,
                                dtype=self.dtype)
        self.history_ = self.network_.fit(
            X.T, Y, learning_rate=self.learning_rate, optimizer=self.optimizer,
            batch_size=min(batch_size, X.shape[0]), epochs=self.epochs, l2=self.l2,
            progress=False,
        )
        self.n_iter_ = len(self.history_.epochs)
        # Predictions use a float64 copy of the trained parameters: in float32 a
        # row's output would depend, in its last bits, on how BLAS blocks the
        # other rows, and scikit-learn expects predictions of a row not to.
        self.predictor_ = Network(dims, hidden=self.hidden, output=self._output,
                                  init=self.network_.parameters, device="cpu",
                                  dtype="float64")

    def _forward(self, X: Any) -> np.ndarray:
        """The network's output for X ``(m, n)``, as host float64 ``(m, n_out)``."""
        check_is_fitted(self, "predictor_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return backend.to_numpy(self.predictor_.predict_proba(X.T)).T

    def to_onnx(self, path: str | os.PathLike[str], *, examples_as_rows: bool = True) -> Path:
        """Write the fitted network as an ONNX graph to ``path``; returns the path.

        Rows by default, scikit-learn's layout: input ``X`` ``(m, n_features)``
        in float64 (the dtype :meth:`predict` computes in), output
        ``probabilities`` ``(m, n_out)`` (``predict_proba``'s, or the
        regressor's predictions) and, for :class:`NNClassifier`, ``labels``
        ``(m,)``: int64 indices into ``classes_``, which the model's
        ``metadata_props`` hold as JSON under ``classes``. See
        :meth:`nnarray.Network.to_onnx`."""
        check_is_fitted(self, "predictor_")
        meta = {"estimator": type(self).__name__}
        if hasattr(self, "classes_"):
            meta["classes"] = json.dumps(self.classes_.tolist(), default=str)
        net = self.predictor_
        return onnx.export(net.parameters, path, net.hidden, net.output,
                           examples_as_rows=examples_as_rows, metadata=meta)


class NNClassifier(ClassifierMixin, _NNBase):
    """A softmax network classifier: ``[n_features, *hidden_layer_sizes, n_classes]``
    trained with mini-batches on categorical cross-entropy."""

    _output = "softmax"

    def fit(self, X: Any, y: Any) -> NNClassifier:
        """Train on X ``(m, n_features)`` and labels y ``(m,)`` of any type."""
        def fit() -> None:
            X_, y_ = validate_data(self, X, y, dtype=[np.float64, np.float32])
            y_ = column_or_1d(y_, warn=True)
            check_classification_targets(y_)
            self.classes_, encoded = np.unique(y_, return_inverse=True)
            if len(self.classes_) < 2:
                raise ValueError(
                    f"NNClassifier needs samples of at least 2 classes, got 1 class: "
                    f"{self.classes_[0]!r}"
                )
            self._train(X_, np.eye(len(self.classes_))[:, encoded])

        self._refit(fit)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(m, n_classes)``, columns in the order of ``classes_``."""
        return self._forward(X)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row of X."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class NNRegressor(RegressorMixin, _NNBase):
    """A network with a linear output trained on the mean squared error."""

    _output = "linear"

    def fit(self, X: Any, y: Any) -> NNRegressor:
        """Train on X ``(m, n_features)`` and targets y ``(m,)`` or ``(m, n_targets)``."""
        def fit() -> None:
            X_, y_ = validate_data(self, X, y, dtype=[np.float64, np.float32],
                                   multi_output=True, y_numeric=True)
            if y_.ndim == 2 and y_.shape[1] == 1:
                y_ = column_or_1d(y_, warn=True)
            self._y_1d = y_.ndim == 1
            self._train(X_, np.asarray(y_, dtype=np.float64).reshape(X_.shape[0], -1).T)

        self._refit(fit)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets, shaped like the y given to ``fit``."""
        out = self._forward(X)
        return out[:, 0] if self._y_1d else out
