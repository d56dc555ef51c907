"""The fused kernels (``nnarray.engines.fused``) agree with the standard path.

On the CPU the kernels' bodies run in Python over NumPy (``kernels="python"``):
they must give the standard path's bits, operation for operation, and their
CUDA source is generated from the same text, which is checked to stay in the
part of Python that C reads alike. The compiled CuPy kernels run only on a
GPU: :func:`fused_agreement.self_check` (``tests/fused_agreement.py``), called by the ``gpu`` test.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import numpy as np
import pytest

from nnarray import activations, backend, optimizers
from nnarray import step as S
from nnarray.backend import numpy_namespace as xp
from nnarray.engines import fused

from . import fused_agreement

ELEMENTWISE = [n for n in activations.ACTIVATIONS if n != "softmax"]
DIMS = [3, 6, 5, 4]
M = 16


@pytest.fixture
def fx() -> Any:
    """The fused namespace over NumPy, with the kernels' bodies run in Python."""
    return fused.training_namespace(xp, kernels="python")


def host(shape: tuple[int, ...], dtype: str, seed: int = 0, scale: float = 3.0) -> np.ndarray:
    """Random values and the awkward ones: ±0, ±inf, NaN, tiny, saturating."""
    a = np.random.default_rng(seed).standard_normal(shape) * scale
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, -1e-30, 40.0, -40.0, 1e-310]
    flat = a.reshape(-1)
    flat[: len(special)] = special[: flat.size]
    return a.astype(dtype)


def assert_same_bits(actual: Any, desired: Any, what: str = "") -> None:
    a, d = np.asarray(actual), np.asarray(desired)
    assert a.dtype == d.dtype and a.shape == d.shape, (what, a.dtype, d.dtype, a.shape, d.shape)
    same = ((a == d) & (np.signbit(a) == np.signbit(d))) | (np.isnan(a) & np.isnan(d))
    assert same.all(), f"{what}: differs at {np.argwhere(~same)[:5].tolist()}: " \
                       f"{a[~same][:5]} != {d[~same][:5]}"


# --- each kernel's body against the standard functions --------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_activation_bodies_give_the_standard_bits(fx, name, dtype):
    g, g_backward = activations.get(name)
    WA, b, dA = host((7, 33), dtype, 1), host((7, 1), dtype, 2), host((7, 33), dtype, 3)
    with np.errstate(all="ignore"):
        Z = WA + b
        A = g(Z, xp)
        for keep in (False, True):
            A_f, Z_f = fx.nnarray_fused.linear_activation(name, WA, b, keep)
            assert_same_bits(A_f, A, f"{name} forward A")
            if keep:
                assert_same_bits(Z_f, Z, f"{name} forward Z")
            else:
                assert Z_f is None
        for given in (A, None):
            assert_same_bits(fx.nnarray_fused.activation_backward(name, dA, Z, given),
                             g_backward(dA, Z, given, xp),
                             f"{name} backward from {'A' if given is not None else 'Z'}")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_update_bodies_give_the_standard_bits(fx, dtype):
    P, dP = host((5, 9), dtype, 4), host((5, 9), dtype, 5)
    v, s = host((5, 9), dtype, 6, 0.1), np.abs(host((5, 9), dtype, 7, 0.1))
    k = fx.nnarray_fused
    adam = optimizers.Adam()
    with np.errstate(all="ignore"):
        for lr in (0.0075, np.asarray(0.0075, dtype=dtype)):
            assert_same_bits(k.gradient_descent(P, dP, lr),
                             optimizers.apply_gradients({"W": P}, {"dW": dP}, lr)["W"], "gd")
            for hyper in (adam.hyper(3), {n: np.asarray(c, dtype=dtype)
                                          for n, c in adam.hyper(3).items()}):
                new, state = adam.update({"W": P}, {"dW": dP}, {"t": 2, "v": {"W": v},
                                                                 "s": {"W": s}}, lr, hyper)
                out = k.adam(P, dP, v, s, lr, adam.beta1, adam.beta2, hyper["c1"], hyper["c2"],
                             adam.epsilon)
                for got, want, what in zip(out, (new["W"], state["v"]["W"], state["s"]["W"]),
                                           ("θ", "v", "s"), strict=True):
                    assert_same_bits(got, want, f"adam {what}")


# --- whole training steps through the fusion points ------------------------------------------


