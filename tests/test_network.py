"""Network, LogisticRegression and History on every backend."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest

import nnarray as nn
from nnarray import backend, train
from nnarray import step as S

from . import reference as ref
from ._helpers import assert_close


def flower(m=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((2, m))
    Y = (X[0:1] * X[1:2] > 0).astype(np.float64)
    return X, Y


def reference_training(X, Y, params, hidden, output, iterations, lr):
    """The lecture's loop in plain NumPy float64."""
    params = {k: v.copy() for k, v in params.items()}
    costs = []
    for _ in range(iterations):
        AL, caches = ref.forward(X, params, hidden, output)
        costs.append(ref.cost(AL, Y, output))
        grads = ref.backward(AL, Y, caches, params, hidden, output)
        params = {k: v - lr * grads[f"d{k}"] for k, v in params.items()}
    return params, costs


@pytest.mark.parametrize(("hidden", "output"), [("tanh", "sigmoid"), ("relu", "linear")])
def test_fit_matches_the_reference_loop(case, hidden, output):
    X, Y = flower()
    if output == "linear":
        Y = np.sin(X[0:1]) + X[1:2]
    init = nn.init.initialize_parameters([2, 5, 3, 1], method="xavier", seed=4, dtype="float64")
    net = nn.Network([2, 5, 3, 1], hidden=hidden, output=output, init=init,
                     backend=case.backend, device=case.device, dtype=case.dtype)
    hist = net.fit(case.asarray(X), case.asarray(Y), iterations=25, learning_rate=0.3,
                   record_every=10)
    params, costs = reference_training(X, Y, init, hidden, output, 25, 0.3)
    assert hist.iterations == [0, 10, 20, 24]
    assert all(type(c) is float for c in hist.costs)
    rtol = 1e-9 if case.dtype == "float64" else 2e-4
    np.testing.assert_allclose(hist.costs, [costs[i] for i in hist.iterations], rtol=rtol)
    for k, v in net.parameters.items():
        assert_close(v, params[k], case, scale=100 if case.dtype == "float32" else 1)


def test_fit_continues_from_current_parameters(case):
    X, Y = flower()
    a = nn.Network([2, 4, 1], hidden="tanh", backend=case.backend, device=case.device,
                   dtype=case.dtype)
    b = nn.Network([2, 4, 1], hidden="tanh", backend=case.backend, device=case.device,
                   dtype=case.dtype)
    a.fit(X, Y, iterations=10, learning_rate=0.5)
    b.fit(X, Y, iterations=4, learning_rate=0.5)
    h = b.fit(X, Y, iterations=6, learning_rate=0.5, record_every=2)
    assert h.iterations == [0, 2, 4, 5]  # each fit counts from 0
    for k in a.parameters:
        np.testing.assert_allclose(backend.to_numpy(b.parameters[k]),
                                   backend.to_numpy(a.parameters[k]), rtol=1e-5, atol=1e-7)


def test_training_learns_and_keeps_dtype_and_device(case):
    X, Y = flower(m=200)
    net = nn.Network([2, 8, 1], hidden="tanh", init="xavier", seed=2, backend=case.backend,
                     device=case.device, dtype=case.dtype)
    hist = net.fit(X, Y, iterations=300, learning_rate=1.0, record_every=100)
    assert hist.costs[-1] < 0.5 * hist.costs[0]
    assert net.score(X, Y) > 0.9
    assert net.cost(X, Y) < hist.costs[-1]
    for v in net.parameters.values():
        t = backend.target_of(v)
        assert (t.backend, t.device) == (case.backend, case.device)
        assert backend.dtype_name(v.dtype) == case.dtype
    P = net.predict_proba(X)
    labels = net.predict(X)
    assert backend.dtype_name(labels.dtype) == case.dtype
    # exact: predict thresholds the forward pass that predict_proba returns
    np.testing.assert_array_equal(backend.to_numpy(labels), backend.to_numpy(P) > 0.5)
    accuracy = np.mean(backend.to_numpy(labels) == Y)
    assert net.score(X, Y) == pytest.approx(accuracy)


