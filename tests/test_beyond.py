"""Beyond the lecture: optimizers, L2, dropout, mini-batches, early stopping,
callbacks — on every backend, against NumPy float64 references."""

from __future__ import annotations

import numpy as np
import pytest

import nnarray as nn
from nnarray import backend, gradcheck, optimizers

from . import reference as ref
from ._helpers import TOLERANCES, assert_close


def reference_optimizer(name, params, grads_seq, lr, **kw):
    """Momentum, RMSprop and Adam by the follow-up course's formulas, NumPy float64."""
    P = {k: v.copy() for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in P.items()}
    s = {k: np.zeros_like(p) for k, p in P.items()}
    for t, g in enumerate(grads_seq, start=1):
        for k in P:
            d = g[f"d{k}"]
            if name == "gd":
                P[k] = P[k] - lr * d
            elif name == "momentum":
                v[k] = 0.9 * v[k] + 0.1 * d
                P[k] = P[k] - lr * v[k]
            elif name == "rmsprop":
                s[k] = 0.999 * s[k] + 0.001 * d**2
                P[k] = P[k] - lr * d / (np.sqrt(s[k]) + 1e-8)
            else:
                v[k] = 0.9 * v[k] + 0.1 * d
                s[k] = 0.999 * s[k] + 0.001 * d**2
                vh, sh = v[k] / (1 - 0.9**t), s[k] / (1 - 0.999**t)
                P[k] = P[k] - lr * vh / (np.sqrt(sh) + 1e-8)
    return P


@pytest.mark.parametrize("name", ["gd", "momentum", "rmsprop", "adam"])
def test_optimizers_agree_with_numpy_float64(case, name):
    _, _, params = ref.problem([3, 4, 2])
    rng = np.random.default_rng(5)
    grads_seq = [{f"d{k}": rng.standard_normal(v.shape) for k, v in params.items()}
                 for _ in range(3)]
    opt = optimizers.get(name)
    p = {k: case.asarray(v) for k, v in params.items()}
    state = opt.init(p)
    for g in grads_seq:
        p, state = opt.update(p, {k: case.asarray(v) for k, v in g.items()}, state, 0.01)
    expected = reference_optimizer(name, params, grads_seq, 0.01)
    for k in params:
        assert_close(p[k], expected[k], case)
    assert state["t"] == 3


def test_optimizer_by_name_or_object_and_errors():
    assert isinstance(optimizers.get("adam"), optimizers.Adam)
    adam = optimizers.Adam(beta1=0.8)
    assert optimizers.get(adam) is adam
    with pytest.raises(ValueError, match=r"optimizer must be one of \['adam', 'gd'"):
        optimizers.get("sgd2")
    with pytest.raises(ValueError, match=r"beta1 must be a number in \[0, 1\)"):
        optimizers.Adam(beta1=1.0)


@pytest.mark.parametrize("output", ["sigmoid", "softmax", "linear"])
def test_l2_and_dropout_gradients_match_finite_differences(case64, output):
    X, Y, params = ref.problem([2, 4, 3, 2], m=6, seed=7, output=output)
    p = {k: case64.asarray(v) for k, v in params.items()}
    Xd, Yd = case64.asarray(X), case64.asarray(Y)
    assert gradcheck.check(p, Xd, Yd, "tanh", output, l2=0.7) < 1e-7
    rng = np.random.default_rng(1)
    masks = {l: case64.asarray((rng.random((n, 6)) < 0.7) / 0.7) for l, n in ((1, 4), (2, 3))}
    assert gradcheck.check(p, Xd, Yd, "tanh", output, masks=masks) < 1e-7
    assert gradcheck.check(p, Xd, Yd, "sigmoid", output, l2=0.3, masks=masks) < 1e-7


def test_l2_cost_is_the_penalised_cost():
    X, Y, params = ref.problem([3, 4, 1], m=8)
    net = nn.Network([3, 4, 1], hidden="tanh", init=params, dtype="float64")
    h = net.fit(X, Y, iterations=1, learning_rate=0.1, l2=0.5, progress=False)
    penalty = 0.5 / (2 * 8) * sum((params[k] ** 2).sum() for k in ("W1", "W2"))
    AL, _ = ref.forward(X, params, "tanh", "sigmoid")
    assert h.costs[0] == pytest.approx(ref.cost(AL, Y, "sigmoid") + penalty, rel=1e-12)


