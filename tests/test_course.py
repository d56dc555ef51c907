"""The course's published step-by-step values (float64, the course's own
inputs built from ``np.random.seed``), on every backend that has float64.

Expected values are the ones the course's notebooks print (8 decimals)."""

from __future__ import annotations

import numpy as np
import pytest

import nnarray as nn
from nnarray import propagation as P

from ._helpers import assert_placed

ATOL = 1e-8  # the notebooks print 8 decimals


def close(actual, expected, case):
    assert_placed(actual, case)
    expected = np.asarray(expected, dtype=np.float64)
    assert tuple(actual.shape) == expected.shape
    np.testing.assert_allclose(nn.backend.to_numpy(actual), expected, rtol=0, atol=ATOL)


# The course's initialize_parameters_deep([5, 4, 3]) with np.random.seed(3), ×0.01
DEEP_W1 = [[0.01788628, 0.0043651, 0.00096497, -0.01863493, -0.00277388],
           [-0.00354759, -0.00082741, -0.00627001, -0.00043818, -0.00477218],
           [-0.01313865, 0.00884622, 0.00881318, 0.01709573, 0.00050034],
           [-0.00404677, -0.0054536, -0.01546477, 0.00982367, -0.01101068]]
DEEP_W2 = [[-0.01185047, -0.0020565, 0.01486148, 0.00236716],
           [-0.01023785, -0.00712993, 0.00625245, -0.00160513],
           [-0.00768836, -0.00230031, 0.00745056, 0.01976111]]
# The course's 2-layer initialize_parameters(3, 2, 1) with np.random.seed(1), ×0.01
TWO_W1 = [[0.01624345, -0.00611756, -0.00528172], [-0.01072969, 0.00865408, -0.02301539]]
TWO_W2 = [[0.01744812, -0.00761207]]


def test_initialize_parameters_deep():
    p = nn.init.initialize_parameters([5, 4, 3], method="random", seed=3, dtype="float64",
                                      generator="legacy")
    np.testing.assert_allclose(p["W1"], DEEP_W1, atol=ATOL)
    np.testing.assert_allclose(p["W2"], DEEP_W2, atol=ATOL)
    assert not p["b1"].any() and p["b2"].shape == (3, 1)


def test_network_in_one_line_draws_the_courses_parameters(case64):
    where = {"backend": case64.backend, "device": case64.device, "dtype": "float64"}
    deep = nn.Network([5, 4, 3], init="random", seed=3, generator="legacy", **where)
    close(deep.parameters["W1"], DEEP_W1, case64)
    close(deep.parameters["W2"], DEEP_W2, case64)
    two = nn.Network([3, 2, 1], init="random", seed=1, generator="legacy", **where)
    close(two.parameters["W1"], TWO_W1, case64)
    close(two.parameters["W2"], TWO_W2, case64)
    close(two.parameters["b1"], [[0.0], [0.0]], case64)
    default = nn.Network([3, 2, 1], init="random", seed=1, **where)  # default_rng: not the course
    assert not np.allclose(nn.backend.to_numpy(default.parameters["W1"]), TWO_W1, atol=ATOL)


def test_cat_networks_start_at_the_courses_cost(case64):
    """The course prints "Cost after iteration 0: 0.6930497356599888" (2 layers)
    and "0.771749" (4 layers) for its cat networks."""
    (X, Y), _ = nn.datasets.load_cat_vs_noncat()
    where = {"backend": case64.backend, "device": case64.device, "dtype": "float64"}
    two = nn.Network([12288, 7, 1], init="random", seed=1, generator="legacy", **where)
    assert two.cost(X, Y) == pytest.approx(0.6930497356599888, abs=1e-12)
    four = nn.Network([12288, 20, 7, 5, 1], init="xavier", seed=1, generator="legacy", **where)
    assert four.cost(X, Y) == pytest.approx(0.771749, abs=5e-7)
    assert float(nn.backend.to_numpy(four.parameters["W1"])[0, 0]) == pytest.approx(
        1.62434536 / np.sqrt(12288), abs=1e-10)  # the course's first draw / sqrt(n[0])


def test_linear_forward(case64):
    rng = np.random.RandomState(1)
    A, W, b = rng.randn(3, 2), rng.randn(1, 3), rng.randn(1, 1)
    Z, _ = P.linear_forward(*(case64.asarray(a) for a in (A, W, b)))
    close(Z, [[3.26295337, -1.23429987]], case64)


def test_model_forward_two_hidden(case64):
    rng = np.random.RandomState(6)
    X = rng.randn(5, 4)
    shapes = [(4, 5), (4, 1), (3, 4), (3, 1), (1, 3), (1, 1)]
    names = ["W1", "b1", "W2", "b2", "W3", "b3"]
    params = {k: case64.asarray(rng.randn(*s)) for k, s in zip(names, shapes, strict=True)}
    AL, caches = P.model_forward(case64.asarray(X), params)
    close(AL, [[0.03921668, 0.70498921, 0.19734387, 0.04728177]], case64)
    assert len(caches) == 3