class Launches:
    """Counts the kernels the fusion points launch (the test would pass
    vacuously if the math never reached them)."""

    def __init__(self, run: Any) -> None:
        self.run, self.names = run, []

    def __call__(self, kernel: fused.Kernel, *args: Any) -> Any:
        self.names.append(kernel.name)
        return self.run(kernel, *args)


def setup(dtype: str, output: str, seed: int = 0) -> tuple[dict[str, Any], Any, Any, Any]:
    rng = np.random.default_rng(seed)
    P = {}
    for l in range(1, len(DIMS)):
        P[f"W{l}"] = rng.standard_normal((DIMS[l], DIMS[l - 1])).astype(dtype)
        P[f"b{l}"] = (0.1 * rng.standard_normal((DIMS[l], 1))).astype(dtype)
    X = rng.standard_normal((DIMS[0], M)).astype(dtype)
    R = rng.random((DIMS[-1], M))
    Y = {"sigmoid": R > 0.5, "softmax": R == R.max(axis=0), "linear": R}[output].astype(dtype)
    masks = {1: ((rng.random((DIMS[1], M)) < 0.8) / 0.8).astype(dtype)}
    return P, X, Y, masks


def steps(ns: Any, P: dict[str, Any], X: Any, Y: Any, masks: Any, hidden: str, output: str,
          opt: Any, n: int = 3) -> tuple[dict[str, Any], Any, list[Any]]:
    """What step.step does, with the loop's namespace given to the update too."""
    state, costs = opt.init(P), []
    for _ in range(n):
        grads, J = S.gradients(P, X, Y, hidden, output, xp=ns, l2=0.1, masks=masks)
        P, state = opt.update(P, grads, state, 0.05, xp=ns)
        costs.append(J)
    return P, state, costs


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("opt_name", ["gd", "momentum", "rmsprop", "adam"])
@pytest.mark.parametrize("output", ["sigmoid", "softmax", "linear"])
@pytest.mark.parametrize("hidden", ELEMENTWISE)
def test_fused_steps_give_the_standard_bits(fx, monkeypatch, hidden, output, opt_name, dtype):
    launches = Launches(fx.nnarray_fused._run)
    monkeypatch.setattr(fx.nnarray_fused, "_run", launches)
    P, X, Y, masks = setup(dtype, output)
    opt = optimizers.get(opt_name)
    P_s, state_s, J_s = steps(xp, P, X, Y, masks, hidden, output, opt)
    P_f, state_f, J_f = steps(fx, P, X, Y, masks, hidden, output, opt)
    for k in P:
        assert_same_bits(P_f[k], P_s[k], k)
    for a, b in zip(J_f, J_s, strict=True):
        assert_same_bits(a, b, "cost")
    for part in ("v", "s"):
        for k in state_s.get(part, {}):
            assert_same_bits(state_f[part][k], state_s[part][k], f"{part}[{k}]")
    assert state_f["t"] == state_s["t"] == 3
    L = len(DIMS) - 1
    forward = (L - 1) + (output in fused.ACTIVATIONS)
    backward = 0 if hidden == "linear" else L - 1
    update = 2 * L if opt_name in ("gd", "adam") else 0
    per_step = [n for n in launches.names if n.endswith(("_forward", "_forward_keep_z"))]
    assert len(per_step) == 3 * forward, launches.names
    assert len([n for n in launches.names if "_backward" in n]) == 3 * backward, launches.names
    assert len([n for n in launches.names if n in ("gradient_descent", "adam")]) == 3 * update


def test_train_step_runs_through_the_fused_namespace(fx):
    """step.step with the fused namespace gives the standard step's bits."""
    P, X, Y, masks = setup("float32", "sigmoid")
    settings = S.Settings("relu", "sigmoid", 0.05, optimizers.Adam(), l2=0.1)
    out_s = S.step(P, X, Y, "relu", "sigmoid", 0.05, True, xp, settings=settings,
                       masks=masks)
    out_f = S.step(P, X, Y, "relu", "sigmoid", 0.05, True, fx, settings=settings,
                       masks=masks)
    for k in P:
        assert_same_bits(out_f[0][k], out_s[0][k], k)
    assert_same_bits(out_f[1], out_s[1], "cost")