def minibatch_reference(X, Y, params, epochs, batch_size, lr, seed):
    """Mini-batch gradient descent in NumPy float64 with the same host shuffles."""
    rng = np.random.default_rng(seed)
    orders = (rng.permutation(X.shape[1]) for _ in range(epochs))
    return ref.minibatch_gd(X, Y, params, orders, batch_size, lr)


def test_minibatches_are_the_same_on_every_backend(case):
    X, Y, params = ref.problem([3, 4, 1], m=23, seed=2)  # 23 = 2 batches of 10 + 3
    net = nn.Network([3, 4, 1], hidden="tanh", init=params, seed=11, backend=case.backend,
                     device=case.device, dtype=case.dtype)
    h = net.fit(X, Y, learning_rate=0.3, batch_size=10, epochs=4, progress=False)
    P, costs = minibatch_reference(X, Y, params, 4, 10, 0.3, seed=11)
    assert h.epochs == [0, 1, 2, 3] and h.iterations == [3, 6, 9, 12]
    np.testing.assert_allclose(h.costs, costs, rtol=1e-9 if case.dtype == "float64" else 1e-4)
    for k, v in net.parameters.items():
        assert_close(v, P[k], case, scale=10)


def test_adam_minibatch_dropout_trains_on_every_backend(case):
    X, Y = nn.datasets.planar_flower(m=200)
    net = nn.Network([2, 16, 8, 1], hidden="relu", init="he", seed=1, backend=case.backend,
                     device=case.device, dtype=case.dtype)
    h = net.fit(X, Y, learning_rate=0.02, optimizer="adam", batch_size=50, epochs=15,
                dropout={1: 0.9}, l2=0.01, decay_rate=0.01, progress=False)
    assert h.costs[-1] < 0.8 * h.costs[0]
    assert all(backend.dtype_name(v.dtype) == case.dtype for v in net.parameters.values())


def dropout_reference(X, Y, params, keep, iterations, lr, seed, hidden="relu"):
    """Inverted dropout by the course's recipe in NumPy float64, sigmoid
    output: each step draws D[l] = (U < keep_prob) on the host from
    ``default_rng(seed)``, hidden layers in order; forward A[l] = g(Z[l]) *
    D[l] / keep_prob; backward dA[l] * D[l] / keep_prob, then dZ = dA g'(Z)."""
    rng = np.random.default_rng(seed)
    P = {k: v.copy() for k, v in params.items()}
    L, m = len(P) // 2, X.shape[1]
    for _ in range(iterations):
        masks = {l: (rng.random((P[f"W{l}"].shape[0], m)) < k) / k
                 for l, k in sorted(keep.items())}
        A, cache = X, []
        for l in range(1, L + 1):
            Z = P[f"W{l}"] @ A + P[f"b{l}"]
            cache.append((A, Z))
            A = ref.g(hidden if l < L else "sigmoid", Z) * masks.get(l, 1.0)
        dZ, grads = A - Y, {}
        for l in range(L, 0, -1):
            A_prev = cache[l - 1][0]
            grads[f"W{l}"] = dZ @ A_prev.T / m
            grads[f"b{l}"] = dZ.sum(axis=1, keepdims=True) / m
            if l > 1:
                dA = (P[f"W{l}"].T @ dZ) * masks.get(l - 1, 1.0)
                dZ = dA * ref.g_prime(hidden, cache[l - 2][1])
        P = {k: v - lr * grads[k] for k, v in P.items()}
    return P


def test_dropout_mask_values_and_scale():
    keep = 0.8
    D = backend.HostRandom(5).dropout_mask((200, 500), keep, np.zeros((1, 1)))
    np.testing.assert_array_equal(D, (np.random.default_rng(5).random((200, 500)) < keep) / keep)
    assert sorted(np.unique(D)) == [0.0, 1 / keep]  # dropped, or kept and scaled by 1/keep
    assert abs(D.mean() - 1.0) < 0.01  # E[D / keep_prob] = 1: A keeps its expected value
    assert abs((D == 0).mean() - (1 - keep)) < 0.01


