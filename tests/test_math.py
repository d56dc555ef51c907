"""Every math function on every backend against the NumPy float64 reference."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from nnarray import activations, gradcheck, losses, optimizers
from nnarray import propagation as P

from . import reference as ref
from ._helpers import assert_close

NAMES = sorted(set(activations.ACTIVATIONS) - {"softmax"})  # the elementwise ones
OUTPUTS = ["sigmoid", "softmax", "linear"]
HIDDEN = ["relu", "leaky_relu", "tanh", "sigmoid"]
Z_HOST = np.array([[-30.0, -2.5, -0.3, 0.0, 0.2, 1.7, 30.0],
                   [0.05, -0.05, 3.0, -4.0, 0.7, -1.1, 2.2]])


@pytest.mark.parametrize("name", NAMES)
def test_activation_forward_and_backward(case, name):
    g, g_backward = activations.get(name)
    Z = case.asarray(Z_HOST)
    dA = case.asarray(np.linspace(-1, 1, Z_HOST.size).reshape(Z_HOST.shape))
    A = g(Z)
    assert_close(A, ref.g(name, Z_HOST), case)
    expected = np.linspace(-1, 1, Z_HOST.size).reshape(Z_HOST.shape) * ref.g_prime(name, Z_HOST)
    assert_close(g_backward(dA, Z), expected, case)
    assert_close(g_backward(dA, Z, A), expected, case)


@pytest.mark.parametrize("name", NAMES)
def test_activation_derivative_by_finite_differences(name):
    _, g_backward = activations.get(name)
    g = activations.get(name)[0]
    Z = Z_HOST[np.abs(Z_HOST) > 1e-3].reshape(1, -1)  # away from the kink at 0
    h = 1e-6
    numeric = (g(Z + h) - g(Z - h)) / (2 * h)
    np.testing.assert_allclose(g_backward(np.ones_like(Z), Z), numeric, rtol=1e-7, atol=1e-9)


@pytest.fixture
def no_overflow():
    """Overflow, division by zero and invalid operations raise (NumPy's
    errstate, and every warning an error): a naive ``1 / (1 + exp(-z))``
    gives the right 0 and 1 in float32 too, and only this tells it apart."""
    with np.errstate(over="raise", divide="raise", invalid="raise"), \
            warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_at_extremes(no_overflow, dtype):
    Z = np.array([[-1000.0, -100.0, 0.0, 100.0, 1000.0]], dtype=dtype)
    A = activations.sigmoid(Z)
    assert A.dtype == dtype
    np.testing.assert_array_equal(A, [[0.0, 0.0, 0.5, 1.0, 1.0]])
    dZ = activations.sigmoid_backward(np.ones_like(Z), Z)
    np.testing.assert_array_equal(dZ, [[0.0, 0.0, 0.25, 0.0, 0.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_costs_from_logits_are_stable_at_extremes(no_overflow, dtype):
    Z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 0.0]], dtype=dtype)
    np.testing.assert_array_equal(activations.softmax(Z), [[1, 0, 0.5], [0, 1, 0.5]])
    Y = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], dtype=dtype)
    J = losses.categorical_cross_entropy(Z, Y, from_logits=True)
    assert J.dtype == dtype and float(J) == pytest.approx(np.log(2) / 3, rel=1e-6)
    wrong = np.array([[0.0, 1.0, 1.0]], dtype=dtype)  # confidently wrong twice: 1000 each
    J = losses.binary_cross_entropy(Z[:1], wrong, from_logits=True)
    assert J.dtype == dtype and float(J) == pytest.approx((2000 + np.log(2)) / 3, rel=1e-6)


def test_unknown_activation_lists_valid_ones():
    with pytest.raises(ValueError, match="activation must be one of .*'relu'.*got 'softplus'"):
        activations.get("softplus")


def test_linear_forward_and_backward(case):
    X, _, params = ref.problem([4, 3], m=5)
    A, W, b = (case.asarray(a) for a in (X, params["W1"], params["b1"]))
    Z, cache = P.linear_forward(A, W, b)
    assert_close(Z, params["W1"] @ X + params["b1"], case)
    assert cache[0] is A and cache[1] is W and cache[2] is b
    dZ_host = np.arange(15.0).reshape(3, 5) / 10
    dA_prev, dW, db = P.linear_backward(case.asarray(dZ_host), cache)
    assert_close(dW, dZ_host @ X.T / 5, case)
    assert_close(db, dZ_host.sum(axis=1, keepdims=True) / 5, case)
    assert_close(dA_prev, params["W1"].T @ dZ_host, case)


@pytest.mark.parametrize("activation", NAMES)
def test_linear_activation_forward_and_backward(case, activation):
    X, _, params = ref.problem([4, 3], m=6, seed=1)
    A_prev, W, b = (case.asarray(a) for a in (X, params["W1"], params["b1"]))
    A, cache = P.linear_activation_forward(A_prev, W, b, activation)
    Z_host = params["W1"] @ X + params["b1"]
    assert_close(A, ref.g(activation, Z_host), case)
    (lin, Z) = cache
    assert lin[0] is A_prev and lin[1] is W and lin[2] is b
    assert_close(Z, Z_host, case)
    dA_host = np.cos(Z_host)
    dA_prev, dW, db = P.linear_activation_backward(case.asarray(dA_host), cache, activation)
    dZ = dA_host * ref.g_prime(activation, Z_host)
    assert_close(dW, dZ @ X.T / 6, case)
    assert_close(db, dZ.sum(axis=1, keepdims=True) / 6, case)
    assert_close(dA_prev, params["W1"].T @ dZ, case)


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output", OUTPUTS)
def test_model_forward_backward_and_cost(case, hidden, output):
    dims = [5, 4, 3, 2]
    X, Y, params = ref.problem(dims, m=8, seed=2, output=output)
    AL_ref, caches_ref = ref.forward(X, params, hidden, output)
    grads_ref = ref.backward(AL_ref, Y, caches_ref, params, hidden, output)
    p = {k: case.asarray(v) for k, v in params.items()}
    Xd, Yd = case.asarray(X), case.asarray(Y)
    AL, caches = P.model_forward(Xd, p, hidden, output)
    assert_close(AL, AL_ref, case)
    assert len(caches) == 3
    for (lin, Z), (A_prev_ref, Z_ref) in zip(caches, caches_ref, strict=True):
        assert_close(lin[0], A_prev_ref, case)
        assert_close(Z, Z_ref, case)
    for reuse in (False, True):
        grads = P.model_backward(AL, Yd, caches, hidden, output, reuse=reuse)
        assert sorted(grads) == sorted(grads_ref)
        for k, v in grads.items():
            assert_close(v, grads_ref[k], case)
    lean = P.model_backward(AL, Yd, caches, hidden, output, dA0=False, reuse=True)
    assert "dA0" not in lean and sorted(lean) == sorted(set(grads_ref) - {"dA0"})
    # the training loop's path: no checks, no hidden Z kept, A reused
    AL2, lean_caches = P.model_forward(Xd, p, hidden, output, xp=case.xp, keep_Z=False)
    assert [c[1] is None for c in lean_caches] == [True, True, False]
    lean2 = P.model_backward(AL2, Yd, lean_caches, hidden, output, dA0=False, reuse=True,
                             xp=case.xp)
    for k, v in lean2.items():
        assert_close(v, grads_ref[k], case)
    J = losses.output_cost(caches[-1][1], AL, Yd, output)
    assert_close(J, ref.cost(AL_ref, Y, output), case)


def test_binary_cross_entropy_probabilities_and_logits_agree(case):
    Z_host = np.array([[-3.0, -0.5, 0.0, 0.4, 2.5, 6.0]])
    Y_host = np.array([[0.0, 1.0, 1.0, 0.0, 1.0, 1.0]])
    AL_host = ref.g("sigmoid", Z_host)
    expected = ref.cost(AL_host, Y_host, "sigmoid")
    Y = case.asarray(Y_host)
    assert_close(losses.binary_cross_entropy(case.asarray(AL_host), Y), expected, case)
    assert_close(losses.binary_cross_entropy(case.asarray(Z_host), Y, from_logits=True),
                 expected, case)


def test_binary_cross_entropy_never_takes_log_zero(case):
    Y = case.asarray([[1.0, 0.0]])
    wrong = case.asarray([[0.0, 1.0]])  # saturated, confidently wrong probabilities
    J = losses.binary_cross_entropy(wrong, Y)  # clipped to [eps, 1 - eps]: J = -log(eps)
    assert_close(J, -np.log(np.finfo(case.dtype).eps), case)
    logits = losses.binary_cross_entropy(case.asarray([[-1000.0, 1000.0]]), Y, from_logits=True)
    assert_close(logits, 1000.0, case)


def test_mean_squared_error(case):
    AL, Y = np.array([[1.0, 2.0, -1.0]]), np.array([[0.5, 2.0, 1.0]])
    assert_close(losses.mean_squared_error(case.asarray(AL), case.asarray(Y)),
                 ref.cost(AL, Y, "linear"), case)


def test_gradient_descent_is_functional(case):
    _, _, params = ref.problem([3, 2, 1])
    p = {k: case.asarray(v) for k, v in params.items()}
    before = {k: np.copy(v) for k, v in params.items()}
    grads = {f"d{k}": case.asarray(np.full(v.shape, 0.5)) for k, v in params.items()}
    new = optimizers.gradient_descent(p, grads, np.float64(0.1))  # NumPy scalar must not promote
    for k in params:
        assert_close(new[k], params[k] - 0.05, case)
        assert_close(p[k], before[k], case)  # the old parameters are untouched


@pytest.mark.parametrize("lr", [0, -0.1, float("nan"), float("inf")])
def test_gradient_descent_rejects_bad_learning_rate(lr):
    with pytest.raises(ValueError, match="learning_rate must be a finite number > 0"):
        optimizers.gradient_descent({"W1": np.ones((1, 1))}, {"dW1": np.ones((1, 1))}, lr)


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output", OUTPUTS)
def test_gradients_match_finite_differences(case64, hidden, output):
    X, Y, params = ref.problem([3, 4, 3, 2], m=5, seed=3, output=output)
    if hidden in ("relu", "leaky_relu"):
        X = X + 0.01  # keep every Z away from the kink for the finite differences
    p = {k: case64.asarray(v) for k, v in params.items()}
    diff = gradcheck.check(p, case64.asarray(X), case64.asarray(Y), hidden, output)
    assert diff < 1e-7, diff


def test_gradcheck_detects_a_wrong_gradient(monkeypatch):
    X, Y, params = ref.problem([3, 2, 1], m=4)
    good = gradcheck.check(params, X, Y, "tanh", "sigmoid")
    original = P.linear_backward

    def wrong(dZ, cache, **kw):
        dA_prev, dW, db = original(dZ, cache, **kw)
        return dA_prev, dW * 1.01, db

    monkeypatch.setattr(P, "linear_backward", wrong)
    assert gradcheck.check(params, X, Y, "tanh", "sigmoid") > 1e-4 > good


def test_gradcheck_refuses_float32():
    X, Y, params = ref.problem([3, 1])
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    with pytest.raises(ValueError, match="float64"):
        gradcheck.check(p32, X, Y)


def test_shape_errors_speak_the_lectures_terms():
    X, _, params = ref.problem([4, 3, 1])
    params["W2"] = np.ones((1, 5))
    with pytest.raises(ValueError, match=r"W2 has shape \(1, 5\) but A1 has 3 rows: W\[2\] must "
                                         r"be \(n\[2\], n\[1\]\) = \(1, 3\)"):
        P.model_forward(X, params)
    with pytest.raises(ValueError, match=r"b\[l\] must be \(n\[l\], 1\) = \(3, 1\)"):
        P.linear_forward(X, params["W1"], np.ones((3,)))


def test_softmax_forward_and_backward(case):
    Z_host = np.array([[1.0, -2.0, 30.0, 0.0], [0.5, 3.0, -30.0, 0.0], [-1.0, 0.0, 29.0, 0.0]])
    Z = case.asarray(Z_host)
    A = activations.softmax(Z)
    expected = ref.g("softmax", Z_host)
    assert_close(A, expected, case)
    dA_host = np.arange(12.0).reshape(3, 4) / 7
    # dZ_j = Σ_k dA_k ∂A_k/∂Z_j with the Jacobian diag(a) − a aᵀ, column by column
    dZ = np.stack([(np.diag(a) - np.outer(a, a)) @ d for a, d in zip(expected.T, dA_host.T,
                                                                      strict=True)], axis=1)
    assert_close(activations.softmax_backward(case.asarray(dA_host), Z), dZ, case)


def test_categorical_cross_entropy_probabilities_and_logits_agree(case):
    Z_host = np.array([[2.0, -1.0, 0.3], [0.5, 4.0, 0.3], [-3.0, 0.0, 0.3]])
    Y_host = np.eye(3)[:, [0, 1, 2]]
    expected = ref.cost(ref.g("softmax", Z_host), Y_host, "softmax")
    Y = case.asarray(Y_host)
    assert_close(losses.categorical_cross_entropy(case.asarray(ref.g("softmax", Z_host)), Y),
                 expected, case)
    assert_close(losses.categorical_cross_entropy(case.asarray(Z_host), Y, from_logits=True),
                 expected, case)
    huge = losses.categorical_cross_entropy(case.asarray([[1000.0], [-1000.0]]),
                                            case.asarray([[0.0], [1.0]]), from_logits=True)
    assert_close(huge, 2000.0, case)