def test_inputs_from_another_library_are_converted_once(case):
    strict = pytest.importorskip("array_api_strict")
    X, Y = flower()
    net = nn.Network([2, 3, 1], backend=case.backend, device=case.device, dtype=case.dtype)
    from_numpy = net.cost(X, Y.astype(int))  # int labels are cast at the boundary
    from_strict = net.cost(strict.asarray(X), strict.asarray(Y.astype(bool)))
    from_list = net.cost(X.tolist(), Y.tolist())
    assert from_numpy == pytest.approx(from_strict) == pytest.approx(from_list)


def test_to_moves_parameters_and_keeps_values(case):
    net = nn.Network([3, 4, 1], dtype=case.dtype, seed=5)
    before = {k: v.copy() for k, v in net.parameters.items()}
    assert net.to(case.device, backend=case.backend) is net
    assert (net.backend, net.device) == (case.backend, case.device)
    for k, v in net.parameters.items():
        np.testing.assert_array_equal(backend.to_numpy(v), before[k])
    net.to("cpu")
    assert net.backend == "numpy"


def test_save_load_round_trip_is_bit_exact(case, tmp_path):
    X, Y = flower()
    net = nn.Network([2, 4, 1], hidden="leaky_relu", backend=case.backend, device=case.device,
                     dtype=case.dtype)
    net.fit(X, Y, iterations=5, learning_rate=0.1)
    path = tmp_path / "model.npz"
    net.save(path)
    back = nn.load(path)  # saved anywhere, loaded on the CPU
    assert type(back) is nn.Network and back.backend == "numpy"
    assert (back.layer_dims, back.hidden, back.output, back.dtype) == (
        net.layer_dims, net.hidden, net.output, net.dtype)
    for k, v in net.parameters.items():
        np.testing.assert_array_equal(back.parameters[k], backend.to_numpy(v))
    again = nn.load(path, device=case.device, backend=case.backend)
    for k, v in again.parameters.items():
        assert_close(v, backend.to_numpy(net.parameters[k]), case)
        np.testing.assert_array_equal(backend.to_numpy(v), backend.to_numpy(net.parameters[k]))


def test_logistic_regression_is_the_lectures_review(tmp_path):
    X, Y = flower(m=100)
    X = np.vstack([X, X[0:1] + X[1:2]])
    lr = nn.LogisticRegression(3, dtype="float64")
    assert all(not v.any() for v in lr.parameters.values())  # starts from zeros
    hist = lr.fit(X, Y, iterations=20, learning_rate=0.005, record_every=10)
    assert hist.costs[0] == pytest.approx(np.log(2))
    # the lecture's own loop: w, b from zeros, dw = X (A - Y)^T / m
    w, b = np.zeros((3, 1)), 0.0
    for _ in range(20):
        A = 1 / (1 + np.exp(-(w.T @ X + b)))
        w, b = w - 0.005 * X @ (A - Y).T / 100, b - 0.005 * np.sum(A - Y) / 100
    np.testing.assert_allclose(lr.parameters["W1"], w.T, rtol=1e-12)
    lr.save(tmp_path / "lr.npz")
    assert type(nn.load(tmp_path / "lr.npz")) is nn.LogisticRegression


def test_logistic_regression_refuses_a_generator():
    with pytest.raises(TypeError, match=r"starts from zeros.*generator='legacy' does not apply"
                                        r".*Network\(\[n_x, 1\]"):
        nn.LogisticRegression(3, generator="legacy")