def test_compute_cost(case64):
    J = nn.losses.binary_cross_entropy(case64.asarray([[0.8, 0.9, 0.4]]),
                                       case64.asarray([[1, 1, 0]]))
    close(J, 0.2797765635793422, case64)


def test_linear_backward(case64):
    rng = np.random.RandomState(1)
    dZ, A, W, b = rng.randn(1, 2), rng.randn(3, 2), rng.randn(1, 3), rng.randn(1, 1)
    dA_prev, dW, db = P.linear_backward(case64.asarray(dZ),
                                        tuple(case64.asarray(a) for a in (A, W, b)))
    close(dA_prev, [[0.51822968, -0.19517421], [-0.40506361, 0.15255393],
                    [2.37496825, -0.89445391]], case64)
    close(dW, [[-0.10076895, 1.40685096, 1.64992505]], case64)
    close(db, [[0.50629448]], case64)


@pytest.mark.parametrize(
    ("activation", "dA_prev", "dW", "db"),
    [("sigmoid", [[0.11017994, 0.01105339], [0.09466817, 0.00949723],
                  [-0.05743092, -0.00576154]], [[0.10266786, 0.09778551, -0.01968084]],
      [[-0.05729622]]),
     ("relu", [[0.44090989, 0.0], [0.37883606, 0.0], [-0.2298228, 0.0]],
      [[0.44513824, 0.37371418, -0.10478989]], [[-0.20837892]])],
)
def test_linear_activation_backward(case64, activation, dA_prev, dW, db):
    rng = np.random.RandomState(2)
    dA, A, W, b, Z = (rng.randn(*s) for s in [(1, 2), (3, 2), (1, 3), (1, 1), (1, 2)])
    cache = (tuple(case64.asarray(a) for a in (A, W, b)), case64.asarray(Z))
    got = P.linear_activation_backward(case64.asarray(dA), cache, activation)
    for g, e in zip(got, (dA_prev, dW, db), strict=True):
        close(g, e, case64)


def test_model_backward_with_the_courses_caches(case64):
    # The course's caches are random: AL is not sigmoid(Z2), so only the
    # lecture's own formulas (dAL, then sigmoid_backward on Z) give these values.
    rng = np.random.RandomState(3)
    AL = rng.randn(1, 2)
    Y = np.array([[1, 0]])
    A1, W1, b1, Z1 = rng.randn(4, 2), rng.randn(3, 4), rng.randn(3, 1), rng.randn(3, 2)
    A2, W2, b2, Z2 = rng.randn(3, 2), rng.randn(1, 3), rng.randn(1, 1), rng.randn(1, 2)
    d = case64.asarray
    caches = [((d(A1), d(W1), d(b1)), d(Z1)), ((d(A2), d(W2), d(b2)), d(Z2))]
    grads = P.model_backward(d(AL), d(Y), caches)
    close(grads["dW1"], [[0.41010002, 0.07807203, 0.13798444, 0.10502167], [0, 0, 0, 0],
                         [0.05283652, 0.01005865, 0.01777766, 0.0135308]], case64)
    close(grads["db1"], [[-0.22007063], [0.0], [-0.02835349]], case64)
    close(grads["dA1"], [[0.12913162, -0.44014127], [-0.14175655, 0.48317296],
                         [0.01663708, -0.05670698]], case64)


def test_update_parameters(case64):
    rng = np.random.RandomState(2)
    params = {k: rng.randn(*s) for k, s in [("W1", (3, 4)), ("b1", (3, 1)), ("W2", (1, 3)),
                                             ("b2", (1, 1))]}
    rng = np.random.RandomState(3)
    grads = {f"d{k}": rng.randn(*v.shape) for k, v in params.items()}
    new = nn.optimizers.gradient_descent({k: case64.asarray(v) for k, v in params.items()},
                                         {k: case64.asarray(v) for k, v in grads.items()}, 0.1)
    close(new["W1"], [[-0.59562069, -0.09991781, -2.14584584, 1.82662008],
                      [-1.76569676, -0.80627147, 0.51115557, -1.18258802],
                      [-1.0535704, -0.86128581, 0.68284052, 2.20374577]], case64)
    close(new["b1"], [[-0.04659241], [-1.28888275], [0.53405496]], case64)
    close(new["W2"], [[-0.55569196, 0.0354055, 1.32964895]], case64)
    close(new["b2"], [[-0.84610769]], case64)


def test_planar_one_hidden_layer_reproduces_the_course(case64):
    if case64.backend == "dask":
        pytest.skip("dask builds a task graph per operation (about 50 ms a step here): "
                    "3000 steps are left to the eager backends; dask trains in test_network")
    X, Y = nn.datasets.planar_flower(m=400, seed=1)
    init = nn.init.initialize_parameters([2, 4, 1], method="random", seed=2, dtype="float64",
                                         generator="legacy")
    net = nn.Network([2, 4, 1], hidden="tanh", init=init, backend=case64.backend,
                     device=case64.device, dtype="float64")
    hist = net.fit(X, Y, iterations=3001, learning_rate=1.2, record_every=1000)
    np.testing.assert_allclose(hist.costs, [0.693048, 0.288083, 0.254385, 0.233864], atol=1e-6)
