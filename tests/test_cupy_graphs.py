"""CuPy's CUDA-graph chunks and the products through cuBLAS's API.

The graph engine's logic (static buffers, copies back, per-step values read
at a device step counter, one graph for every chunk) runs here on the CPU
over NumPy (``cupy_graphs.NumpyDevice``: its capture keeps the step as a
closure that each replay runs again on the same buffers) and must give the
bits of the per-step loop; planted stale-buffer bugs must make it fail. The
gemm's layout logic (strides -> transpose flags and leading dimensions) is
checked by running its plan with column-major semantics in NumPy. The
capture itself, cuBLAS and CuPy run in the GPU cases.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import types
import warnings
from typing import ClassVar

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

import nnarray as nn
from nnarray import backend, optimizers
from nnarray.engines import cupy_graphs, gemm, runner
from nnarray.engines.cupy_graphs import CupyGraphChunks, NumpyDevice
from nnarray.optimizers import opt_arrays
from nnarray.step import raw_step

# ---------------------------------------------------------------- the graph engine


def _problem(output: str, m: int = 60, seed: int = 5):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((3, m))
    n_y = 2 if output == "softmax" else 1
    if output == "softmax":
        Y = np.zeros((2, m))
        Y[(rng.random(m) > 0.5).astype(int), np.arange(m)] = 1.0
    elif output == "linear":
        Y = rng.standard_normal((1, m))
    else:
        Y = (rng.random((1, m)) > 0.5).astype(np.float64)
    net = nn.Network([3, 5, 4, n_y], hidden="tanh", output=output, dtype="float64",
                     init="xavier", seed=3)
    return X, Y, {k: backend.to_numpy(v) for k, v in net.parameters.items()}


CASES = {
    "gd": dict(optimizer="gd", l2=0.0, dropout=None),
    "gd-l2-dropout": dict(optimizer="gd", l2=0.2, dropout={1: 0.8, 2: 0.6}),
    "adam": dict(optimizer="adam", l2=0.0, dropout=None),
    "adam-l2-dropout": dict(optimizer="adam", l2=0.1, dropout={1: 0.7}),
}
DIMS = {1: 5, 2: 4}


def _values(case: dict, k: int, capacity: int, t: int, m: int, seed: int):
    """Per-step values of a chunk, stacked to ``capacity``: rates that
    change every step, the optimizer's hyper values, dropout masks."""
    rng = np.random.default_rng(seed)
    opt = optimizers.get(case["optimizer"])
    rates = np.zeros(capacity)
    rates[:k] = 0.05 * (1.0 + 0.1 * np.arange(k))
    hyper = [opt.hyper(t + 1 + j) for j in range(k)]
    hypers = {}
    for n in hyper[0] if hyper else ():
        v = np.zeros(capacity)
        v[:k] = [h[n] for h in hyper]
        hypers[n] = v
    masks = None
    if case["dropout"]:
        masks = {}
        for l, keep in case["dropout"].items():
            M = np.zeros((capacity, DIMS[l], m))
            M[:k] = (rng.random((k, DIMS[l], m)) < keep) / keep
            masks[l] = M
    return rates, hypers, masks


def _row(stacked, j):
    return None if stacked is None else {n: v[j] for n, v in stacked.items()}


def _start(case: dict, output: str, device: NumpyDevice):
    """The problem, the loop's step, the graph engine over ``device``, and
    the same start (parameters, optimizer arrays) for the graph and the
    per-step runs."""
    X, Y, params = _problem(output)
    opt = optimizers.get(case["optimizer"])
    raw = raw_step("tanh", output, opt, case["l2"], np)
    graph, steps = ((dict(params), opt_arrays(opt.init(params))) for _ in range(2))
    return X, Y, raw, CupyGraphChunks(raw, device), graph, steps


def _full_batch(case: dict, output: str, device: NumpyDevice):
    """Two chunks (7 steps, then a remainder of 4) through the graph and
    through the per-step loop: (params, costs, optimizer state) of each."""
    X, Y, raw, engine, (p_g, o_g), (p_s, o_s) = _start(case, output, device)
    costs_g, costs_s, t = [], [], 0
    for n, seed in ((7, 1), (4, 2)):
        rates, hypers, masks = _values(case, n, 9, t, X.shape[1], seed)
        p_g, o_g, J = engine.full_batch(p_g, o_g, X, Y, masks, rates, hypers, n, True)
        costs_g.append(float(J))
        for j in range(n):
            p_s, J_s, o_s = raw(p_s, o_s, X, Y, _row(masks, j), rates[j], _row(hypers, j), True)
            if j == 0:
                costs_s.append(float(J_s))
        t += n
    return (p_g, costs_g, o_g), (p_s, costs_s, o_s)