def test_generator_picks_the_host_stream_and_survives_save_load(case, tmp_path):
    where = {"backend": case.backend, "device": case.device, "dtype": case.dtype}
    legacy = nn.Network([4, 3, 1], init="xavier", seed=7, generator="legacy", **where)
    default = nn.Network([4, 3, 1], init="xavier", seed=7, **where)
    assert (legacy.generator, default.generator) == ("legacy", "default")
    # exact: the draws are made on the host and scaled there by these operations
    rs, rng = np.random.RandomState(7), np.random.default_rng(7)
    for l, (n, n_prev) in enumerate([(3, 4), (1, 3)], start=1):
        want_legacy = (rs.randn(n, n_prev) / np.sqrt(n_prev)).astype(case.dtype)
        want_default = (rng.standard_normal((n, n_prev)) / np.sqrt(n_prev)).astype(case.dtype)
        np.testing.assert_array_equal(backend.to_numpy(legacy.parameters[f"W{l}"]), want_legacy)
        np.testing.assert_array_equal(backend.to_numpy(default.parameters[f"W{l}"]),
                                      want_default)
    legacy.save(tmp_path / "legacy.npz")
    back = nn.load(tmp_path / "legacy.npz", device=case.device, backend=case.backend)
    for k, v in legacy.parameters.items():
        np.testing.assert_array_equal(backend.to_numpy(back.parameters[k]), backend.to_numpy(v))


def test_generator_is_irrelevant_when_nothing_is_drawn():
    given = nn.init.initialize_parameters([2, 3, 1], seed=4, dtype="float64")
    for init in (given, "zeros"):
        a = nn.Network([2, 3, 1], init=init, generator="legacy", dtype="float64")
        b = nn.Network([2, 3, 1], init=init, dtype="float64")
        for k, v in a.parameters.items():
            np.testing.assert_array_equal(v, b.parameters[k])


def test_history_records_first_every_kth_and_last():
    X, Y = flower()
    net = nn.Network([2, 2, 1])
    assert net.fit(X, Y, iterations=7, learning_rate=0.1, record_every=3).iterations == [0, 3, 6]
    assert net.fit(X, Y, iterations=1, learning_rate=0.1).iterations == [0]
    assert net.fit(X, Y, iterations=0, learning_rate=0.1).iterations == []
    assert net.history is not None and len(net.history) == 0


class FakeTerminal:
    def __init__(self):
        self.text = []

    def isatty(self):
        return True

    def write(self, s):
        self.text.append(s)

    def flush(self):
        pass


@pytest.mark.parametrize("have_tqdm", [True, False])
def test_progress_on_a_terminal_only(monkeypatch, capsys, have_tqdm):
    X, Y = flower()
    term = FakeTerminal()
    monkeypatch.setattr("sys.stderr", term)
    if not have_tqdm:
        monkeypatch.setitem(sys.modules, "tqdm", None)
    else:
        pytest.importorskip("tqdm")
    nn.Network([2, 2, 1]).fit(X, Y, iterations=3, learning_rate=0.1, record_every=1)
    out = "".join(term.text)
    assert "cost" in out and ("3/3" in out if have_tqdm else "training: 0 of 3 steps" in out)
    term.text.clear()
    nn.Network([2, 2, 1]).fit(X, Y, iterations=3, learning_rate=0.1, progress=False)
    assert term.text == []
    monkeypatch.undo()
    nn.Network([2, 2, 1]).fit(X, Y, iterations=3, learning_rate=0.1)  # not a terminal
    assert capsys.readouterr().err == ""


def test_divergence_stops_and_keeps_last_finite_parameters():
    X, Y = flower(m=50)
    X = X * 1e3
    net = nn.Network([2, 4, 1], hidden="relu", output="linear", dtype="float32", seed=3)
    with pytest.raises(nn.DivergenceError, match=r"at iteration (\d+) with learning_rate=50.0"
                                                 r".*smaller learning rate") as info:
        net.fit(X, Y * 1e3, iterations=100, learning_rate=50.0, record_every=40)
    assert isinstance(info.value, ArithmeticError)
    assert train.all_finite(net.parameters)
    i = info.value.iteration
    assert 0 < i < 100
    # replaying from the start: the kept parameters are those of iteration i - 1
    # (the same steps on the same backend: bit for bit)
    fresh = nn.Network([2, 4, 1], hidden="relu", output="linear", dtype="float32", seed=3)
    fresh.fit(X, Y * 1e3, iterations=i - 1, learning_rate=50.0, record_every=1000)
    for k, v in fresh.parameters.items():
        np.testing.assert_array_equal(net.parameters[k], v)
    assert np.isfinite(fresh.cost(X, Y * 1e3))


