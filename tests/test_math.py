"""Every math function on every backend against the NumPy float64 reference."""

from __future__ import annotations

import math
import re
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
    original = P._linear_backward  # what model_backward calls, layer by layer

    def wrong(dZ, cache, **kw):
        dA_prev, dW, db = original(dZ, cache, **kw)
        return dA_prev, dW * 1.01, db

    monkeypatch.setattr(P, "_linear_backward", wrong)
    assert gradcheck.check(params, X, Y, "tanh", "sigmoid") > 1e-4 > good


def test_gradcheck_refuses_float32():
    X, Y, params = ref.problem([3, 1])
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    with pytest.raises(ValueError, match="float64"):
        gradcheck.check(p32, X, Y)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"epsilon": 0.0}, ValueError, "epsilon must be a finite number > 0, got 0.0"),
    ({"epsilon": "1e-7"}, TypeError, "epsilon must be a finite number > 0, got '1e-7'"),
    ({"l2": -0.1}, ValueError, "l2 must be a finite number >= 0, got -0.1"),
    ({"l2": True}, TypeError, "l2 must be a finite number >= 0, got True"),
])
def test_gradcheck_names_a_bad_epsilon_or_l2(kwargs, error, message):
    X, Y, params = ref.problem([3, 1])
    with pytest.raises(error, match=_full(message)):
        gradcheck.check(params, X, Y, **kwargs)


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


# ---------------------------------------------------------------------- #
# The functional API's contracts: mixed libraries refused, messages that
# name the shapes, documented options. (Each test here was written to kill
# a mutant that the tests above let live: see docs/reliability.md.)
# ---------------------------------------------------------------------- #

MIXED = "arrays from different libraries were mixed"


def _foreign(a):
    """``a`` as an array_api_strict array: another library than NumPy."""
    return pytest.importorskip("array_api_strict").asarray(a)


def _layer(seed=0):
    rng = np.random.default_rng(seed)
    A, W, b = rng.standard_normal((4, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 1))
    Z = W @ A + b
    return A, W, b, Z


@pytest.mark.parametrize("which", [0, 1, 2])
def test_forward_refuses_mixed_libraries(which):
    A, W, b, _ = _layer()
    args = [A, W, b]
    args[which] = _foreign(args[which])
    with pytest.raises(ValueError, match=MIXED):
        P.linear_forward(*args)
    with pytest.raises(ValueError, match=MIXED):
        P.linear_activation_forward(*args, activation="tanh")
    params = {"W1": args[1], "b1": args[2]}
    with pytest.raises(ValueError, match=MIXED):
        P.model_forward(args[0], params, output="linear")


@pytest.mark.parametrize("which", ["dZ", "A_prev", "W"])
def test_backward_refuses_mixed_libraries(which):
    A, W, b, Z = _layer()
    dZ = np.ones_like(Z)
    given = {"dZ": dZ, "A_prev": A, "W": W}
    given[which] = _foreign(given[which])
    with pytest.raises(ValueError, match=MIXED):
        P.linear_backward(given["dZ"], (given["A_prev"], given["W"], b))


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "softmax", "tanh"])
@pytest.mark.parametrize("which", ["dA", "Z"])
def test_activation_backward_refuses_mixed_libraries(name, which):
    A, W, b, Z = _layer()
    dA = np.ones_like(Z)
    given = {"dA": dA, "Z": Z}
    given[which] = _foreign(given[which])
    with pytest.raises(ValueError, match=MIXED):
        P.linear_activation_backward(given["dA"], ((A, W, b), given["Z"]), name)
    if name != "tanh":  # tanh's and sigmoid's backward take the namespace from Z alone
        with pytest.raises(ValueError, match=MIXED):
            activations.get(name)[1](given["dA"], given["Z"])


@pytest.mark.parametrize("which", ["AL", "Y"])
@pytest.mark.parametrize("cost", [
    losses.binary_cross_entropy,
    lambda AL, Y: losses.binary_cross_entropy(AL, Y, from_logits=True),
    losses.categorical_cross_entropy,
    lambda AL, Y: losses.categorical_cross_entropy(AL, Y, from_logits=True),
    losses.mean_squared_error,
    lambda AL, Y: P.model_backward(AL, Y, [((np.ones((2, 3)), np.ones((2, 2)),
                                             np.ones((2, 1))), np.ones((2, 3)))]),
])
def test_costs_and_model_backward_refuse_mixed_libraries(which, cost):
    given = {"AL": np.full((2, 3), 0.25), "Y": np.array([[1.0, 0, 1], [0, 1, 0]])}
    given[which] = _foreign(given[which])
    with pytest.raises(ValueError, match=MIXED):
        cost(given["AL"], given["Y"])