def _mini_batches(case: dict, output: str, device: NumpyDevice):
    """Two epochs of 5 batches, in chunks of 3 and 2 steps, through the
    graph and through the per-step loop."""
    X, Y, raw, engine, (p_g, o_g), (p_s, o_s) = _start(case, output, device)
    costs_g, costs_s, t, weight = [], [], 0, 0.2
    for epoch in range(2):
        order = np.random.default_rng(epoch).permutation(X.shape[1])
        Xb = np.stack(np.split(X[:, order], 5, axis=1))
        Yb = np.stack(np.split(Y[:, order], 5, axis=1))
        total_g, total_s = None, 0.0
        for offset, n in ((0, 3), (3, 2)):
            rates, hypers, masks = _values(case, n, 3, t, Xb.shape[2], 10 * epoch + offset)
            p_g, o_g, total_g = engine.mini_batch(p_g, o_g, Xb, Yb, masks, rates, hypers,
                                                  offset, n, weight, total_g)
            for j in range(n):
                p_s, J, o_s = raw(p_s, o_s, Xb[offset + j], Yb[offset + j], _row(masks, j),
                                  rates[j], _row(hypers, j), True)
                total_s = total_s + J * weight
            t += n
        costs_g.append(float(total_g))
        costs_s.append(float(total_s))
    return (p_g, costs_g, o_g), (p_s, costs_s, o_s)


def _flat(tree, name=""):
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in _flat(sub, f"{name}{key}.").items()}
    return {name: tree}


def _differences(graph, per_step) -> list[str]:
    """What differs, bit for bit, between the two runs."""
    (pg, cg, og), (ps, cs, os_) = graph, per_step
    wrong = [k for k in ps if not np.array_equal(pg[k], ps[k])]
    og, os_ = _flat(og), _flat(os_)
    assert og.keys() == os_.keys()
    wrong += [f"opt {k}" for k in os_ if not np.array_equal(og[k], os_[k])]
    if cg != cs:
        wrong.append("costs")
    return wrong


RUNS = {"full": _full_batch, "batches": _mini_batches}


@pytest.mark.parametrize("output", ["sigmoid", "softmax", "linear"])
@pytest.mark.parametrize("setting", sorted(CASES))
@pytest.mark.parametrize("kind", sorted(RUNS))
def test_replay_gives_the_bits_of_the_per_step_loop(kind, setting, output):
    device = NumpyDevice()
    graph, per_step = RUNS[kind](CASES[setting], output, device)
    assert _differences(graph, per_step) == []
    assert any(not np.array_equal(graph[0][k], _problem(output)[2][k]) for k in graph[0])


class _SkipsCopyBack(NumpyDevice):
    """Planted bug: a replay leaves one parameter (W1) out of its static buffer."""

    def capture(self, body):
        replay = super().capture(body)

        def counted() -> None:
            self.copies = 0
            replay()

        return counted

    def copy_into(self, static, value):
        if self.replaying:
            self.copies += 1
            if self.copies == 1:
                return
        super().copy_into(static, value)


class _CounterStuck(NumpyDevice):
    """Planted bug: the step counter is never advanced (every step reads row 0)."""

    def advance(self, counter):
        pass


class _OffByOne(NumpyDevice):
    """Planted bug: per-step values read one row late."""

    def at(self, stacked, index):
        return super().at(stacked, np.minimum(index + 1, stacked.shape[0] - 1))


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # Adam on padding rows
@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
@pytest.mark.parametrize("bug", [_SkipsCopyBack, _CounterStuck, _OffByOne])
@pytest.mark.parametrize("kind", sorted(RUNS))
@pytest.mark.parametrize("setting", ["gd", "adam-l2-dropout"])
def test_the_comparison_catches_stale_buffers(bug, kind, setting):
    graph, per_step = RUNS[kind](CASES[setting], "sigmoid", bug())
    assert _differences(graph, per_step) != []


@pytest.fixture
def numpy_graphs(monkeypatch):
    """The fit's chunks run by CupyGraphChunks over the NumPy stand-in."""
    made: list[NumpyDevice] = []

    class Counting(NumpyDevice):
        captures = replays = 0

        def capture(self, body):
            Counting.captures += 1
            replay = super().capture(body)

            def counted() -> None:
                Counting.replays += 1
                replay()

            return counted

    def chunks(raw, backend_name, device, jit, precision="highest"):
        if backend_name != "numpy":
            return None
        made.append(Counting())
        return CupyGraphChunks(raw, made[-1])

    monkeypatch.setattr(runner, "_chunks", chunks)
    return Counting


FITS = {
    "gd": dict(iterations=23, learning_rate=0.5, record_every=5),
    "adam-l2-decay": dict(iterations=23, learning_rate=0.02, record_every=5,
                          optimizer="adam", l2=0.3, decay_rate=0.1),
    "dropout-momentum": dict(iterations=23, learning_rate=0.1, record_every=7,
                             optimizer="momentum", dropout={1: 0.8, 2: 0.6}),
    "minibatch-adam-dropout": dict(batch_size=32, epochs=3, learning_rate=0.01,
                                   optimizer="adam", dropout={1: 0.7}, l2=0.1),
}