def test_ctrl_c_keeps_last_completed_step_and_history(monkeypatch):
    X, Y = flower()
    net = nn.Network([2, 3, 1])
    calls = {"n": 0}
    real_step = S.gradients

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(S, "gradients", interrupted)
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, Y, iterations=100, learning_rate=0.1, record_every=2)
    monkeypatch.undo()
    assert net.history.iterations == [0, 2, 4]
    five = nn.Network([2, 3, 1])
    five.fit(X, Y, iterations=5, learning_rate=0.1)  # the same five steps: bit for bit
    for k, v in five.parameters.items():
        np.testing.assert_array_equal(net.parameters[k], v)


@pytest.mark.parametrize(
    ("X", "Y", "message"),
    [
        (np.ones((5, 2)), np.ones((1, 5)), r"X has 5 rows but the network's input layer has "
                                           r"n_x=2 \(examples are columns: pass X.T\?\)"),
        (np.ones((2, 5)), np.ones(5), r"Y must be 2-D .*pass Y.reshape\(1, -1\)"),
        (np.ones((2, 5)), np.ones((1, 4)), r"Y has shape \(1, 4\) but must be \(n\[L\], m\) = "
                                           r"\(1, 5\)"),
        (np.ones((2, 5)), np.full((1, 5), 2.0), "only the labels 0 and 1"),
        (np.full((2, 5), np.nan), np.ones((1, 5)), "X contains NaN or inf"),
        (np.ones((2, 0)), np.ones((1, 0)), "X is empty"),
        (np.array([["a", "b"]] * 2), np.ones((1, 2)), "X must be a real numeric array"),
    ],
)
def test_bad_data_is_refused_before_any_change(X, Y, message):
    net = nn.Network([2, 3, 1])
    before = {k: v.copy() for k, v in net.parameters.items()}
    with pytest.raises((ValueError, TypeError), match=message):
        net.fit(X, Y, iterations=3, learning_rate=0.1)
    for k, v in net.parameters.items():
        np.testing.assert_array_equal(v, before[k])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"learning_rate": 0}, "learning_rate must be a finite number > 0"),
     ({"learning_rate": float("nan")}, "learning_rate"),
     ({"iterations": -1}, "iterations must be an integer in 0..9007199254740992, got -1"),
     ({"iterations": 2.5}, "iterations must be an integer in 0..9007199254740992, got 2.5"),
     ({"record_every": 0}, "record_every must be an integer >= 1, got 0")],
)
def test_bad_hyperparameters(kwargs, message):
    X, Y = flower()
    with pytest.raises((ValueError, TypeError), match=message):
        nn.Network([2, 1]).fit(X, Y, **{"iterations": 3, "learning_rate": 0.1, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"hidden": "softplus"}, r"hidden must be one of \['sigmoid', 'tanh', 'relu'"),
     ({"output": "tanh"}, r"output must be one of \['sigmoid', 'softmax', 'linear'\]"),
     ({"dtype": "int8"}, r"dtype must be one of \['float32', 'float64'\]"),
     ({"device": "tpu"}, "device must be"),
     ({"backend": "mxnet"}, "backend must be one of"),
     ({"init": "glorot"}, "init method must be one of"),
     ({"generator": "mt19937"}, r"generator must be one of \['default', 'legacy'\].*"
                                r"got 'mt19937'"),
     ({"generator": None}, r"generator must be one of .* got None"),
     ({"init": {"W1": np.ones((3, 2))}}, r"missing \['W2', 'b1', 'b2'\]"),
     ({"init": {"W1": np.ones((2, 3)), "b1": np.ones((3, 1)), "W2": np.ones((1, 3)),
                "b2": np.ones((1, 1))}}, r"init\['W1'\] must have shape \(n\[1\], n\[0\]\)")],
)
def test_bad_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nn.Network([2, 3, 1], **kwargs)