def test_network_trains_the_same_with_the_fused_namespace(fx, monkeypatch):
    """The whole loop handed the fused namespace, as it is on CuPy: the same
    History and parameters, bit for bit, and the kernels did run."""
    import nnarray as nn

    launches = Launches(fx.nnarray_fused._run)
    monkeypatch.setattr(fx.nnarray_fused, "_run", launches)
    X, Y = nn.datasets.planar_flower(m=64)
    runs = []
    for ns in (xp, fx):
        monkeypatch.setattr(fused, "training_namespace", lambda x, ns=ns: ns)
        net = nn.Network([2, 4, 1], hidden="relu", seed=2, dtype="float64")
        hist = net.fit(X, Y, iterations=20, learning_rate=0.5, record_every=5, progress=False,
                       optimizer="adam")
        runs.append((hist.costs, net.parameters))
    assert runs[0][0] == runs[1][0]
    for k in runs[0][1]:
        assert_same_bits(runs[1][1][k], runs[0][1][k], k)
    assert launches.names.count("adam") == 20 * 4, launches.names
    assert launches.names.count("relu_forward") == 20, launches.names


# --- the kernels' catalogue and their CUDA source --------------------------------------------


def test_every_elementwise_activation_has_kernels():
    assert set(fused.ACTIVATIONS) == set(ELEMENTWISE)
    assert fused.Fused.activations == frozenset(ELEMENTWISE)
    assert fused.LEAKY_SLOPE == activations.LEAKY_SLOPE
    names = {k.name for k in fused.kernels()}
    for name in ELEMENTWISE:
        assert f"{name}_forward" in names
        if name != "linear":
            assert {f"{name}_forward_keep_z", f"{name}_backward"} <= names
    assert {"gradient_descent", "adam"} <= names


@pytest.mark.parametrize("kernel", fused.kernels(), ids=lambda k: k.name)
def test_cuda_source_matches_the_python_body(kernel):
    in_params, out_params, operation = kernel.c_source()
    assert [p.split() for p in in_params.split(", ")] == [["T", n] for n in kernel.inputs]
    assert [p.split() for p in out_params.split(", ")] == [["T", f"out_{n}"]
                                                             for n in kernel.outputs]
    lines = operation.splitlines()
    declared = [re.match(r"T (\w+) = ", line).group(1) for line in lines[: len(kernel.body)]]
    assert declared == [name for name, _ in kernel.body]
    assert lines[len(kernel.body):] == [f"out_{n} = {n};" for n in kernel.outputs]
    assert "**" not in operation and "?" not in operation
    # every number is cast to the arrays' type T (a bare 0.5 is a double in C)
    for match in re.finditer(r"(?<![\w.])\d+(\.\d*)?(e[-+]?\d+)?", operation):
        assert operation[: match.start()].endswith("T("), (match.group(), operation)
    calls = set(re.findall(r"(\w+)\(", operation))
    assert calls <= set(fused.C_FUNCTIONS.values()), calls
    for helper in ("nnarray_maximum", "nnarray_where"):
        assert helper in fused.C_PREAMBLE
    # the C computes what the Python body computes: the same tree, names mapped
    for (name, expression), line in zip(kernel.body, lines, strict=False):
        c = line.split(" = ", 1)[1].rstrip(";")
        python = ast.unparse(ast.parse(expression, mode="eval"))
        for py, cname in fused.C_FUNCTIONS.items():
            c = re.sub(rf"\b{cname}\(", f"{py}(", c)
        assert ast.unparse(ast.parse(c, mode="eval")) == python, (name, c, python)


def test_cuda_source_of_sigmoid():
    _, _, operation = fused.forward_kernel("sigmoid", True).c_source()
    assert operation == ("T Z = (WA + b);\n"
                         "T A = ((T(0.5) * tanh((T(0.5) * Z))) + T(0.5));\n"
                         "out_A = A;\nout_Z = Z;")
    assert "--fmad=false" in fused.C_OPTIONS


@pytest.mark.parametrize("body, message", [
    ("Z * 0.5", "bare constant"),
    ("Z ** T(2.0)", "not in the subset"),
    ("Z if Z > T(0.0) else T(0.0)", "not in the subset"),
    ("T(0.0) < Z < T(1.0)", "not in the subset"),
    ("-Z", "not in the subset"),
    ("log(Z)", "not in the subset"),
    ("Q + Z", "unknown name 'Q'"),
    ("T('a')", "non-number"),
    ("Z * (Z > T(0.0))", "inside T"),
    ("where(Z, Z, T(0.0))", "needs a comparison"),
    ("sqrt(Z, Z)", "takes 1 arguments"),
    ("where(Z > T(0.0), Z)", "takes 3 arguments"),
    ("T(Z, Z)", "takes 1 arguments"),
    ("tanh(x=Z)", "not in the subset"),
])
def test_the_shared_subset_refuses_what_c_reads_differently(body, message):
    with pytest.raises(ValueError, match=message):
        fused.Kernel("bad", ("Z",), (("A", body),), ("A",))