@pytest.mark.parametrize("name", sorted(FITS))
def test_a_fit_through_the_graph_engine_gives_the_per_step_bits(numpy_graphs, name):
    X, Y = nn.datasets.planar_flower(m=110, seed=3)
    runs = []
    for per_step in (False, True):
        net = nn.Network([2, 5, 4, 1], hidden="relu", backend="numpy", dtype="float64", seed=2)
        hist = net.fit(X, Y, progress=False,
                       on_iteration=(lambda i: None) if per_step else None, **FITS[name])
        runs.append(({k: backend.to_numpy(v) for k, v in net.parameters.items()}, hist))
        if not per_step:
            replays = numpy_graphs.replays
            assert replays > 0 and numpy_graphs.captures <= 2  # one graph per kind
    (pa, ha), (pb, hb) = runs
    assert numpy_graphs.replays == replays  # the per-step fit replayed nothing
    assert ha.iterations == hb.iterations and ha.costs == hb.costs
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k], err_msg=k)


def test_a_new_graph_for_new_shapes_and_the_old_one_dropped():
    X, Y, params = _problem("sigmoid")
    opt = optimizers.get("gd")
    engine = CupyGraphChunks(raw_step("tanh", "sigmoid", opt, 0.0, np), NumpyDevice())
    rates = np.full(4, 0.1)
    engine.full_batch(params, {}, X, Y, None, rates, {}, 4, True)
    first = engine._graphs["full"][1]
    engine.full_batch(params, {}, X, Y, None, rates, {}, 2, True)
    assert engine._graphs["full"][1] is first  # the remainder replays the same graph
    engine.full_batch(params, {}, X[:, :30], Y[:, :30], None, rates, {}, 2, True)
    assert engine._graphs["full"][1] is not first and len(engine._graphs) == 1


def _engines():
    """Both CUDA-graph engines, without a GPU: CuPy's over its NumPy stand-in,
    torch's on CPU tensors without the capture."""
    yield pytest.param(lambda raw: CupyGraphChunks(raw, NumpyDevice()), np, id="cupy-stand-in")

    def torch_engine(raw):
        from nnarray.engines.torch_graphs import TorchGraphChunks

        return TorchGraphChunks(raw, capture=False)

    yield pytest.param(torch_engine, "torch", id="torch-without-capture")


@pytest.mark.parametrize(("make", "library"), list(_engines()))
def test_a_full_batch_graph_replays_its_step_without_the_cost(make, library):
    """The cost of a chunk is its first step's: that step runs outside the
    graph with its cost, and the graph (captured once) has none; mini-batch
    graphs keep every step's cost (the epoch's sum)."""
    if library == "torch":
        torch = pytest.importorskip("torch")
        xp, put = backend.namespace(torch.zeros(1)), torch.as_tensor
    else:
        xp, put = np, np.asarray
    X, Y, params = _problem("sigmoid")
    X, Y, params = put(X), put(Y), {k: put(v) for k, v in params.items()}
    real = raw_step("tanh", "sigmoid", optimizers.get("gd"), 0.0, xp)
    wants: list[bool] = []

    def raw(*args):
        wants.append(args[7])
        return real(*args)

    engine = make(raw)
    for k in (5, 3):
        wants.clear()
        engine.full_batch(params, {}, X, Y, None, put(np.full(5, 0.1)), {}, k, True)
        steps = wants[-k:]  # a capture's warm-up calls come first
        assert steps == [True] + [False] * (k - 1) and not any(wants[:-k])
    Xb, Yb = put(np.stack([X[:, :30], X[:, 30:]])), put(np.stack([Y[:, :30], Y[:, 30:]]))
    wants.clear()
    engine.mini_batch(params, {}, Xb, Yb, None, put(np.full(2, 0.1)), {}, 0, 2, 0.5, None)
    assert wants and all(wants)


# ---------------------------------------------------------------- gemm's plan


def _operand(base: np.ndarray, offset: int, shape, strides_items) -> np.ndarray:
    """A view into ``base`` at ``offset`` elements with element strides."""
    item = base.itemsize
    return as_strided(base[offset:], shape=shape, strides=tuple(s * item for s in strides_items))


def _run_plan(A: np.ndarray, B: np.ndarray, p: gemm.Plan) -> np.ndarray:
    """``p`` executed with cuBLAS's column-major semantics on the operands'
    memory: cuBLAS's A is the product's B, its B the product's A."""
    item = A.itemsize

    def memory(X: np.ndarray, rows: int, cols: int, ld: int) -> np.ndarray:
        return as_strided(X, shape=(rows, cols), strides=(item, ld * item))

    opA = memory(B, p.m, p.k, p.lda) if p.opA == gemm.OP_N else memory(B, p.k, p.m, p.lda).T
    opB = memory(A, p.k, p.n, p.ldb) if p.opB == gemm.OP_N else memory(A, p.n, p.k, p.ldb).T
    flat = np.full(p.ldc * p.n, np.nan)
    as_strided(flat, shape=(p.m, p.n), strides=(item, p.ldc * item))[...] = opA @ opB
    return flat.reshape(p.n, p.ldc)[:, : p.m]


