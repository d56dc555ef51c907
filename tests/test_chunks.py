"""Compiled chunks: the steps between two record points (or an epoch's full
batches) run as one unit and give what the step-by-step loop gives.

JAX compiles them (``jax.jit`` of ``lax.fori_loop``); PyTorch on CUDA
replays a CUDA graph. The graph executor's buffers and indexing are checked
here on the CPU with ``capture=False`` (the same code without the capture);
the capture itself runs in the GPU cases.
"""

from __future__ import annotations

import numpy as np
import pytest

import nnarray as nn
from nnarray import backend, optimizers
from nnarray import step as S
from nnarray.backend import precision
from nnarray.engines import jax_chunks, runner

RUNS = {
    "gd": dict(iterations=23, learning_rate=0.5, record_every=5),
    "adam-l2-decay": dict(iterations=23, learning_rate=0.02, record_every=5, optimizer="adam",
                          l2=0.3, decay_rate=0.1),
    "dropout-momentum": dict(iterations=23, learning_rate=0.1, record_every=7,
                             optimizer="momentum", dropout={1: 0.8, 2: 0.6}),
    "minibatch-adam-dropout": dict(batch_size=32, epochs=3, learning_rate=0.01,
                                   optimizer="adam", dropout={1: 0.7}, l2=0.1),
    "minibatch-rmsprop-decay": dict(batch_size=25, epochs=2, learning_rate=0.01,
                                    optimizer="rmsprop", decay_rate=0.5),
    "minibatch-wider-than-m": dict(batch_size=150, epochs=3, learning_rate=0.05,
                                   optimizer="adam", dropout={2: 0.8}),
}


def _data(m: int = 110) -> tuple[np.ndarray, np.ndarray]:
    X, Y = nn.datasets.planar_flower(m=m, seed=3)
    return X, Y


def _fit(backend_name: str, dtype: str, per_step: bool, kw: dict, hidden: str = "relu",
         output: str = "sigmoid", device: str = "cpu") -> tuple[dict, nn.History]:
    X, Y = _data()
    net = nn.Network([2, 5, 4, 1], hidden=hidden, output=output, backend=backend_name,
                     device=device, dtype=dtype, seed=2)
    steps = []
    hist = net.fit(X, Y, progress=False, on_iteration=steps.append if per_step else None, **kw)
    if per_step:
        assert steps == list(range(len(steps))) and steps, "on_iteration saw every step"
    return {k: backend.to_numpy(v) for k, v in net.parameters.items()}, hist


def _assert_same(a: tuple[dict, nn.History], b: tuple[dict, nn.History], exact: bool) -> None:
    (pa, ha), (pb, hb) = a, b
    assert ha.iterations == hb.iterations and ha.epochs == hb.epochs
    if exact:  # one backend: a chunk runs the per-step loop's step function, k times
        assert ha.costs == hb.costs
        for k in pa:
            np.testing.assert_array_equal(pa[k], pb[k], err_msg=k)
    else:
        np.testing.assert_allclose(ha.costs, hb.costs, rtol=2e-5, atol=2e-6)
        for k in pa:
            np.testing.assert_allclose(pa[k], pb[k], rtol=2e-4, atol=2e-6, err_msg=k)


@pytest.fixture
def torch_graphs_on_cpu(monkeypatch):
    """The CUDA-graph executor on CPU tensors, without the capture."""
    pytest.importorskip("torch")
    real = runner.chunks_enabled
    monkeypatch.setattr(runner, "chunks_enabled",
                        lambda b, d: real(b, d) or (b == "torch" and runner.jit_enabled()))
    runner._chunks.cache_clear()
    yield
    runner._chunks.cache_clear()


def _chunked_backends() -> list:
    cases = [pytest.param("jax", "cpu", id="jax")]
    cases.append(pytest.param("torch", "cpu", id="torch-graph-buffers"))
    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    cases.append(pytest.param("torch", "cuda:0", id="torch-cuda-graph", marks=[
        pytest.mark.gpu,
        pytest.mark.skipif(not cuda, reason="torch has no CUDA device")]))
    return cases