@pytest.mark.parametrize("name", ["Z", "new", "T", "where", "out_A", "i"])
def test_kernel_names_are_new_and_not_reserved(name):
    with pytest.raises(ValueError, match="not a new name"):
        fused.Kernel("bad", ("Z",), ((name, "Z"),), (name,))


# --- where the fused namespace comes from ----------------------------------------------------


def test_training_namespace_is_xp_itself_off_cupy():
    assert fused.training_namespace(xp) is xp
    import array_api_compat

    for name in ("torch", "dask", "jax", "array_api_strict"):
        try:
            other = backend.resolve(name, "cpu").xp
        except backend.BackendUnavailableError:
            continue
        assert fused.training_namespace(other) is other
        assert not array_api_compat.is_cupy_namespace(other)


def test_on_cupy_the_namespace_carries_the_kernels_unless_switched_off(monkeypatch):
    monkeypatch.setattr(fused.array_api_compat, "is_cupy_namespace", lambda x: x is xp)
    assert fused.training_namespace(xp) is xp  # off unless asked for
    monkeypatch.setenv("NNARRAY_FUSE", "1")
    try:
        ns = fused.training_namespace(xp)
        assert ns is not xp and ns.nnarray_fused.kind == "cupy"
        assert ns is fused.training_namespace(xp)  # one object: it keys the loop's caches
        assert ns.matmul is xp.matmul and ns.sum is xp.sum  # the namespace's own functions
        monkeypatch.setenv("NNARRAY_NO_FUSE", "1")
        assert fused.training_namespace(xp) is xp
    finally:
        fused._fused_namespace.cache_clear()


def test_python_kernels_ignore_the_switch(monkeypatch):
    monkeypatch.setenv("NNARRAY_NO_FUSE", "1")
    assert fused.training_namespace(xp, kernels="python").nnarray_fused.kind == "python"
    with pytest.raises(ValueError, match="kernels must be"):
        fused.training_namespace(xp, kernels="numba")


# --- the check the GPU runs ------------------------------------------------------------------


def on_numpy(run: Any = None) -> tuple[fused_agreement.Device, Any, Any]:
    """The GPU check's arguments with NumPy standing in for CuPy: the standard
    path through array_api_compat's NumPy, the kernels' bodies in Python."""
    import array_api_compat

    compat = array_api_compat.array_namespace(np.empty(0))
    fused_xp = fused.training_namespace(compat, kernels="python")
    if run is not None:
        fused_xp = type(fused_xp)("fused", "")
        fused_xp.__dict__.update(vars(compat))
        fused_xp.nnarray_fused = fused.Fused(run, "test")
    return fused_agreement.Device(np.asarray, np.asarray, lambda: None, lambda: 0), compat, fused_xp


def test_the_gpu_check_passes_the_python_bodies():
    report = fused_agreement.agreement(*on_numpy(), pool_steps=10)
    assert report["kernels"] == 78 and report["steps"] == 120
    assert not report["float32_rounding"] and report["pool_bytes"] == (0, 0)


@pytest.mark.parametrize("kernel_name, what", [
    ("relu_forward", "relu forward A [float64]"),
    ("tanh_backward_from_z", "tanh backward from Z [float64]"),
    ("adam", "adam θ (float rate and hyper) [float64]"),
])
def test_the_gpu_check_catches_a_kernel_one_ulp_off(kernel_name, what):
    python = fused.python_runner(np)

    def off(kernel: fused.Kernel, *args: Any) -> Any:
        out = python(kernel, *args)
        if kernel.name == kernel_name:
            out = (np.nextafter(out[0], np.inf), *out[1:])
        return out

    with pytest.raises(AssertionError, match=re.escape(what)):
        fused_agreement.agreement(*on_numpy(off))


# --- the CuPy kernels themselves --------------------------------------------------------------


@pytest.mark.gpu
def test_cupy_kernels_agree_with_the_standard_path():
    pytest.importorskip("cupy", reason="cupy is not installed")
    if backend._cuda_device_count() == 0:
        pytest.skip("no CUDA device visible to CuPy")
    report = fused_agreement.self_check()
    assert report["kernels"] > 0 and report["steps"] > 0