def _layouts(rows: int, cols: int):
    """(name, shape, element strides, elements needed) of one operand's layouts."""
    return [
        ("C", (rows, cols), (cols, 1)),
        ("F (a transposed view)", (rows, cols), (1, rows)),
        ("rows of a wider array", (rows, cols), (cols + 3, 1)),
        ("columns of a taller array", (rows, cols), (1, rows + 2)),
    ]


@pytest.mark.parametrize("dims", [(3, 4, 5), (1, 4, 5), (3, 1, 5), (3, 4, 1), (1, 1, 1),
                                  (6, 2, 1), (1, 7, 1)])
def test_the_plan_computes_the_row_major_product(dims):
    m, k, n = dims
    rng = np.random.default_rng(0)
    for la in _layouts(m, k):
        for lb in _layouts(k, n):
            base_a, base_b = rng.standard_normal(200), rng.standard_normal(200)
            A = _operand(base_a, 2, la[1], la[2])
            B = _operand(base_b, 1, lb[1], lb[2])
            p = gemm.plan(A.shape, A.strides, B.shape, B.strides, A.itemsize)
            assert p is not None, (la[0], lb[0])
            np.testing.assert_allclose(_run_plan(A, B, p), A @ B, rtol=1e-12, atol=1e-12,
                                       err_msg=f"{la[0]} @ {lb[0]}")


def test_a_transposed_view_is_a_flag_never_a_copy():
    W = np.arange(12.0).reshape(3, 4)
    dZ = np.ones((3, 5))
    p = gemm.plan(W.T.shape, W.T.strides, dZ.shape, dZ.strides, 8)  # Wᵀ dZ
    assert p is not None and (p.opA, p.opB) == (gemm.OP_N, gemm.OP_T)
    assert (p.m, p.n, p.k, p.lda, p.ldb, p.ldc) == (5, 4, 3, 5, 4, 5)
    A = np.ones((2, 5))
    p = gemm.plan(dZ.shape, dZ.strides, A.T.shape, A.T.strides, 8)  # dZ Aᵀ
    assert p is not None and (p.opA, p.opB) == (gemm.OP_T, gemm.OP_N)


def test_layouts_without_a_unit_stride_have_no_plan_and_shapes_are_checked():
    a = np.ones((4, 6))[:, ::2]
    assert gemm.plan(a.shape, a.strides, (3, 2), (16, 8), 8) is None
    with pytest.raises(ValueError, match=r"\(m, k\) @ \(k, n\).*\(2, 3\) and \(2, 3\)"):
        gemm.plan((2, 3), (24, 8), (2, 3), (24, 8), 8)


def test_the_training_step_computes_its_products_with_the_namespaces_matmul():
    """A namespace whose matmul runs gemm's plan: every product of a step
    goes through it (3L − 1 of them: no dA0), none needs a copy."""
    calls: list[tuple[str, str]] = []

    def planned(fallback):
        def matmul(A, B):
            p = gemm.plan(A.shape, A.strides, B.shape, B.strides, A.itemsize)
            assert p is not None, "an operand would be copied"
            calls.append((p.opA, p.opB))
            return np.ascontiguousarray(_run_plan(A, B, p))
        return matmul

    xp = gemm.with_matmul(np, planned)
    assert gemm.with_matmul(np, planned) is xp  # one object: it keys the loop's caches
    X, Y, params = _problem("sigmoid")
    opt = optimizers.get("adam")
    raw = raw_step("tanh", "sigmoid", opt, 0.1, xp)
    o = opt_arrays(opt.init(params))
    new, J, _ = raw(params, o, X, Y, None, 0.01, opt.hyper(1), True)
    assert len(calls) == 3 * 3 - 1
    assert (gemm.OP_T, gemm.OP_N) in calls and (gemm.OP_N, gemm.OP_T) in calls  # dW, dA
    ref, J_ref, _ = raw_step("tanh", "sigmoid", opt, 0.1, np)(params, o, X, Y, None, 0.01,
                                                             opt.hyper(1), True)
    np.testing.assert_allclose(float(J), float(J_ref), rtol=1e-13)
    for k in ref:
        np.testing.assert_allclose(new[k], ref[k], rtol=1e-12, atol=1e-14, err_msg=k)


# ---------------------------------------------------------------- wiring and words


NO_NVMATH = "nvmath-python is not installed, pip install 'nnarray[cuda13]'"