def test_dropout_training_matches_a_numpy_reference(case):
    dims = [3, 6, 5, 1]
    X, Y, params = ref.problem(dims, m=12, seed=4)
    keep = {1: 0.5, 2: 0.8}
    net = nn.Network(dims, hidden="relu", init=params, seed=3, backend=case.backend,
                     device=case.device, dtype=case.dtype)
    net.fit(X, Y, iterations=3, learning_rate=0.1, dropout=keep, progress=False)
    expected = dropout_reference(X, Y, params, keep, iterations=3, lr=0.1, seed=3)
    without = dropout_reference(X, Y, params, {}, iterations=3, lr=0.1, seed=3)
    for k, v in net.parameters.items():
        assert_close(v, expected[k], case, scale=10)
    assert not np.allclose(expected["W1"], without["W1"])  # dropout changed the steps


def test_minibatch_divergence_raises_with_the_epoch(case):
    """A NaN or inf epoch cost in mini-batch training raises DivergenceError
    naming the epoch, and keeps the parameters of the last finite epoch: those
    of the same run stopped there (same backend and code path: bit for bit)."""
    X, Y, params = ref.problem([3, 4, 1], m=23, seed=2, output="linear")

    def net():
        return nn.Network([3, 4, 1], hidden="relu", output="linear", init=params, seed=11,
                          backend=case.backend, device=case.device, dtype=case.dtype)

    diverged = net()
    with pytest.raises(nn.DivergenceError, match=r"the cost is (nan|inf) at epoch (\d+) "
                                                 r"with learning_rate=2.0") as info:
        diverged.fit(X, Y, learning_rate=2.0, batch_size=10, epochs=60, progress=False)
    epoch = info.value.iteration
    assert epoch >= 1 and f"at epoch {epoch} " in str(info.value)
    assert diverged.history.epochs == list(range(epoch))
    assert all(np.isfinite(diverged.history.costs))
    stopped = net()
    stopped.fit(X, Y, learning_rate=2.0, batch_size=10, epochs=epoch, progress=False)
    for k, v in diverged.parameters.items():
        np.testing.assert_array_equal(backend.to_numpy(v), backend.to_numpy(stopped.parameters[k]))


def test_early_stopping_restores_the_best_parameters():
    X, Y = nn.datasets.planar_flower(m=200, seed=1)
    Xv, Yv = nn.datasets.planar_flower(m=100, seed=2)
    net = nn.Network([2, 40, 1], hidden="tanh", init="xavier", dtype="float64")
    h = net.fit(X, Y, learning_rate=0.05, optimizer="adam", batch_size=200, epochs=3000,
                validation=(Xv, Yv), patience=5, progress=False)
    assert h.stopped_early and len(h.epochs) < 3000
    assert len(h.val_costs) == len(h.epochs)
    best = int(np.argmin(h.val_costs))
    assert best == len(h.epochs) - 1 - 5  # five epochs without improvement, then stop
    assert net.cost(Xv, Yv) == h.val_costs[best]  # the same computation, exactly


def test_callbacks_are_called():
    X, Y = nn.datasets.planar_flower(m=40)
    seen = []
    nn.Network([2, 3, 1]).fit(X, Y, iterations=5, learning_rate=0.1, on_iteration=seen.append,
                              progress=False)
    assert seen == [0, 1, 2, 3, 4]
    epochs = []
    nn.Network([2, 3, 1]).fit(X, Y, learning_rate=0.1, batch_size=16, epochs=3,
                              on_epoch=lambda e, h: epochs.append((e, len(h.costs))),
                              progress=False)
    assert epochs == [(0, 1), (1, 2), (2, 3)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"batch_size": 8}, "batch_size needs epochs="),
     ({"epochs": 3}, "epochs needs batch_size="),
     ({"batch_size": 0, "epochs": 1}, "batch_size must be an integer >= 1, got 0"),
     ({"patience": 3}, "patience needs validation="),
     ({"l2": -1}, "l2 must be a finite number >= 0"),
     ({"dropout": {2: 0.5}}, r"dropout layer \(a hidden layer\) must be an integer in 1..1, got 2"),
     ({"dropout": {1: 0.0}}, r"keep_prob for layer 1 must be a number in \(0, 1\], got 0.0"),
     ({"optimizer": "nope"}, "optimizer must be one of")],
)
def test_bad_training_options_change_nothing(kwargs, message):
    X, Y = nn.datasets.planar_flower(m=20)
    net = nn.Network([2, 3, 1])
    before = {k: v.copy() for k, v in net.parameters.items()}
    with pytest.raises((ValueError, TypeError), match=message):
        net.fit(X, Y, iterations=2, learning_rate=0.1, **kwargs)
    for k, v in net.parameters.items():
        np.testing.assert_array_equal(v, before[k])