def _full(message):
    """A regex that matches exactly ``message``."""
    return "^" + re.escape(message) + "$"


def test_shape_messages_in_full():
    A, W, b, Z = _layer()
    with pytest.raises(ValueError, match=_full(
            "A[l-1] and W[l] must be 2-D (examples are columns), got shapes (4,) and (2, 4)")):
        P.linear_forward(A[:, 0], W, b)
    with pytest.raises(ValueError, match=_full(
            "A[l-1] and W[l] must be 2-D (examples are columns), got shapes (4, 3) and (4,)")):
        P.linear_forward(A, W[0], b)
    with pytest.raises(ValueError, match=_full(
            "A[0] and W[1] must be 2-D (examples are columns), got shapes (4,) and (2, 4)")):
        P.model_forward(A[:, 0], {"W1": W, "b1": b})
    with pytest.raises(ValueError, match=_full(
            "dZ has shape (3, 3) but the cache's W is (2, 4) and A_prev is (4, 3): "
            "dZ[l] must be (n[l], m) = (2, 3)")):
        P.linear_backward(np.ones((3, 3)), (A, W, b))
    with pytest.raises(ValueError, match=_full(
            "dA has shape (2, 2) but the cache's Z has shape (2, 3): "
            "dA[l] must be (n[l], m) like Z[l]")):
        P.linear_activation_backward(np.ones((2, 2)), ((A, W, b), Z), "relu")
    with pytest.raises(ValueError, match=_full(
            "Y has shape (1, 2) but AL has shape (1, 3): Y must be (n[L], m) like the "
            "output layer")):
        P.model_backward(np.ones((1, 3)), np.ones((1, 2)), [((A, W, b), Z)])


@pytest.mark.parametrize(("keys", "missing"), [
    ([], None),
    (["W1"], None),
    (["W2", "b2", "V1", "c1"], ["W1", "b1"]),
    (["W1", "b1", "X", "Y"], ["W2", "b2"]),
    (["W1", "b1", "W3", "b3"], ["W2", "b2"]),
    (["W1", "b1", "W2"], None),
])
def test_parameter_keys_are_checked(keys, missing):
    params = {k: np.ones((1, 1)) for k in keys}
    message = ("parameters must be {'W1', 'b1', ..., 'WL', 'bL'}, got keys "
               f"{sorted(keys)}" + (f" (missing {missing})" if missing else ""))
    with pytest.raises(ValueError, match=_full(message)):
        P.n_layers(params)
    with pytest.raises(ValueError, match=_full(message)):
        P.model_forward(np.ones((1, 2)), params)


def test_cost_shape_messages_in_full():
    AL = np.full((1, 3), 0.5)
    cases = [
        (AL[0], AL[0], "Y has shape (3,) but AL has shape (3,): both must be 2-D (n_y, m), "
                       "examples as columns; pass AL.reshape(1, 3) and Y.reshape(1, 3) "
                       "(one output unit)"),
        (AL[None], AL, "Y has shape (1, 3) but AL has shape (1, 1, 3): both must be 2-D "
                       "(n_y, m), examples as columns"),
        (AL, AL.T, "Y has shape (3, 1) but AL has shape (1, 3): they must be equal (n_y, m), "
                   "examples as columns; pass Y.T"),
        (AL, AL[:, :2], "Y has shape (1, 2) but AL has shape (1, 3): they must be equal "
                        "(n_y, m), one row per output unit and one column per example"),
    ]
    for a, y, message in cases:
        with pytest.raises(ValueError, match=_full(message)):
            losses.binary_cross_entropy(a, y)
    with pytest.raises(ValueError, match=_full(
            "output must be one of ['sigmoid', 'softmax', 'linear'], got 'relu'")):
        losses.output_cost(AL, AL, AL, "relu")


def test_categorical_cross_entropy_clips_probabilities_to_eps_and_one():
    """From probabilities, a is clipped to [eps, 1]: a 0 costs -log(eps), and a
    value above 1 (not a probability) costs what 1 does, nothing."""
    Y = np.array([[1.0, 0.0], [0.0, 1.0]])
    AL = np.array([[0.0, 0.3], [1.0, 1.5]])
    eps = np.finfo(np.float64).eps
    assert float(losses.categorical_cross_entropy(AL, Y)) == -np.log(eps) / 2
    J32 = losses.categorical_cross_entropy(AL.astype(np.float32), Y.astype(np.float32))
    assert J32.dtype == np.float32
    assert float(J32) == pytest.approx(-np.log(np.finfo(np.float32).eps) / 2, rel=1e-6)