@pytest.mark.parametrize("name", sorted(RUNS))
@pytest.mark.parametrize(("backend_name", "device"), _chunked_backends())
def test_chunks_give_the_bits_of_the_per_step_loop(backend_name, device, name, request):
    pytest.importorskip(backend_name)
    if device == "cpu" and backend_name == "torch":
        request.getfixturevalue("torch_graphs_on_cpu")
    kw = RUNS[name]
    chunked = _fit(backend_name, "float64", False, kw, device=device)
    per_step = _fit(backend_name, "float64", True, kw, device=device)
    _assert_same(chunked, per_step, exact=True)
    # and the chunk path was taken: the NumPy float64 run agrees only to rounding
    reference = _fit("numpy", "float64", True, kw)
    _assert_same(chunked, reference, exact=False)


@pytest.mark.parametrize("name", ["adam-l2-decay", "minibatch-adam-dropout"])
def test_float32_chunks_agree_within_rounding(name):
    pytest.importorskip("jax")
    kw = RUNS[name]
    _assert_same(_fit("jax", "float32", False, kw), _fit("numpy", "float64", True, kw),
                 exact=False)


@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "leaky_relu"])
@pytest.mark.parametrize("output", ["softmax", "linear"])
def test_every_activation_and_head_chunks_alike(hidden, output):
    pytest.importorskip("jax")
    kw = dict(iterations=12, learning_rate=0.05, record_every=5, optimizer="adam")
    X, Y = _data()
    if output == "softmax":
        Y = np.concatenate([Y, 1 - Y])
    runs = []
    for per_step in (False, True):
        net = nn.Network([2, 5, Y.shape[0]], hidden=hidden, output=output, backend="jax",
                         dtype="float64", seed=4)
        hist = net.fit(X, Y, progress=False,
                       on_iteration=(lambda i: None) if per_step else None, **kw)
        runs.append(({k: backend.to_numpy(v) for k, v in net.parameters.items()}, hist))
    _assert_same(*runs, exact=True)


def test_masks_over_the_cap_split_the_chunk(monkeypatch):
    pytest.importorskip("jax")
    kw = RUNS["dropout-momentum"]
    whole = _fit("jax", "float64", False, kw)
    calls = []
    monkeypatch.setattr(runner, "MASK_BYTES", 3 * (5 + 4) * 110 * 8)  # 3 steps of masks
    real = jax_chunks.JaxChunks.full_batch

    def counted(self, *args, **kwargs):
        calls.append(args[7])  # k
        return real(self, *args, **kwargs)

    monkeypatch.setattr(jax_chunks.JaxChunks, "full_batch", counted)
    split = _fit("jax", "float64", False, kw)
    assert max(calls) == 3 and sum(calls) == kw["iterations"]
    _assert_same(split, whole, exact=True)


def test_a_long_stretch_between_record_points_runs_as_chunks_of_at_most_max_steps(monkeypatch):
    """A chunk's per-step vectors are at most ``MAX_STEPS`` long, however far
    apart the record points: ``record_every=10**9`` splits the stretch, with
    the bits of one chunk, and takes no memory in proportion to it."""
    pytest.importorskip("jax")
    kw = dict(RUNS["adam-l2-decay"], record_every=23)
    whole = _fit("jax", "float64", False, kw)
    calls = []
    monkeypatch.setattr(runner, "MAX_STEPS", 4)
    real = jax_chunks.JaxChunks.full_batch

    def counted(self, *args, **kwargs):
        calls.append((args[7], len(backend.to_numpy(args[5]))))  # k, the rates' length
        return real(self, *args, **kwargs)

    monkeypatch.setattr(jax_chunks.JaxChunks, "full_batch", counted)
    split = _fit("jax", "float64", False, dict(kw, record_every=10**9))
    assert max(k for k, _ in calls) == 4 and {n for _, n in calls} == {4}
    assert sum(k for k, _ in calls) == kw["iterations"]
    _assert_same(split, whole, exact=True)