def test_describe_says_which_cupy_path_runs(monkeypatch):
    monkeypatch.delenv("NNARRAY_NO_JIT", raising=False)
    monkeypatch.delenv("NNARRAY_FUSE", raising=False)
    monkeypatch.setattr(gemm, "available", lambda: (True, ""))
    assert runner.chunks_enabled("cupy", "cuda:1") is True
    assert runner.chunks_enabled("cupy", "cpu") is False
    assert runner.describe("cupy", "cuda:0", 100) == "cuda:0 (cupy, CUDA graph, chunks of 100)"
    assert runner.describe("cupy", "cuda:0", 100, per_step=True) == "cuda:0 (cupy, step by step)"
    monkeypatch.setenv("NNARRAY_NO_JIT", "1")
    assert runner.chunks_enabled("cupy", "cuda:0") is False
    assert runner.describe("cupy", "cuda:0", 100) == "cuda:0 (cupy, step by step)"
    monkeypatch.delenv("NNARRAY_NO_JIT")
    monkeypatch.setattr(gemm, "available", lambda: (False, NO_NVMATH))
    assert runner.chunks_enabled("cupy", "cuda:0") is False
    assert runner.describe("cupy", "cuda:0", 100) == f"cuda:0 (cupy, step by step: {NO_NVMATH})"
    # the other backends' words are unchanged
    assert runner.describe("numpy", "cpu", 100) == "cpu (numpy, step by step)"
    assert runner.describe("torch", "cuda:0", 100) == "cuda:0 (torch, CUDA graph, chunks of 100)"
    assert runner.describe("jax", "cuda:0,cuda:1", 100) == (
        "cuda:0,cuda:1 (jax, compiled chunks of 100, data parallel over 2 devices)")


def test_available_names_what_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", types.ModuleType("cupy"))
    monkeypatch.setitem(sys.modules, "nvmath", None)
    assert gemm._loads.__wrapped__() == (False, NO_NVMATH)
    monkeypatch.setitem(sys.modules, "cupy", None)
    ok, why = gemm._loads.__wrapped__()
    assert not ok and why.startswith("CuPy is not installed")


def test_the_namespace_is_xp_itself_off_cupy_or_without_nvmath(monkeypatch):
    assert gemm.training_namespace(np) is np
    monkeypatch.setattr(gemm, "available", lambda: (False, NO_NVMATH))
    assert gemm.training_namespace(np, cupy=True) is np
    monkeypatch.setattr(gemm, "available", lambda: (True, ""))
    ns = gemm.training_namespace(np, cupy=True)
    assert ns is not np and ns is gemm.training_namespace(np, cupy=True)
    assert ns.sum is np.sum and ns.matmul is not np.matmul


class DynamicLibNotFoundError(Exception):
    """nvmath-python's own: libcublas not found at the bindings' first call."""


def _nvmath(monkeypatch, get_property) -> list[int]:
    """Stand-ins for CuPy and nvmath-python whose cuBLAS bindings import and
    call ``get_property`` at their first call; returns the calls."""
    calls: list[int] = []

    def called(kind):
        calls.append(kind)
        return get_property(kind)

    cublas = types.ModuleType("nvmath.bindings.cublas")
    cublas.get_property = called
    bindings = types.ModuleType("nvmath.bindings")
    bindings.cublas = cublas
    nvmath = types.ModuleType("nvmath")
    nvmath.bindings = bindings
    for name, module in (("cupy", types.ModuleType("cupy")), ("nvmath", nvmath),
                         ("nvmath.bindings", bindings), ("nvmath.bindings.cublas", cublas)):
        monkeypatch.setitem(sys.modules, name, module)
    return calls


@pytest.fixture
def fresh_gemm(monkeypatch):
    """gemm's process state (the load check, a failed start) as in a new process."""
    monkeypatch.setattr(gemm, "_failed", None)
    clear = gemm._loads.cache_clear
    clear()
    yield
    clear()


def test_cublas_that_does_not_load_turns_the_graph_path_off(monkeypatch, fresh_gemm):
    def missing(kind):
        raise DynamicLibNotFoundError("libcublas.so.13 not found")

    calls = _nvmath(monkeypatch, missing)
    why = ("nvmath-python's cuBLAS does not load (DynamicLibNotFoundError: libcublas.so.13 "
           "not found)")
    assert gemm.available() == (False, why)
    assert gemm.available() == (False, why) and calls == [0]  # checked once
    monkeypatch.delenv("NNARRAY_NO_JIT", raising=False)
    assert not runner.chunks_enabled("cupy", "cuda:0")
    assert runner.describe("cupy", "cuda:0", 100) == f"cuda:0 (cupy, step by step: {why})"
    assert gemm.training_namespace(np, cupy=True) is np  # CuPy's own matmul
    gemm._loads.cache_clear()
    _nvmath(monkeypatch, lambda kind: 13)
    assert gemm.available() == (True, "")


class _Refuses(importlib.abc.MetaPathFinder):
    """Importing ``nvmath`` raises ``error`` (not an ImportError)."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def find_spec(self, name, path=None, target=None):
        if name == "nvmath":
            raise self.error
        return None


def test_any_error_importing_nvmath_turns_the_graph_path_off(monkeypatch, fresh_gemm):
    monkeypatch.setitem(sys.modules, "cupy", types.ModuleType("cupy"))
    for name in ("nvmath", "nvmath.bindings", "nvmath.bindings.cublas"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setattr(sys, "meta_path",
                        [_Refuses(OSError("libnvrtc.so: bad ELF")), *sys.meta_path])
    assert gemm.available() == (False, "nvmath-python does not import (OSError: libnvrtc.so: "
                                       "bad ELF)")


class _OnDevice(np.ndarray):
    """A stand-in CuPy array: a NumPy array that knows the device it was
    allocated on and has CuPy's ``data.ptr`` and ``device.id``."""

    on = 0
    seen: ClassVar[dict[int, np.ndarray]] = {}

    @property
    def data(self):
        _OnDevice.seen[self.ctypes.data] = self
        return types.SimpleNamespace(ptr=self.ctypes.data)

    @property
    def device(self):
        return types.SimpleNamespace(id=self.on)