def test_softmax_backward_takes_a_instead_of_z():
    Z = _layer()[3]
    S = activations.softmax(Z)
    dA = np.cos(Z)
    expected = activations.softmax_backward(dA, Z)
    np.testing.assert_array_equal(activations.softmax_backward(dA, None, S), expected)
    for name in ("relu", "leaky_relu"):  # a > 0 is the same test as z > 0
        g, g_backward = activations.get(name)
        np.testing.assert_array_equal(g_backward(dA, None, g(Z)), g_backward(dA, Z))


def test_backward_skips_da_prev_when_asked():
    A, W, b, Z = _layer()
    dZ = np.ones_like(Z)
    dA_prev, dW, _ = P.linear_backward(dZ, (A, W, b), need_dA_prev=False)
    assert dA_prev is None
    np.testing.assert_array_equal(dW, P.linear_backward(dZ, (A, W, b))[1])
    out = P.linear_activation_backward(dZ, ((A, W, b), Z), "tanh", need_dA_prev=False)
    assert out[0] is None


@pytest.mark.parametrize("reuse", [False, True])
@pytest.mark.parametrize("dims", [[4, 1], [4, 3, 1]])
def test_model_backward_without_da0_never_touches_w1(reuse, dims):
    """Training never computes dA0 = W1ᵀ dZ1: with dA0=False, W1 is not even read
    (it is None here), and every other gradient is the same."""
    X, Y, params = ref.problem(dims, m=5)
    AL, caches = P.model_forward(X, params, "tanh", "sigmoid")
    full = P.model_backward(AL, Y, caches, "tanh", "sigmoid", reuse=reuse)
    (A0, _, b1), Z1 = caches[0]
    lean = P.model_backward(AL, Y, [((A0, None, b1), Z1), *caches[1:]], "tanh", "sigmoid",
                            dA0=False, reuse=reuse)
    assert sorted(lean) == sorted(set(full) - {"dA0"})
    for k, v in lean.items():
        np.testing.assert_array_equal(v, full[k])


def test_model_backward_defaults_and_lean_caches():
    X, Y, params = ref.problem([4, 3, 1], m=5, seed=1)
    AL, caches = P.model_forward(X, params)  # relu, sigmoid: the lecture's defaults
    default = P.model_backward(AL, Y, caches)
    explicit = P.model_backward(AL, Y, caches, "relu", "sigmoid", reuse=False)
    for k, v in default.items():
        np.testing.assert_array_equal(v, explicit[k])
    # reuse=True needs only A: the training loop's lean caches (no hidden Z) work too
    AL2, lean = P.model_forward(X, params, keep_Z=False, xp=np)
    assert lean[0][1] is None
    grads = P.model_backward(AL2, Y, lean, reuse=True)
    for k, v in grads.items():
        np.testing.assert_allclose(v, default[k], rtol=1e-12, atol=1e-15)


def test_model_backward_by_default_takes_g_prime_from_z():
    """Without reuse, g'(Z[l]) comes from the cache's Z (the lecture); with
    reuse=True from the next layer's A_prev (valid only for model_forward's
    caches). Caches whose A_prev is not g(Z) tell them apart."""
    X, Y, params = ref.problem([4, 3, 1], m=5, seed=2)
    AL, caches = P.model_forward(X, params, "tanh", "sigmoid")
    (A1, W2, b2), Z2 = caches[1]
    odd = [caches[0], ((A1 * 0.5, W2, b2), Z2)]  # A_prev of layer 2 is not tanh(Z1)
    grads = P.model_backward(AL, Y, odd, "tanh", "sigmoid")
    dZ2 = AL - Y
    dA1 = W2.T @ dZ2
    dZ1 = dA1 * ref.g_prime("tanh", caches[0][1])
    np.testing.assert_allclose(grads["dW1"], dZ1 @ X.T / 5, rtol=1e-10)
    reused = P.model_backward(AL, Y, odd, "tanh", "sigmoid", reuse=True)
    assert not np.allclose(reused["dW1"], grads["dW1"])


def test_optimizer_messages_and_beta_range():
    with pytest.raises(TypeError, match=_full(
            "learning_rate must be a finite number > 0, got 'fast'")):
        optimizers.check_learning_rate("fast")
    with pytest.raises(ValueError, match=_full(
            "grads is missing ['db1'] for the parameters ['W1', 'b1']")):
        optimizers.gradient_descent({"W1": np.ones((1, 1)), "b1": np.ones((1, 1))},
                                    {"dW1": np.ones((1, 1))}, 0.1)
    for make, name in [(lambda v: optimizers.Momentum(beta=v), "beta"),
                       (lambda v: optimizers.RMSprop(beta=v), "beta"),
                       (lambda v: optimizers.Adam(beta1=v), "beta1"),
                       (lambda v: optimizers.Adam(beta2=v), "beta2")]:
        make(0.0)  # [0, 1): zero is allowed (no averaging)
        for bad in (1.0, -0.1):
            with pytest.raises(ValueError, match=_full(
                    f"{name} must be a number in [0, 1), got {bad}")):
                make(bad)