def test_init_dict_is_copied_from_any_library(case):
    init = nn.init.initialize_parameters([2, 3, 1], seed=9, dtype="float64")
    given = {k: case.asarray(v) for k, v in init.items()}
    net = nn.Network([2, 3, 1], init=given, dtype="float64" if case.dtype == "float64"
                     else "float32")
    for k, v in net.parameters.items():
        np.testing.assert_allclose(v, init[k], rtol=1e-7)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not a zip", "not a readable nnarray model file"),
     (None, "no model file")],
)
def test_load_refuses_bad_files(tmp_path, content, message):
    path = tmp_path / "m.npz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        nn.load(path)


def test_load_refuses_pickles_and_foreign_npz(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, W1=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="not a readable nnarray model file"):
        nn.load(path)
    np.savez(path, W1=np.ones((1, 2)), b1=np.ones((1, 1)))
    with pytest.raises(ValueError, match="no nnarray metadata"):
        nn.load(path)


def test_save_is_atomic_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    net = nn.Network([2, 3, 1], seed=1)
    path = tmp_path / "model.npz"
    net.save(path)
    good = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        nn.Network([2, 3, 1], seed=2).save(path)
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]  # no temp file left


def test_host_syncs_happen_only_at_record_points(case):
    X, Y = flower()
    net = nn.Network([2, 3, 1], backend=case.backend, device=case.device, dtype=case.dtype)
    Xd, Yd = case.asarray(X), case.asarray(Y)

    def syncs(iterations):
        before = backend.sync_count()
        net.fit(Xd, Yd, iterations=iterations, learning_rate=0.01, record_every=10)
        return backend.sync_count() - before

    # 2 iterations record 2 costs; 100 record 11 (0, 10, ..., 90 and 99): the
    # loop adds exactly one sync per recorded cost, none per step. (A first fit
    # first: JAX's inputs, which never change, are checked at the first only.)
    syncs(2)
    assert syncs(100) - syncs(2) == 11 - 2


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_dask_graphs_do_not_grow_with_the_steps(optimizer):
    """Each step's parameters and optimizer state are persisted, so the
    parameters' task graphs are as small after 30 steps as after 3 (without
    it they would hold every step since the first, through Adam's state too)."""
    da = pytest.importorskip("dask.array")
    X, Y = flower()
    sizes = []
    for iterations in (3, 30):
        net = nn.Network([2, 3, 1], backend="dask", dtype="float64")
        net.fit(da.from_array(X), da.from_array(Y), iterations=iterations,
                learning_rate=0.01, optimizer=optimizer, record_every=iterations)
        sizes.append([len(p.__dask_graph__()) for p in net.parameters.values()])
    assert sizes[0] == sizes[1] == [1, 1, 1, 1]


def test_jax_inputs_are_checked_once_and_new_ones_again(monkeypatch):
    jnp = pytest.importorskip("jax.numpy")
    from nnarray import inputs

    X, Y = flower()
    net = nn.Network([2, 3, 1], backend="jax", device="cpu", dtype="float32")
    Xj, Yj = (nn.backend.resolve("jax", "cpu").asarray(a, "float32") for a in (X, Y))
    real, programs = inputs._value_checks, []

    def counted(*args):
        check = real(*args)
        return lambda *a: (programs.append(1), check(*a))[1]

    monkeypatch.setattr(inputs, "_value_checks", counted)
    for _ in range(3):
        net.fit(Xj, Yj, iterations=3, progress=False)
    assert len(programs) == 1  # JAX arrays never change: one check for the three fits
    bad = Xj.at[0, 0].set(jnp.nan)
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        net.fit(bad, Yj, iterations=3, progress=False)
    assert len(programs) == 2
    net.fit(Xj, Yj.copy(), iterations=3, progress=False)  # another Y: checked again
    assert len(programs) == 3
    X[0, 0] = np.nan  # NumPy arrays change in place: checked at every call
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        nn.Network([2, 3, 1]).fit(X, Y, iterations=3, progress=False)


