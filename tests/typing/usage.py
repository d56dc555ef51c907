"""A user's code, written against nnarray's annotations: mypy checks it
(``python -m mypy``, configured in pyproject.toml) with every flag of
--strict, so it fails when a public signature stops saying what the docs
say. It is never run: pytest does not collect it (no ``test_`` prefix) and
nothing imports it.

``assert_type`` pins each result's type; a ``# type: ignore[code]`` pins a
mistake that must stay an error (mypy reports an ignore that is not needed).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from typing_extensions import assert_type

import nnarray as nn
from nnarray import propagation as P
from nnarray.backend import Array
from nnarray.propagation import ActivationCache, LinearCache

# --- Array: what every supported library's arrays satisfy, NumPy's here -----------

x64: npt.NDArray[np.float64] = np.zeros((2, 5))
x32: npt.NDArray[np.float32] = np.zeros((2, 5), dtype=np.float32)
X: Array = x64
X32: Array = x32
Y: Array = np.zeros((1, 5))
W: Array = np.ones((3, 2))
b: Array = np.zeros((3, 1))

assert_type(W @ X + b, Array)
assert_type(1.0 - X * 2.0 / (X**0.5 + 1e-8), Array)
assert_type(-X, Array)
assert_type(X > 0, Array)
assert_type((Y == 0.0) | (Y == 1.0), Array)
assert_type(X[:, :2], Array)
assert_type(X.T, Array)
assert_type(X.shape, tuple[int, ...])
assert_type(float(Y[0, 0]), float)

not_an_array: Array = [[1.0, 2.0]]  # type: ignore[assignment]
not_an_array_either: Array = "X"  # type: ignore[assignment]

# --- Network -----------------------------------------------------------------------

net = nn.Network([2, 3, 1], hidden="relu", output="sigmoid", init="he", seed=1,
                 device="cpu", dtype="float64")
hist = net.fit(x64, np.zeros((1, 5)), iterations=10, learning_rate=0.1, progress=False)
assert_type(hist, nn.History)
assert_type(hist.iterations, list[int])
assert_type(hist.costs, list[float])
assert_type(net.fit(X, Y, optimizer=nn.optimizers.Adam(), batch_size=2, epochs=1), nn.History)
assert_type(net.predict_proba(X), Array)
assert_type(net.predict(X), Array)
assert_type(net.score(X, Y), float)
assert_type(net.cost(X, Y), float)
assert_type(net.parameters, dict[str, Array])
assert_type(net.to("cpu"), nn.Network)
assert_type(nn.load("model.npz", device="cpu"), nn.Network)
net.save("model.npz")

net.fit(X, Y, iterations="10")  # type: ignore[arg-type]
net.fit(X, Y, optimizer=3)  # type: ignore[arg-type]

logistic = nn.LogisticRegression(2)
assert_type(logistic, nn.LogisticRegression)
assert_type(logistic.fit(X, Y, iterations=10, progress=False), nn.History)

# --- the functional API: the lecture's building blocks ------------------------------

params = nn.init.initialize_parameters([2, 3, 1], method="he", seed=1, device="cpu",
                                       dtype="float64")
assert_type(params, dict[str, Array])

Z, linear_cache = P.linear_forward(X, W, b)
assert_type(Z, Array)
assert_type(linear_cache, LinearCache)
assert_type(linear_cache, tuple[Array, Array, Array])
A, cache = P.linear_activation_forward(X, W, b, activation="relu")
assert_type(A, Array)
assert_type(cache, ActivationCache)
AL, caches = P.model_forward(X, params, hidden="relu", output="sigmoid")
assert_type(AL, Array)
assert_type(caches, list[ActivationCache])

assert_type(nn.losses.binary_cross_entropy(AL, Y), Array)
assert_type(nn.losses.binary_cross_entropy(Z, Y, from_logits=True), Array)
assert_type(nn.losses.categorical_cross_entropy(AL, Y), Array)
assert_type(nn.losses.mean_squared_error(AL, Y), Array)

dA_prev, dW, db = P.linear_backward(Z, linear_cache)
assert_type(dA_prev, Array | None)  # None with need_dA_prev=False
assert_type(dW, Array)
assert_type(db, Array)
assert_type(P.linear_activation_backward(A, cache, activation="relu"),
            tuple[Array | None, Array, Array])
grads = P.model_backward(AL, Y, caches, hidden="relu", output="sigmoid")
assert_type(grads, dict[str, Array])

assert_type(nn.optimizers.gradient_descent(params, grads, learning_rate=0.0075),
            dict[str, Array])
adam = nn.optimizers.Adam(beta1=0.9)
state = adam.init(params)
assert_type(state, dict[str, Any])
assert_type(adam.update(params, grads, state, 0.001), tuple[dict[str, Array], dict[str, Any]])
assert_type(nn.optimizers.get("adam"), nn.optimizers.Optimizer)

assert_type(nn.activations.sigmoid(Z), Array)
assert_type(nn.activations.relu_backward(A, Z), Array)
assert_type(nn.gradcheck.check(params, X, Y), float)

P.linear_forward(X, W)  # type: ignore[call-arg]
P.model_forward(X, params, hidden=2)  # type: ignore[arg-type]

# --- datasets: NumPy arrays on the host --------------------------------------------

(X_train, Y_train), (X_test, Y_test) = nn.datasets.load_cat_vs_noncat()
assert_type(X_train, np.ndarray)
X_flower, Y_flower = nn.datasets.planar_flower(m=400, seed=1)
assert_type(Y_flower, np.ndarray)
assert_type(nn.Network([12288, 7, 1]).fit(X_train, Y_train, iterations=1), nn.History)

# --- the backend: moving arrays ----------------------------------------------------

assert_type(nn.backend.to_numpy(AL), np.ndarray)
assert_type(nn.backend.to_float(nn.losses.binary_cross_entropy(AL, Y)), float)
assert_type(nn.available_devices(), list[str])