class _StandInCupy:
    """CuPy's calls that Gemm makes: devices entered as contexts, arrays
    allocated on the current one."""

    def __init__(self) -> None:
        self.current = 0
        outer = self

        class Device:
            def __init__(self, i: int) -> None:
                self.id = i

            def __enter__(self):
                self.before, outer.current = outer.current, self.id

            def __exit__(self, *exc):
                outer.current = self.before

        self.cuda = types.SimpleNamespace(Device=Device, get_current_stream=lambda: types.
                                          SimpleNamespace(ptr=7))

    def put(self, a: np.ndarray) -> _OnDevice:
        out = a.view(_OnDevice)
        out.on = self.current
        return out

    def empty(self, shape, dtype):
        return self.put(np.empty(shape, dtype))

    def zeros(self, shape, dtype):
        return self.put(np.zeros(shape, dtype))

    def ascontiguousarray(self, a):
        return self.put(np.ascontiguousarray(a))


class _StandInCublas:
    """cuBLAS's gemm run with its column-major semantics on the operands' memory."""

    def __init__(self) -> None:
        self.calls = 0

    def set_stream(self, handle, ptr) -> None:
        pass

    def dgemm(self, handle, opA, opB, m, n, k, alpha, A_c, lda, B_c, ldb, beta, C_c, ldc):
        self.calls += 1
        seen = _OnDevice.seen
        p = gemm.Plan(opA, opB, m, n, k, lda, ldb, ldc)
        seen[C_c][...] = _run_plan(np.asarray(seen[B_c]), np.asarray(seen[A_c]), p)

    sgemm = dgemm


def _stand_in_gemm(device_id: int) -> tuple[gemm.Gemm, _StandInCupy, _StandInCublas]:
    g = gemm.Gemm.__new__(gemm.Gemm)
    cp, cublas = _StandInCupy(), _StandInCublas()
    g._cupy, g._cublas, g.device_id, g._handle, g._stream = cp, cublas, device_id, None, None
    g._scalars = {np.dtype(t): (np.ones((), t), np.zeros((), t)) for t in ("float32", "float64")}
    return g, cp, cublas


@pytest.mark.parametrize(("a", "b"), [((3, 0), (0, 4)), ((0, 4), (4, 5)), ((3, 4), (4, 0)),
                                      ((0, 0), (0, 0))])
def test_gemm_multiplies_empty_operands_whatever_their_strides(a, b):
    g, cp, cublas = _stand_in_gemm(0)
    for A, B in [(np.empty(a), np.empty(b)),  # as NumPy 2 lays them out: zero strides
                 (as_strided(np.empty(1), a, (0, 0)), np.empty(b, order="F"))]:
        assert 0 in A.strides + B.strides or 0 in a + b
        C = g.matmul(cp.put(A), cp.put(B))
        assert C.shape == (a[0], b[1]) and C.flags.c_contiguous
        np.testing.assert_array_equal(C, np.zeros((a[0], b[1])))
    assert cublas.calls == 0


def test_gemm_puts_its_output_on_its_own_device():
    g, cp, cublas = _stand_in_gemm(1)
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((5, 3)), rng.standard_normal((5, 4))
    with cp.cuda.Device(1):
        A_d, B_d = cp.put(A), cp.put(B)
    assert cp.current == 0  # the functional API on cuda:1, device 0 current
    for a, b, want in [(A_d.T, B_d, A.T @ B), (A_d[:, :2].T, B_d[:, 1:], A[:, :2].T @ B[:, 1:]),
                       (A_d.T[:, :0], B_d[:0], np.zeros((3, 4)))]:
        C = g.matmul(a, b)
        assert C.on == 1, "the product landed on the current device, not the operands'"
        np.testing.assert_allclose(C, want, rtol=1e-13, atol=1e-13)
    assert cublas.calls == 2 and cp.current == 0
    with pytest.raises(ValueError, match=r"\(m, k\) @ \(k, n\).*\(5, 3\) and \(5, 4\)"):
        g.matmul(A_d, B_d)