@pytest.mark.parametrize(("backend_name", "device"), _chunked_backends()[:2])
def test_divergence_inside_a_chunk_replays_and_keeps_the_last_finite_step(
        backend_name, device, request):
    pytest.importorskip(backend_name)
    if backend_name == "torch":
        request.getfixturevalue("torch_graphs_on_cpu")
    X, Y = _data()
    outcomes = []
    for per_step in (False, True):
        net = nn.Network([2, 5, 1], hidden="relu", output="linear", backend=backend_name,
                         dtype="float64", seed=1)
        with pytest.raises(nn.DivergenceError) as info:
            net.fit(X, Y * 10, iterations=60, learning_rate=2.0, record_every=4,
                    progress=False, on_iteration=(lambda i: None) if per_step else None)
        params = {k: backend.to_numpy(v) for k, v in net.parameters.items()}
        assert all(np.isfinite(v).all() for v in params.values())
        outcomes.append((info.value.iteration, params, net.history.costs))
    (i_chunk, p_chunk, c_chunk), (i_step, p_step, c_step) = outcomes
    assert i_chunk == i_step and i_chunk % 4 != 0  # found inside a chunk, not at its start
    assert c_chunk == c_step
    for k in p_chunk:
        np.testing.assert_array_equal(p_chunk[k], p_step[k])


def test_ctrl_c_between_chunks_keeps_the_last_finished_chunk(monkeypatch):
    pytest.importorskip("jax")
    kw = dict(iterations=30, learning_rate=0.5, record_every=5)
    real = jax_chunks.JaxChunks.full_batch
    calls = []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(jax_chunks.JaxChunks, "full_batch", interrupted)
    X, Y = _data()
    net = nn.Network([2, 5, 4, 1], backend="jax", dtype="float64", seed=2)
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, Y, progress=False, **kw)
    assert net.history.iterations == [0, 5]
    monkeypatch.setattr(jax_chunks.JaxChunks, "full_batch", real)
    expected, _ = _fit("jax", "float64", True, dict(kw, iterations=10))
    for k in expected:
        np.testing.assert_array_equal(backend.to_numpy(net.parameters[k]), expected[k])


def test_the_users_arrays_stay_usable_after_fit():
    jnp = pytest.importorskip("jax.numpy")
    X, Y = _data()
    init = nn.init.initialize_parameters([2, 5, 1], method="he", seed=1, backend="jax",
                                         dtype="float64")
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)
    net = nn.Network([2, 5, 1], init=init, backend="jax", dtype="float64")
    before = net.parameters
    net.fit(Xj, Yj, iterations=12, record_every=5, learning_rate=0.1, progress=False)
    net.fit(Xj, Yj, learning_rate=0.1, progress=False, optimizer="adam", batch_size=32,
            epochs=1)
    for arrays in (init, before, {"X": Xj, "Y": Yj}):
        for v in arrays.values():
            assert not v.is_deleted()
            assert np.isfinite(np.asarray(v)).all()
    assert not np.array_equal(np.asarray(before["W1"]), np.asarray(net.parameters["W1"]))


def _dot_precisions(jaxpr) -> list:
    return [e.params["precision"] for p in _programs(jaxpr) for e in p.eqns
            if e.primitive.name == "dot_general"]


@pytest.mark.parametrize(("optimizer", "precision", "expected"), [
    ("gd", None, "HIGHEST"), ("adam", None, "HIGHEST"), ("adam", "tf32", "HIGH")])
def test_compiled_chunks_use_the_highest_float32_precision(optimizer, precision, expected):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    X, Y = _data()
    params = nn.init.initialize_parameters([2, 5, 4, 1], method="he", seed=1, backend="jax",
                                           dtype="float32")
    opt = optimizers.get(optimizer)
    raw = S.raw_step("relu", "sigmoid", opt, 0.0, jnp)
    JaxChunks = jax_chunks.JaxChunks
    chunks = JaxChunks(raw) if precision is None else JaxChunks(raw, precision)
    arrays = optimizers.opt_arrays(opt.init(params))
    rates = jnp.full((4,), 0.1, dtype=jnp.float32)
    hypers = {n: jnp.full((4,), v, dtype=jnp.float32) for n, v in opt.hyper(1).items()}
    args = (params, arrays, jnp.asarray(X, dtype=jnp.float32),
            jnp.asarray(Y, dtype=jnp.float32), None, rates, hypers, 3, True)
    jaxpr = jax.make_jaxpr(lambda *a: chunks.full_batch(*a[:-1], want=a[-1]),
                           static_argnums=(8,))(*args)
    precisions = _dot_precisions(jaxpr.jaxpr)
    assert len(precisions) >= 5  # W A forward, dZ Aᵀ and Wᵀ dZ backward, per layer
    want = getattr(jax.lax.Precision, expected)  # "tf32" is JAX's tensorfloat32 = HIGH
    assert all(p == (want, want) for p in precisions), precisions