@pytest.mark.parametrize("make", [lambda v: optimizers.RMSprop(epsilon=v),
                                  lambda v: optimizers.Adam(epsilon=v)])
@pytest.mark.parametrize("bad, error", [(0.0, ValueError), (-1e-8, ValueError),
                                        (math.nan, ValueError), ("1e-8", TypeError),
                                        (None, TypeError)])
def test_an_optimizer_refuses_an_epsilon_that_is_not_a_number_above_0(make, bad, error):
    with pytest.raises(error, match=_full(f"epsilon must be a finite number > 0, got {bad!r}")):
        make(bad)


def test_gradient_descent_refuses_a_gradient_of_another_shape():
    params = {"W1": np.ones((4, 2)), "b1": np.zeros((4, 1))}
    grads = {"dW1": np.ones((4, 2)), "db1": np.ones(4)}  # db1 raveled: b1 would become (4, 4)
    with pytest.raises(ValueError, match=_full(
            "grads['db1'] must have the shape of parameters['b1'], (4, 1), got (4,)")):
        optimizers.gradient_descent(params, grads, 0.1)
    with pytest.raises(ValueError, match=r"grads\['dW1'\] .* \(4, 2\), got None"):
        optimizers.gradient_descent(params, {"dW1": 1.0, "db1": np.ones((4, 1))}, 0.1)


@pytest.mark.parametrize("name", ["momentum", "rmsprop", "adam"])
def test_optimizer_state_starts_at_zeros_like_the_parameters(name):
    params = {"W1": np.ones((2, 3), np.float32), "b1": np.ones((2, 1), np.float32)}
    state = optimizers.get(name).init(params)
    assert state["t"] == 0
    for key in ("v", "s"):
        for k, z in state.get(key, {}).items():
            assert z.shape == params[k].shape and z.dtype == np.float32
            assert not z.any()


def test_adam_uses_the_bias_corrections_it_is_given():
    """``hyper=`` replaces Adam's own bias corrections (a compiled chunk passes
    them in): with c1 = c2 = 1 the step is the uncorrected one."""
    adam = optimizers.Adam()
    p, g = {"W1": np.array([[1.0]])}, {"dW1": np.array([[0.5]])}
    state = adam.init(p)
    new, _ = adam.update(p, g, state, 0.1, hyper={"c1": 1.0, "c2": 1.0})
    v, s = 0.1 * 0.5, 0.001 * 0.25
    np.testing.assert_allclose(new["W1"], 1.0 - 0.1 * v / (np.sqrt(s) + 1e-8), rtol=1e-15)
    own, _ = adam.update(p, g, state, 0.1)
    np.testing.assert_allclose(own["W1"], 1.0 - 0.1 * 1.0, rtol=1e-6)  # corrected: ±α


class _NoPow(np.ndarray):
    """An array that refuses ``**``: CuPy's ``x ** 2`` and ``x ** 0.5`` call
    ``pow``, which is not correctly rounded (and which a fused kernel's
    compiler may fold into a multiplication or a square root)."""

    def __pow__(self, other):
        raise AssertionError(f"** {other!r} in an update")


@pytest.mark.parametrize("name", ["rmsprop", "adam"])
def test_updates_square_and_take_roots_with_correctly_rounded_operations(name):
    """dθ² is one multiplication and √s the namespace's sqrt, so that CuPy's
    standard path and the fused Adam kernel (``dP * dP``, ``sqrt``) round alike."""
    rng = np.random.default_rng(0)
    p = {"W1": rng.standard_normal((3, 4)).view(_NoPow)}
    g = {"dW1": rng.standard_normal((3, 4)).view(_NoPow)}
    opt = optimizers.get(name)
    state = opt.init(p)
    state = {"t": 2, **{k: {"W1": np.abs(rng.standard_normal((3, 4))).view(_NoPow)}
                        for k in state if k != "t"}}
    new, after = opt.update(p, g, state, 0.01)
    s_prev, dW = np.asarray(state["s"]["W1"]), np.asarray(g["dW1"])
    beta = opt.beta2 if name == "adam" else opt.beta
    s = beta * s_prev + (1.0 - beta) * np.square(dW)
    assert np.array_equal(np.asarray(after["s"]["W1"]), s)
    if name == "rmsprop":
        expected = np.asarray(p["W1"]) - 0.01 * dW / (np.sqrt(s) + opt.epsilon)
        assert np.array_equal(np.asarray(new["W1"]), expected)