def test_a_cublas_handle_that_does_not_start_is_asked_once(monkeypatch, fresh_gemm):
    made: list[int] = []

    def gemm_for(device_id):
        made.append(device_id)
        raise RuntimeError("NotSupportedError: CUDA driver is not found")

    monkeypatch.setattr(gemm, "gemm_for", gemm_for)
    monkeypatch.setattr(gemm, "_loads", lambda: (True, ""))
    monkeypatch.delenv("NNARRAY_NO_JIT", raising=False)
    assert runner.chunks_enabled("cupy", "cuda:0")
    matmul = gemm.cupy_matmul(np.matmul)
    cp = _StandInCupy()
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    with pytest.warns(nn.engines.FallbackWarning) as caught:
        for _ in range(3):
            np.testing.assert_array_equal(matmul(cp.put(A), cp.put(B)), A @ B)
    assert len(caught) == 1 and made == [0]  # one warning, no retry at every call
    why = ("cuBLAS through nvmath-python does not start (RuntimeError: NotSupportedError: "
           "CUDA driver is not found)")
    assert str(caught[0].message).startswith(why)
    assert gemm.available() == (False, why) and not runner.chunks_enabled("cupy", "cuda:0")
    assert nn.Network([2, 1]).execution() == "cpu (numpy, step by step)"
    assert runner.describe("cupy", "cuda:0", 100) == f"cuda:0 (cupy, step by step: {why})"
    with pytest.raises(gemm.GemmUnavailableError, match="does not start"):
        gemm.start(0)  # what a graph's capture asks: refused at once, no retry
    assert made == [0]


def test_a_graph_without_a_cublas_handle_warns_once(monkeypatch, fresh_gemm):
    """The capture asks for the handle first: its failure is the fit's one warning."""
    def gemm_for(device_id):
        raise RuntimeError("CUBLAS_STATUS_NOT_INITIALIZED")

    monkeypatch.setattr(gemm, "gemm_for", gemm_for)

    class NeedsHandle(NumpyDevice):
        def capture(self, body):
            gemm.start(0)
            return super().capture(body)

    with pytest.warns(nn.engines.FallbackWarning) as caught:
        got, _ = _fit_through(monkeypatch, NeedsHandle(), FITS["gd"])
    assert len(caught) == 1 and "CUBLAS_STATUS_NOT_INITIALIZED" in str(caught[0].message)
    want, _ = _fit_through(monkeypatch, None, FITS["gd"])
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


# ---------------------------------------------------------------- a graph that fails


class _Fails(NumpyDevice):
    """The stand-in, raising ``error`` at its ``at``-th capture, or at its
    ``at``-th replay (the chunk's state half changed by the replays before)."""

    def __init__(self, error: Exception, where: str, at: int = 1) -> None:
        super().__init__()
        self.error, self.where, self.nth, self.count = error, where, at, 0

    def capture(self, body):
        if self.where == "capture":
            self.count += 1
            if self.count == self.nth:
                body()  # the warm-up ran, its buffers changed
                raise self.error
        replay = super().capture(body)

        def failing() -> None:
            if self.where == "replay":
                self.count += 1
                if self.count == self.nth:
                    raise self.error
            replay()

        return failing


class CUDARuntimeError(RuntimeError):
    """CuPy's own, as the stand-in raises it."""


FAILURES = {
    "refused": (CUDARuntimeError("cudaErrorStreamCaptureUnsupported: operation not permitted "
                                 "when stream is capturing"), "capture", 1),
    "invalidated": (CUDARuntimeError("cudaErrorStreamCaptureInvalidated: operation failed due "
                                     "to a previous error during capture"), "capture", 1),
    "out of memory": (MemoryError("Out of memory allocating 1,048,576 bytes"), "replay", 3),
    "replay": (CUDARuntimeError("cudaErrorGraphExecUpdateFailure: the graph update was not "
                                "performed"), "replay", 9),
}


def _fit_through(monkeypatch, device: NumpyDevice | None, fit: dict):
    """A planar fit, its chunks through CupyGraphChunks over ``device`` (or,
    ``None``, step by step); its parameters and History."""
    def chunks(raw, backend_name, dev, jit, precision="highest"):
        if device is None or backend_name != "numpy":
            return None
        return CupyGraphChunks(raw, device)

    monkeypatch.setattr(runner, "_chunks", chunks)
    monkeypatch.setattr(runner, "_fell_back", {})
    X, Y = nn.datasets.planar_flower(m=110, seed=3)
    net = nn.Network([2, 5, 4, 1], hidden="relu", backend="numpy", dtype="float64", seed=2)
    hist = net.fit(X, Y, progress=False, **fit)
    _fit_through.execution = net.execution()  # type: ignore[attr-defined]
    return {k: backend.to_numpy(v) for k, v in net.parameters.items()}, hist


@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("name", ["dropout-momentum", "minibatch-adam-dropout"])
def test_a_graph_that_fails_sends_the_fit_back_to_the_per_step_path(monkeypatch, failure,
                                                                      name):
    error, where, at = FAILURES[failure]
    device = _Fails(error, where, at)
    with pytest.warns(nn.engines.FallbackWarning) as caught:
        got, hist = _fit_through(monkeypatch, device, FITS[name])
    assert len(caught) == 1  # one warning a fit, naming the reason
    why = f"{type(error).__name__}: {error}"
    assert why in str(caught[0].message)
    assert _fit_through.execution == (  # type: ignore[attr-defined]
        f"cpu (numpy, step by step; its last fit fell back to step by step: {why})")
    assert device.count >= at  # it did fail there
    want, want_hist = _fit_through(monkeypatch, None, FITS[name])
    assert hist.iterations == want_hist.iterations and hist.costs == want_hist.costs
    for k in want:  # bit for bit: no chunk half applied, the same dropout draws
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