def _programs(jaxpr) -> list:
    """Every jaxpr inside ``jaxpr`` (cond branches, loop bodies), and itself."""
    found = [jaxpr]
    for eqn in jaxpr.eqns:
        for value in eqn.params.values():
            for sub in value if isinstance(value, tuple | list) else [value]:
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    found += _programs(inner)
    return found


def _uses(jaxpr, names: set) -> set:
    return {e.primitive.name for p in _programs(jaxpr) for e in p.eqns} & names


@pytest.mark.parametrize("last", [False, True])
def test_a_chunks_costs_come_from_the_steps_own_forward_pass(last):
    """The record points' costs (the first step's, and the last's when asked)
    add no forward pass: each of the chunk's three step programs (its first
    step, the loop's body, its last step) has the step's 3L − 1 matrix
    products (L forward, L dW and L − 1 dA), not one more forward per cost;
    and the loop's body computes no cost."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    X, Y = _data()
    dims = [2, 5, 4, 1]
    params = nn.init.initialize_parameters(dims, method="he", seed=1, backend="jax",
                                           dtype="float32")
    raw = S.raw_step("relu", "sigmoid", optimizers.get("gd"), 0.0, jnp)
    chunks = jax_chunks.JaxChunks(raw)
    place = backend.target_of(params["W1"])  # where the parameters are, not JAX's default
    rates = place.asarray(np.full(4, 0.1), "float32")
    args = (params, {}, place.asarray(X, "float32"), place.asarray(Y, "float32"), None, rates,
            {}, 3, True)
    jaxpr = jax.make_jaxpr(lambda *a: chunks.full_batch(*a, last=last), static_argnums=(7, 8))
    L = len(dims) - 1
    traced = jaxpr(*args).jaxpr
    programs = _programs(traced)
    products = [n for p in programs
                if (n := sum(e.primitive.name == "dot_general" for e in p.eqns))]
    assert products == [3 * L - 1] * 3
    loops = [e for p in programs for e in p.eqns if e.primitive.name == "while"]
    assert len(loops) == 1
    costs = {"log", "log1p"}  # the cost's softplus
    assert not _uses(loops[0].params["body_jaxpr"].jaxpr, costs)
    assert _uses(traced, costs)  # the check can fail
    # the costs are those of the chunk's first and last steps: chunks of one
    # (the per-step path) give the same bits
    out = chunks.full_batch(*args, last=last)
    costs = [float(J) for J in (out[2] if last else (out[2],))]
    p, expected = params, []
    for _ in range(3):
        p, _, J = chunks.full_batch(p, {}, *args[2:6], {}, 1, True)
        expected.append(float(J))
    assert costs == ([expected[0], expected[2]] if last else [expected[0]])


@pytest.mark.parametrize("name", ["linear_forward", "linear_activation_forward",
                                  "model_forward", "linear_backward",
                                  "linear_activation_backward", "model_backward"])
def test_the_functional_api_uses_the_highest_float32_precision(name):
    jax = pytest.importorskip("jax")
    from nnarray import propagation as P

    jnp = jax.numpy
    X, Y = _data()
    X, Y = jnp.asarray(X, dtype=jnp.float32), jnp.asarray(Y, dtype=jnp.float32)
    # where X is: JAX's default device, a GPU where JAX has one (nnarray's default is the CPU)
    params = nn.init.initialize_parameters([2, 5, 1], method="he", seed=1, backend="jax",
                                           device=backend.target_of(X).device, dtype="float32")
    W, b = params["W1"], params["b1"]
    AL, caches = P.model_forward(X, params, "relu", "sigmoid")
    Z1, lin = P.linear_forward(X, W, b)
    calls = {
        "linear_forward": lambda: P.linear_forward(X, W, b),
        "linear_activation_forward": lambda: P.linear_activation_forward(X, W, b, "relu"),
        "model_forward": lambda: P.model_forward(X, params, "relu", "sigmoid"),
        "linear_backward": lambda: P.linear_backward(Z1, lin),
        "linear_activation_backward": lambda: P.linear_activation_backward(
            Z1, (lin, Z1), "relu"),
        "model_backward": lambda: P.model_backward(AL, Y, caches, "relu", "sigmoid"),
    }
    precisions = _dot_precisions(jax.make_jaxpr(calls[name])().jaxpr)
    assert precisions
    want = jax.lax.Precision.HIGHEST
    assert all(p == (want, want) for p in precisions), precisions
    # the training loop passes xp= and sets the precision itself, per chunk
    bare = _dot_precisions(jax.make_jaxpr(lambda: P.linear_forward(X, W, b, xp=jnp))().jaxpr)
    assert bare == [None]


def test_the_check_of_precision_can_fail():
    jax = pytest.importorskip("jax")
    jaxpr = jax.make_jaxpr(lambda a: a @ a)(jax.numpy.ones((2, 2), dtype=jax.numpy.float32))
    assert _dot_precisions(jaxpr.jaxpr) == [None]


def test_where_chunks_run():
    assert runner.chunks_enabled("jax", "cpu") is True
    assert runner.chunks_enabled("torch", "cuda:0") is True
    # cupy on CUDA: with nvmath-python (tests/test_cupy_graphs.py)
    for name, dev in [("numpy", "cpu"), ("torch", "cpu"), ("cupy", "cpu"), ("dask", "cpu"),
                      ("array_api_strict", "cpu")]:
        assert runner.chunks_enabled(name, dev) is False


def test_matmul_precision_is_checked():
    assert precision.check_matmul_precision("tf32") == "tf32"
    with pytest.raises(ValueError, match="matmul_precision must be one of"):
        precision.check_matmul_precision("fast")


def test_the_last_record_point_comes_from_the_chunk_before_it(monkeypatch):
    pytest.importorskip("jax")
    kw = RUNS["gd"]  # record points 0, 5, 10, 15, 20 and 22: five chunks, not six
    real = jax_chunks.JaxChunks.full_batch
    steps = []

    def counted(self, *args, **kwargs):
        steps.append(args[7])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(jax_chunks.JaxChunks, "full_batch", counted)
    chunked = _fit("jax", "float64", False, kw)
    assert steps == [5, 5, 5, 5, 3]
    assert chunked[1].iterations == [0, 5, 10, 15, 20, 22]
    monkeypatch.setattr(jax_chunks.JaxChunks, "full_batch", real)
    _assert_same(chunked, _fit("jax", "float64", True, kw), exact=True)


def _diverging(iterations: int, record_every: int, per_step: bool) -> tuple[int, dict]:
    X, Y = _data()
    net = nn.Network([2, 5, 1], hidden="relu", output="linear", backend="jax",
                     dtype="float64", seed=1)
    with pytest.raises(nn.DivergenceError) as info:
        net.fit(X, Y * 10, iterations=iterations, learning_rate=2.0,
                record_every=record_every, progress=False,
                on_iteration=(lambda i: None) if per_step else None)
    return info.value.iteration, {k: backend.to_numpy(v) for k, v in net.parameters.items()}


def test_a_non_finite_last_cost_of_the_tail_replays_to_it():
    pytest.importorskip("jax")
    d, _ = _diverging(60, 4, per_step=True)  # the first non-finite cost
    assert d > 3
    # record points 0, d - 1 and d: the cost at d comes from the chunk of d - 1
    (i_chunk, p_chunk), (i_step, p_step) = (_diverging(d + 1, d - 1, s) for s in (False, True))
    assert i_chunk == i_step == d
    for k in p_chunk:
        np.testing.assert_array_equal(p_chunk[k], p_step[k])


def test_parameters_non_finite_at_the_end_go_back_to_the_last_record_point(monkeypatch):
    pytest.importorskip("jax")
    from nnarray import train

    monkeypatch.setattr(train, "all_finite", lambda parameters: False)  # at the end
    X, Y = _data()
    kept = []
    for per_step in (False, True):
        net = nn.Network([2, 5, 1], backend="jax", dtype="float64", seed=1)
        with pytest.raises(nn.DivergenceError):
            net.fit(X, Y, iterations=23, learning_rate=0.5, record_every=5, progress=False,
                    on_iteration=(lambda i: None) if per_step else None)
        kept.append({k: backend.to_numpy(v) for k, v in net.parameters.items()})
    monkeypatch.undo()
    at_22, _ = _fit_small(22)
    for k in at_22:
        np.testing.assert_array_equal(kept[0][k], kept[1][k])
        np.testing.assert_array_equal(kept[0][k], at_22[k])


def _fit_small(iterations: int) -> tuple[dict, nn.History]:
    X, Y = _data()
    net = nn.Network([2, 5, 1], backend="jax", dtype="float64", seed=1)
    hist = net.fit(X, Y, iterations=iterations, learning_rate=0.5, record_every=5,
                   progress=False, on_iteration=lambda i: None)
    return {k: backend.to_numpy(v) for k, v in net.parameters.items()}, hist


def test_an_epochs_partial_batch_is_a_graph_of_its_own_kept_beside_the_full_batches(
        torch_graphs_on_cpu, monkeypatch):
    """Every batch of a chunked epoch runs in a graph, the partial one too (one
    launch on a GPU, not an eager step's ~90): two graphs a fit, captured once
    and kept side by side across epochs."""
    from nnarray.engines import torch_graphs

    made, eager = [], []
    real_new, real_step = torch_graphs._Graph.__init__, runner.Runner.step

    def new(self, *args, **kwargs):
        made.append(tuple(args[4][0].shape))  # the stacked batches: (k, n, batch)
        real_new(self, *args, **kwargs)

    def step(self, *args, **kwargs):
        eager.append(args[2].shape)
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch_graphs._Graph, "__init__", new)
    monkeypatch.setattr(runner.Runner, "step", step)
    _fit("torch", "float64", False, dict(RUNS["minibatch-adam-dropout"], epochs=4))
    assert made == [(3, 2, 32), (1, 2, 14)] and not eager  # m = 110: 3 × 32 + 14


@pytest.mark.parametrize("backend_name", ["numpy", "jax"])
def test_an_epochs_batches_are_its_shuffled_columns(backend_name):
    """The chunked mini-batch loop takes an epoch's batches from one program
    (compiled on JAX): batch j is columns order[j·b : (j+1)·b], then the rest
    as a stack of one batch."""
    if backend_name == "jax":
        pytest.importorskip("jax")
    from nnarray import train

    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((3, 11)), rng.standard_normal((2, 11))
    order = rng.permutation(11)
    target = backend.resolve(backend_name, "cpu")
    Xb, Yb, Xr, Yr = train._shuffled(backend_name)(
        target.asarray(X, "float64"), target.asarray(Y, "float64"), target.put(order),
        full=2, batch_size=4)
    for stacked, rest, A in ((Xb, Xr, X), (Yb, Yr, Y)):
        stacked, rest = backend.to_numpy(stacked), backend.to_numpy(rest)
        assert stacked.shape == (2, A.shape[0], 4)
        for j in range(2):
            np.testing.assert_array_equal(stacked[j], A[:, order[4 * j:4 * j + 4]])
        np.testing.assert_array_equal(rest, A[None, :, order[8:]])


def test_graph_engines_keep_three_graphs_and_let_the_oldest_go():
    """A full batch's graph and an epoch's two batch widths stay side by side;
    a fourth kind lets the oldest go, and a kind whose shapes change is remade."""
    from nnarray.engines.chunks import GraphChunks

    class Made(GraphChunks):
        def _new(self, *args):
            return object()

    engine = Made(raw=None)
    full, wide, partial = (engine._graph(k, "shapes") for k in ("full", "batches of 32",
                                                                  "batches of 14"))
    assert engine._graph("full", "shapes") is full  # kept: no capture again
    assert engine._graph("batches of 14", "shapes") is partial
    engine._graph("batches of 25", "shapes")  # a fourth: the oldest, full's, goes
    assert list(engine._graphs) == ["batches of 32", "batches of 14", "batches of 25"]
    assert engine._graph("batches of 32", "other shapes") is not wide
    assert len(engine._graphs) == GraphChunks.KEPT == 3