@pytest.mark.parametrize("backend_name", ["numpy", "torch", "array_api_strict"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", [{}, {"decay_rate": 0.3},
                                {"optimizer": "adam", "dropout": {1: 0.8}, "l2": 0.1}],
                         ids=["gd", "decay", "adam-dropout-l2"])
def test_steps_between_record_points_give_the_bits_of_recorded_steps(backend_name, dtype, kw):
    """Between record points the loop hands the rate and m to the step as 0-d
    arrays (NumPy divides small arrays by those faster than by Python
    numbers): the same quotients and products, bit for bit."""
    pytest.importorskip(backend_name)
    X, Y = flower()
    runs = []
    for record_every in (1, 12):  # every step a record point; one, then eleven between
        net = nn.Network([2, 4, 1], hidden="tanh", backend=backend_name, dtype=dtype, seed=3)
        net.fit(X, Y, iterations=12, learning_rate=0.05 if kw else 0.7,
                record_every=record_every, progress=False, **kw)
        runs.append({k: backend.to_numpy(v) for k, v in net.parameters.items()})
    for k in runs[0]:
        np.testing.assert_array_equal(runs[0][k], runs[1][k])


@pytest.mark.parametrize("record_every", [1, 10**6])
def test_a_long_run_takes_no_memory_in_proportion_to_its_iterations(record_every):
    """A million iterations (record points every step, or none between the
    first and the last) start training at once: the record points and the
    rates are computed as read, not listed up front (that took 99 and 24 MB)."""
    import tracemalloc

    X, Y = nn.datasets.planar_flower(m=50)
    net = nn.Network([2, 4, 1], seed=1)
    net.fit(X, Y, iterations=2, progress=False)  # caches and compiled code warm

    class Stop(Exception):
        pass

    def stop(i):
        if i == 3:
            raise Stop

    tracemalloc.start()
    try:
        with pytest.raises(Stop):
            net.fit(X, Y, iterations=10**6, record_every=record_every, learning_rate=0.1,
                    progress=False, on_iteration=stop)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20, f"{peak / 2**20:.1f} MiB allocated before step 3"
    assert net.history.iterations == ([0, 1, 2, 3] if record_every == 1 else [0])


def test_record_points_are_the_multiples_of_record_every_then_the_last_iteration():
    from nnarray.train import RecordPoints

    for start, iterations, every in itertools.product(range(12), range(14), range(1, 6)):
        listed = sorted({*range(0, iterations, every), iterations - 1} - {-1})
        listed = [i for i in listed if i >= start]
        points = RecordPoints(start, iterations, every)
        assert list(points) == listed and len(points) == len(listed)
        assert [points[-k] for k in range(1, len(listed) + 1)] == listed[::-1]
        with pytest.raises(IndexError):
            points[len(listed)]
    far = RecordPoints(5, 10**15, 7)
    assert (far[-2], far[-1], len(far)) == (10**15 - 6, 10**15 - 1, len(range(7, 10**15, 7)) + 1)


def test_rates_are_each_iterations_decayed_rate_computed_as_read():
    from nnarray.step import Settings

    s = Settings("relu", "sigmoid", 0.5, decay_rate=0.25)
    rates = s.rates(3, 10)
    assert list(rates) == [s.rate(t) for t in range(3, 10)] and len(rates) == 7
    assert list(rates[2:5]) == [s.rate(t) for t in range(5, 8)] and rates[-1] == s.rate(9)
    assert not rates.constant and rates[:1].constant
    flat = Settings("relu", "sigmoid", 0.5).rates(0, 10**12)
    assert flat.constant and len(flat) == 10**12 and flat[10**12 - 1] == 0.5