@pytest.mark.parametrize("message", [
    "cudaErrorIllegalAddress: an illegal memory access was encountered",
    "CUDA_ERROR_LAUNCH_FAILED: unspecified launch failure"])
def test_a_sticky_cuda_error_ends_the_fit_with_one_line(monkeypatch, capsys, message):
    from nnarray import cli

    device = _Fails(CUDARuntimeError(message), "replay", 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", nn.engines.FallbackWarning)  # no fallback
        with pytest.raises(nn.engines.CudaContextError, match=message.split(":")[0]):
            _fit_through(monkeypatch, device, FITS["gd"])
        device.count = 0
        assert cli.main(["train", "--dataset", "planar", "--device", "cpu", "--iterations",
                         "30", "--record-every", "10"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"nnarray: error: {message.split(':')[0]}: "
                                               "the CUDA context is broken")


def test_a_sticky_cuda_error_outside_a_graph_is_one_line_too(monkeypatch, capsys):
    from nnarray import cli

    def fails(args):
        raise CUDARuntimeError("cudaErrorIllegalAddress: an illegal memory access was "
                               "encountered")

    monkeypatch.setattr(cli, "cmd_train", fails)
    assert cli.main(["train", "--dataset", "planar"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["nnarray: error: cudaErrorIllegalAddress: the CUDA context is broken: "
                   "cudaErrorIllegalAddress: an illegal memory access was encountered"]

    def other(args):
        raise CUDARuntimeError("cudaErrorInvalidValue: invalid argument")

    monkeypatch.setattr(cli, "cmd_train", other)
    with pytest.raises(CUDARuntimeError, match="cudaErrorInvalidValue"):  # not hidden
        cli.main(["train", "--dataset", "planar"])


def test_an_engine_that_does_not_fall_back_raises_its_own_error(monkeypatch):
    class Verified(CupyGraphChunks):
        falls_back = False

    device = _Fails(CUDARuntimeError("cudaErrorStreamCaptureUnsupported"), "capture")

    def chunks(raw, backend_name, dev, jit, precision="highest"):
        return Verified(raw, device) if backend_name == "numpy" else None

    monkeypatch.setattr(runner, "_chunks", chunks)
    X, Y = nn.datasets.planar_flower(m=50, seed=3)
    net = nn.Network([2, 3, 1], backend="numpy", dtype="float64", seed=2)
    with pytest.raises(CUDARuntimeError, match="cudaErrorStreamCaptureUnsupported"):
        net.fit(X, Y, iterations=10, record_every=5, progress=False)


# ---------------------------------------------------------------- on a GPU


def _cupy_with_nvmath() -> str | None:
    if importlib.util.find_spec("cupy") is None:
        return "cupy is not installed"
    if backend._cuda_device_count() == 0:
        return "no CUDA device visible to CuPy"
    ok, why = gemm.available()
    return None if ok else why


GPU = [pytest.mark.gpu, pytest.mark.skipif(_cupy_with_nvmath() is not None,
                                           reason=str(_cupy_with_nvmath()))]


@pytest.mark.parametrize("name", sorted(FITS))
@pytest.mark.parametrize("_gpu", [pytest.param(None, marks=GPU, id="cupy-cuda-graph")])
def test_cupy_graph_replay_gives_the_per_step_bits_on_a_gpu(name, _gpu):
    assert runner.chunks_enabled("cupy", "cuda:0")
    X, Y = nn.datasets.planar_flower(m=110, seed=3)
    runs = []
    for per_step in (False, True):
        net = nn.Network([2, 5, 4, 1], hidden="relu", backend="cupy", device="cuda:0",
                         dtype="float64", seed=2)
        hist = net.fit(X, Y, progress=False,
                       on_iteration=(lambda i: None) if per_step else None, **FITS[name])
        runs.append(({k: backend.to_numpy(v) for k, v in net.parameters.items()}, hist))
    (pa, ha), (pb, hb) = runs
    assert ha.costs == hb.costs
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k], err_msg=k)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("_gpu", [pytest.param(None, marks=GPU, id="cupy-gemm")])
def test_gemm_agrees_with_cupy_on_transposed_views(dtype, _gpu):
    import cupy

    rng = np.random.default_rng(0)
    A = cupy.asarray(rng.standard_normal((7, 5)).astype(dtype))
    B = cupy.asarray(rng.standard_normal((7, 3)).astype(dtype))
    g = gemm.gemm_for(0)
    tol = 1e-5 if dtype == "float32" else 1e-13
    for a, b in [(A.T, B), (A.T, cupy.ascontiguousarray(B)), (B.T, A), (A[:, :3].T, B[:, :2])]:
        np.testing.assert_allclose(cupy.asnumpy(g.matmul(a, b)), cupy.asnumpy(a @ b),
                                   rtol=tol, atol=tol)
    assert cupy_graphs.CupyDevice(0).stream is not None