def test_softmax_network_with_integer_or_one_hot_labels(case):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 60))
    y = (X[0] > 0).astype(int) + (X[1] > 0.5)
    net = nn.Network([4, 8, 3], hidden="relu", output="softmax", backend=case.backend,
                     device=case.device, dtype=case.dtype)
    net.fit(X, y[None], iterations=300, learning_rate=0.5, progress=False)
    one_hot = np.eye(3)[:, y]  # column-major: NumPy's fancy indexing of axis 1
    # The same Y once converted, but not the same bits in float32: the integer
    # classes become a row-major one-hot on the host, and torch's Y * (Z - logsumexp)
    # keeps the layout of the Y it is given, so the cost's sum adds in another order.
    rtol, atol = TOLERANCES[case.dtype]
    assert net.cost(X, y[None]) == pytest.approx(net.cost(X, one_hot), rel=rtol, abs=atol)
    assert net.score(X, y[None]) > 0.9
    labels = backend.to_numpy(net.predict(X))
    assert labels.shape == (1, 60)
    assert net.score(X, y[None]) == np.mean(labels[0] == y)  # a count over m, exactly
    with pytest.raises(ValueError, match="integer classes 0..2"):
        net.fit(X, (y + 1)[None], iterations=1, learning_rate=0.1)


def test_linear_head_scores_r2():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 200))
    Y = (X[:1] * 2 - X[1:] + 0.5)
    net = nn.Network([2, 1], output="linear", dtype="float64")
    net.fit(X, Y, iterations=500, learning_rate=0.1, progress=False)
    AL = net.predict(X)
    r2 = 1 - ((Y - AL) ** 2).sum() / ((Y - Y.mean()) ** 2).sum()
    assert net.score(X, Y) == pytest.approx(r2, rel=1e-12) and r2 > 0.999


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_jax_jit_fast_path_agrees_with_the_standard_path(monkeypatch, optimizer):
    pytest.importorskip("jax")
    from nnarray import step as S
    from nnarray.engines import runner

    X, Y = nn.datasets.planar_flower(m=120)
    results = []
    for no_jit in ("1", ""):
        monkeypatch.setenv("NNARRAY_NO_JIT", no_jit)
        net = nn.Network([2, 6, 4, 1], hidden="tanh", backend="jax", dtype="float64", seed=2)
        net.fit(X, Y, iterations=20, learning_rate=0.05, optimizer=optimizer, l2=0.1,
                dropout={1: 0.8}, progress=False)
        net.fit(X, Y, learning_rate=0.05, optimizer=optimizer, batch_size=50, epochs=2,
                progress=False)
        results.append({k: backend.to_numpy(v) for k, v in net.parameters.items()})
    xp = backend.resolve("jax", "cpu").xp
    full, mini = (runner._chunks(S.raw_step("tanh", "sigmoid", optimizers.get(optimizer), l2,
                                            xp), "jax", "cpu", True, "highest")
                  for l2 in (0.1, 0.0))
    # the compiled path was really taken: both chunk programs were compiled
    assert full._full._cache_size() > 0 and mini._batches._cache_size() > 0
    for k in results[0]:
        np.testing.assert_allclose(results[1][k], results[0][k], rtol=1e-12, atol=1e-14)
