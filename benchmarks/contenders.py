"""Who is timed: nnarray on each backend and the peers, each as ``make(w, X, Y, params)
-> run(k)`` that trains k iterations (and waits for the device before returning
where its library is asynchronous and not covered by the run's device sync).

Every contender says why it cannot run here (library or device missing) instead
of failing; optional libraries are imported only when a contender is made.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import nnarray as nn

from .workloads import MiniBatch, Workload

Run = Callable[[int], None]
Make = Callable[[Workload, np.ndarray, np.ndarray, dict[str, np.ndarray]], Run]

GPU = "cuda:0"

HAND_NUMPY = "hand-written NumPy"
PRODUCTS = "matrix products alone"
NNARRAY_NUMPY = "nnarray numpy"
NNARRAY_CUPY = "nnarray cupy"
NNARRAY_CUPY_FUSED = "nnarray cupy with NNARRAY_FUSE=1"
NNARRAY_TORCH_CUDA = "nnarray torch cuda (graph)"
NNARRAY_JAX = "nnarray jax (compiled)"
CUPY_HAND = "CuPy by hand"
TORCH_EAGER = "PyTorch CUDA eager (autograd + SGD)"
TORCH_EAGER_HAND = "PyTorch CUDA eager by hand"
TORCH_GRAPH = "PyTorch CUDA graph by hand"
JAX_FORI = "JAX fori_loop by hand"
TORCH_CPU = "PyTorch eager (autograd + SGD)"
SKLEARN = "scikit-learn MLPClassifier"

NNARRAY_GPU_PATHS = (NNARRAY_CUPY, NNARRAY_TORCH_CUDA, NNARRAY_JAX)
"""nnarray's GPU paths in a GPU run: "nnarray's fastest GPU path" is the fastest of these."""


@dataclass(frozen=True)
class Contender:
    """One way to train a workload.

    ``where``: ``cpu`` or ``cuda:0``, where it computes (its device sync, and
    the nominal rate that sizes its timings). ``slow``: a tenth of the
    iterations. ``compiled``: it compiles or captures per shape, so its
    warm-up runs the timed iteration count. ``missing()``: why it cannot run
    here, or None."""

    name: str
    make: Make
    where: str = "cpu"
    slow: bool = False
    compiled: bool = False
    missing: Callable[[], str | None] = lambda: None
    path: Callable[[], str | None] = lambda: None


def nnarray_path(backend: str, device: str) -> Callable[[], str | None]:
    """Which path ``Network.fit`` takes there, in nnarray's words
    (``nnarray.engines.describe``, ``nnarray.backend.execute.describe`` in
    older trees; None where nnarray does not say)."""
    def path() -> str | None:
        where = getattr(nn, "engines", None) or getattr(nn.backend, "execute", None)
        describe = getattr(where, "describe", None)
        if describe is None:
            return None
        try:
            return str(describe(backend, nn.backend.resolve(backend, device).device))
        except Exception:
            return None

    return path


# ---------------------------------------------------------------------- #
# What exists here
# ---------------------------------------------------------------------- #

def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def needs(*modules: str) -> Callable[[], str | None]:
    """A ``missing()`` that names the first module not installed."""
    def missing() -> str | None:
        for m in modules:
            if not installed(m):
                return f"{m} is not installed"
        return None

    return missing


def nnarray_target_missing(backend: str, device: str) -> Callable[[], str | None]:
    """A ``missing()`` asking nnarray itself whether it can compute there."""
    def missing() -> str | None:
        try:
            nn.backend.resolve(backend, device)
        except Exception as exc:  # BackendUnavailableError, a broken CUDA install, ...
            return f"{type(exc).__name__}: {exc}"
        return None

    return missing


def cupy_gpu_missing() -> str | None:
    if not installed("cupy"):
        return "cupy is not installed"
    return None if nn.backend._cuda_device_count() > 0 else "no CUDA device visible to CuPy"


def torch_cuda_missing() -> str | None:
    if not installed("torch"):
        return "torch is not installed"
    import torch

    return None if torch.cuda.is_available() else f"torch {torch.__version__} sees no CUDA device"


def jax_gpu_missing() -> str | None:
    if not installed("jax"):
        return "jax is not installed"
    import jax

    try:
        return None if jax.devices("gpu") else "jax sees no GPU"
    except RuntimeError as exc:
        return f"jax sees no GPU ({str(exc).splitlines()[0]})"


def array_module(device: str) -> Any:
    """NumPy on the CPU, CuPy on a GPU: the libraries the floors are timed with."""
    if device == "cpu":
        return np
    import cupy

    return cupy


def make_sync(device: str) -> Callable[[], None]:
    """Wait for every GPU library already in use (CuPy, torch); a no-op on the CPU.
    JAX contenders block on their own results inside ``run``."""
    if device == "cpu":
        return lambda: None

    def sync() -> None:
        if "cupy" in sys.modules:
            sys.modules["cupy"].cuda.Device().synchronize()
        if "torch" in sys.modules:
            torch = sys.modules["torch"]
            if torch.cuda.is_available() and torch.cuda.is_initialized():
                torch.cuda.synchronize()

    return sync


def release(device: str) -> None:
    """Return cached device memory between workloads (the big net needs it)."""
    gc.collect()
    if device == "cpu":
        return
    if "cupy" in sys.modules:
        sys.modules["cupy"].get_default_memory_pool().free_all_blocks()
    if "torch" in sys.modules and sys.modules["torch"].cuda.is_available():
        sys.modules["torch"].cuda.empty_cache()


def block(values: Any) -> None:
    """Wait for arrays that compute asynchronously and say so (JAX's
    ``block_until_ready``); other arrays pass through."""
    for v in values:
        wait = getattr(v, "block_until_ready", None)
        if wait is not None:
            wait()


def with_parameters(run: Run, get: Callable[[], dict[str, np.ndarray]]) -> Run:
    """``run`` with ``run.parameters()`` giving its current parameters as host
    arrays (the tests check that every contender trains the same net)."""
    run.parameters = get  # type: ignore[attr-defined]
    return run


# ---------------------------------------------------------------------- #
# The lecture's step by hand
# ---------------------------------------------------------------------- #

def handwritten(device: str) -> Make:
    """The lecture's formulas as a student writes them, in NumPy (CPU) or CuPy (GPU)."""
    def make(w: Workload, X: np.ndarray, Y: np.ndarray, params: dict[str, np.ndarray]) -> Run:
        xp = array_module(device)
        L = len(w.dims) - 1
        m = X.shape[1]
        P = {k: xp.array(v) for k, v in params.items()}
        Xd, Yd = xp.asarray(X), xp.asarray(Y)

        def g(z: Any) -> Any:
            return xp.tanh(z) if w.hidden == "tanh" else xp.maximum(z, 0)

        def run(k: int) -> None:
            for _ in range(k):
                A, cache = Xd, []
                for l in range(1, L + 1):
                    Z = P[f"W{l}"] @ A + P[f"b{l}"]
                    cache.append((A, Z))
                    A = g(Z) if l < L else 1 / (1 + xp.exp(-Z))
                dZ = A - Yd
                for l in range(L, 0, -1):
                    A_prev, Z = cache[l - 1]
                    dW = dZ @ A_prev.T / m
                    db = dZ.sum(axis=1, keepdims=True) / m
                    if l > 1:
                        dA = P[f"W{l}"].T @ dZ
                        _, Z_prev = cache[l - 2]
                        dZ = dA * (1 - A_prev**2) if w.hidden == "tanh" else dA * (Z_prev > 0)
                    P[f"W{l}"] = P[f"W{l}"] - w.learning_rate * dW
                    P[f"b{l}"] = P[f"b{l}"] - w.learning_rate * db

        return with_parameters(run, lambda: {k: nn.backend.to_numpy(v) for k, v in P.items()})

    return make


def torch_lecture_step(torch: Any, P: dict[str, Any], X: Any, Y: Any, w: Workload) -> None:
    """The lecture's step in PyTorch without autograd, updating ``P`` in place
    (so that a CUDA graph of it replays the training): ``addmm`` for W A + b,
    the activations' own kernels, dZ = A − Y at the sigmoid output."""
    L, m = len(w.dims) - 1, X.shape[1]
    A, cache = X, []
    for l in range(1, L + 1):
        Z = torch.addmm(P[f"b{l}"], P[f"W{l}"], A)
        cache.append((A, Z))
        if l < L:
            A = torch.tanh(Z) if w.hidden == "tanh" else torch.relu(Z)
        else:
            A = torch.sigmoid(Z)
    dZ = A - Y
    for l in range(L, 0, -1):
        A_prev, _ = cache[l - 1]
        dW = torch.mm(dZ, A_prev.T)
        db = dZ.sum(dim=1, keepdim=True)
        if l > 1:
            dA = torch.mm(P[f"W{l}"].T, dZ)
            dZ = dA * (1 - A_prev * A_prev) if w.hidden == "tanh" else dA * (cache[l - 2][1] > 0)
        P[f"W{l}"].sub_(dW, alpha=w.learning_rate / m)
        P[f"b{l}"].sub_(db, alpha=w.learning_rate / m)


def _torch_state(w: Workload, X: np.ndarray, Y: np.ndarray, params: dict[str, np.ndarray],
                 device: str) -> tuple[Any, dict[str, Any], Any, Any]:
    import torch

    dev = torch.device(device)
    P = {k: torch.as_tensor(v).to(dev).clone() for k, v in params.items()}
    return torch, P, torch.as_tensor(X).to(dev), torch.as_tensor(Y).to(dev)


def torch_eager_hand(device: str) -> Make:
    """The lecture's step by hand in PyTorch (no autograd), one kernel launch per op."""
    def make(w: Workload, X: np.ndarray, Y: np.ndarray, params: dict[str, np.ndarray]) -> Run:
        torch, P, Xt, Yt = _torch_state(w, X, Y, params, device)

        def run(k: int) -> None:
            with torch.no_grad():
                for _ in range(k):
                    torch_lecture_step(torch, P, Xt, Yt, w)

        return with_parameters(run, lambda: {k: v.cpu().numpy() for k, v in P.items()})

    return make


def torch_graph_hand(w: Workload, X: np.ndarray, Y: np.ndarray,
                     params: dict[str, np.ndarray]) -> Run:
    """The same step captured once in a CUDA graph over static buffers and
    replayed: warmed up on a side stream first, as torch's documentation
    says; parameters updated in place inside the graph. The strongest peer
    without custom kernels."""
    torch, P, Xt, Yt = _torch_state(w, X, Y, params, GPU)
    with torch.no_grad():
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                torch_lecture_step(torch, P, Xt, Yt, w)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            torch_lecture_step(torch, P, Xt, Yt, w)

    def run(k: int) -> None:
        for _ in range(k):
            graph.replay()

    buffers = (P, Xt, Yt)  # the graph reads and writes these: kept alive with run
    return with_parameters(run, lambda: {k: v.cpu().numpy() for k, v in buffers[0].items()})


def torch_autograd(device: str) -> Make:
    """``torch.nn`` layers, BCEWithLogitsLoss, autograd and ``optim.SGD``:
    what a PyTorch user writes."""
    def make(w: Workload, X: np.ndarray, Y: np.ndarray, params: dict[str, np.ndarray]) -> Run:
        import torch

        dev = torch.device(device)
        Xt = torch.as_tensor(X, device=dev)
        Yt = torch.as_tensor(Y, device=dev)
        layers: list[Any] = []
        for l in range(1, len(w.dims)):
            lin = torch.nn.Linear(w.dims[l - 1], w.dims[l]).to(dev, Xt.dtype)
            with torch.no_grad():
                lin.weight.copy_(torch.as_tensor(params[f"W{l}"]))
                lin.bias.copy_(torch.as_tensor(params[f"b{l}"][:, 0]))
            layers.append(lin)
            if l < len(w.dims) - 1:
                layers.append(torch.nn.Tanh() if w.hidden == "tanh" else torch.nn.ReLU())
        model = torch.nn.Sequential(*layers)
        opt = torch.optim.SGD(model.parameters(), lr=w.learning_rate)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        Xr, Yr = Xt.T.contiguous(), Yt.T.contiguous()  # torch's layout: examples are rows

        def run(k: int) -> None:
            for _ in range(k):
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(Xr), Yr)
                loss.backward()
                opt.step()

        return run

    return make


def jax_lecture_loop(w: Workload, X: Any, Y: Any) -> Callable[[tuple[Any, ...], int], Any]:
    """The lecture's step written once in JAX and run k times inside one
    ``jax.jit`` of ``lax.fori_loop`` (k is an argument: one compile for every
    k), over the parameters ``(W1..WL, b1..bL)``; float32 products at
    ``precision="highest"`` (no TF32). ``X``, ``Y``: JAX arrays."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    L, m, lr = len(w.dims) - 1, X.shape[1], w.learning_rate
    hi = lax.Precision.HIGHEST

    def step(_: Any, P: tuple[Any, ...]) -> tuple[Any, ...]:
        Ws, bs = P[:L], P[L:]
        A, cache = X, []
        for l in range(L):
            Z = jnp.matmul(Ws[l], A, precision=hi) + bs[l]
            cache.append((A, Z))
            if l < L - 1:
                A = jnp.tanh(Z) if w.hidden == "tanh" else jnp.maximum(Z, 0)
            else:
                A = jax.nn.sigmoid(Z)
        dZ = A - Y
        new_W, new_b = list(Ws), list(bs)
        for l in range(L - 1, -1, -1):
            A_prev, _ = cache[l]
            dW = jnp.matmul(dZ, A_prev.T, precision=hi) / m
            db = jnp.sum(dZ, axis=1, keepdims=True) / m
            if l > 0:
                dA = jnp.matmul(Ws[l].T, dZ, precision=hi)
                if w.hidden == "tanh":
                    dZ = dA * (1 - A_prev * A_prev)
                else:
                    dZ = jnp.where(cache[l - 1][1] > 0, dA, 0)
            new_W[l] = Ws[l] - lr * dW
            new_b[l] = bs[l] - lr * db
        return (*new_W, *new_b)

    return jax.jit(lambda P, k: lax.fori_loop(0, k, step, P))


def jax_fori(device: str) -> Make:
    """:func:`jax_lecture_loop` on ``device``: the compiler's own floor for
    the lecture's step."""
    def make(w: Workload, X: np.ndarray, Y: np.ndarray, params: dict[str, np.ndarray]) -> Run:
        import jax

        dev = jax.devices("cpu" if device == "cpu" else "gpu")[0]
        L = len(w.dims) - 1
        train = jax_lecture_loop(w, jax.device_put(X, dev), jax.device_put(Y, dev))
        state = [tuple(jax.device_put(params[f"{p}{l}"], dev) for p in "Wb"
                       for l in range(1, L + 1))]  # (W1..WL, b1..bL)

        def run(k: int) -> None:
            state[0] = train(state[0], k)
            block(state[0])

        names = [f"W{l}" for l in range(1, L + 1)] + [f"b{l}" for l in range(1, L + 1)]
        return with_parameters(run, lambda: {n: np.asarray(v)
                                             for n, v in zip(names, state[0], strict=True)})

    return make


# ---------------------------------------------------------------------- #
# nnarray, the floors, scikit-learn
# ---------------------------------------------------------------------- #

def nnarray_fit(backend: str, device: str, fuse: bool = False) -> Make:
    """``Network.fit`` through the public API, full batch, the cost recorded
    at the first and the last iteration: whatever path nnarray takes there
    (eager, jitted step, compiled chunks, CUDA graph). ``fuse``: with
    ``NNARRAY_FUSE=1`` while it trains (CuPy's opt-in fused kernels)."""
    def make(w: Workload, X: np.ndarray, Y: np.ndarray, params: dict[str, np.ndarray]) -> Run:
        net = nn.Network(list(w.dims), hidden=w.hidden, init=params, device=device,
                         backend=backend, dtype=X.dtype.name)
        target = nn.backend.resolve(backend, device)
        Xd, Yd = target.asarray(X, X.dtype.name), target.asarray(Y, Y.dtype.name)

        def run(k: int) -> None:
            before = os.environ.get("NNARRAY_FUSE")
            if fuse:
                os.environ["NNARRAY_FUSE"] = "1"
            try:
                net.fit(Xd, Yd, iterations=k, learning_rate=w.learning_rate, record_every=k,
                        progress=False)
            finally:
                if fuse and before is None:
                    del os.environ["NNARRAY_FUSE"]
                elif fuse:
                    os.environ["NNARRAY_FUSE"] = before
            block(net.parameters.values())

        return with_parameters(run, lambda: {k: nn.backend.to_numpy(v)
                                             for k, v in net.parameters.items()})

    return make


def matrix_products(device: str) -> Make:
    """Only the step's matrix products, at their real shapes and layouts
    (W A forward; dZ A_prevᵀ and Wᵀ dZ backward, no dA0), in NumPy or CuPy:
    the floor for any code that calls the same BLAS."""
    def make(w: Workload, X: np.ndarray, Y: np.ndarray, params: dict[str, np.ndarray]) -> Run:
        xp = array_module(device)
        Ws = [xp.asarray(params[f"W{l}"]) for l in range(1, len(w.dims))]
        Xd = xp.asarray(X)

        def run(k: int) -> None:
            for _ in range(k):
                As = [Xd]
                for W in Ws:
                    As.append(W @ As[-1])
                dZ = As[-1]
                for l in range(len(Ws), 0, -1):
                    dZ @ As[l - 1].T
                    if l > 1:
                        dZ = Ws[l - 1].T @ dZ

        return run

    return make


def sklearn_mlp(w: Workload, X: np.ndarray, Y: np.ndarray, params: dict[str, np.ndarray]) -> Run:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=w.dims[1:-1], activation=w.hidden, solver="sgd",
                        batch_size=w.m, momentum=0.0, nesterovs_momentum=False, alpha=0.0,
                        learning_rate_init=w.learning_rate, shuffle=False, max_iter=1,
                        tol=0.0, n_iter_no_change=10**9, warm_start=True, random_state=0)
    Xr, y = X.T, Y[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(Xr, y)
    clf.coefs_ = [params[f"W{l}"].T.copy() for l in range(1, len(w.dims))]
    clf.intercepts_ = [params[f"b{l}"][:, 0].copy() for l in range(1, len(w.dims))]

    def run(k: int) -> None:
        clf.max_iter = k
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(Xr, y)

    return run


SQUARE = "square product"


def square_n(device: str) -> int:
    """n of the square product: a GPU needs a larger one to reach its peak."""
    return 1024 if device == "cpu" else 4096


def square_product(dtype: str, device: str, n: int) -> tuple[Run, float]:
    """run(k) doing k n×n by n×2n products on this device, and the FLOPs of one.
    Timed among the contenders, it gives the matrix-product rate under the
    same machine conditions as the workload it is timed with."""
    xp = array_module(device)
    a = xp.ones((n, n), dtype=dtype)
    b = xp.ones((n, 2 * n), dtype=dtype)

    def run(k: int) -> None:
        for _ in range(k):
            a @ b

    return run, 2.0 * n * n * 2 * n


# ---------------------------------------------------------------------- #
# The line-up of a run
# ---------------------------------------------------------------------- #

def contenders(device: str) -> list[Contender]:
    """Every contender of a run on ``device`` (``cpu`` or ``cuda:0``), available
    or not: ``missing()`` says which cannot run here and why."""
    slow_ones = ("dask", "array_api_strict")
    if device == "cpu":
        out = [Contender(HAND_NUMPY, handwritten("cpu")),
               Contender(PRODUCTS, matrix_products("cpu")),
               Contender(NNARRAY_NUMPY, nnarray_fit("numpy", "cpu"),
                         path=nnarray_path("numpy", "cpu"))]
        for b in ("torch", "jax", "array_api_strict", "dask"):
            name = NNARRAY_JAX if b == "jax" else f"nnarray {b}"
            out.append(Contender(name, nnarray_fit(b, "cpu"), slow=b in slow_ones,
                                 compiled=b == "jax", missing=needs(b),
                                 path=nnarray_path(b, "cpu")))
        out += [Contender(JAX_FORI, jax_fori("cpu"), compiled=True, missing=needs("jax")),
                Contender(TORCH_CPU, torch_autograd("cpu"), missing=needs("torch")),
                Contender(SKLEARN, sklearn_mlp, slow=True, missing=needs("sklearn"))]
        return out
    return [
        Contender(HAND_NUMPY, handwritten("cpu")),  # the CPU reference of the ratios
        Contender(PRODUCTS, matrix_products(GPU), GPU, missing=cupy_gpu_missing),
        Contender(NNARRAY_CUPY, nnarray_fit("cupy", GPU), GPU, compiled=True,
                  missing=nnarray_target_missing("cupy", GPU),
                  path=nnarray_path("cupy", GPU)),
        Contender(NNARRAY_CUPY_FUSED, nnarray_fit("cupy", GPU, fuse=True), GPU, compiled=True,
                  missing=nnarray_target_missing("cupy", GPU)),
        Contender(NNARRAY_TORCH_CUDA, nnarray_fit("torch", GPU), GPU, compiled=True,
                  missing=nnarray_target_missing("torch", GPU),
                  path=nnarray_path("torch", GPU)),
        Contender(NNARRAY_JAX, nnarray_fit("jax", "gpu"), GPU, compiled=True,
                  missing=nnarray_target_missing("jax", "gpu"),
                  path=nnarray_path("jax", "gpu")),
        Contender(CUPY_HAND, handwritten(GPU), GPU, missing=cupy_gpu_missing),
        Contender(TORCH_EAGER_HAND, torch_eager_hand(GPU), GPU, missing=torch_cuda_missing),
        Contender(TORCH_EAGER, torch_autograd(GPU), GPU, missing=torch_cuda_missing),
        Contender(TORCH_GRAPH, torch_graph_hand, GPU, compiled=True,
                  missing=torch_cuda_missing),
        Contender(JAX_FORI, jax_fori(GPU), GPU, compiled=True, missing=jax_gpu_missing),
    ]


# ---------------------------------------------------------------------- #
# Mini-batch contenders: make(w, X, Y, classes) -> fit() of w.epochs epochs
# ---------------------------------------------------------------------- #

Fit = Callable[[], None]
MakeFit = Callable[[MiniBatch, np.ndarray, np.ndarray, np.ndarray], Fit]


@dataclass(frozen=True)
class MiniContender:
    name: str
    make: MakeFit
    where: str = "cpu"
    missing: Callable[[], str | None] = lambda: None


def nnarray_minibatch(backend: str, device: str) -> MakeFit:
    """``Network.fit(batch_size=..., epochs=..., optimizer=Adam())`` from the
    same initial parameters each time; the data moved to the device once."""
    def make(w: MiniBatch, X: np.ndarray, Y: np.ndarray, classes: np.ndarray) -> Fit:
        dtype = X.dtype.name
        init = nn.init.initialize_host(list(w.dims), "he", seed=1, dtype=dtype)
        target = nn.backend.resolve(backend, device)
        Xd, Yd = target.asarray(X, dtype), target.asarray(Y, dtype)

        def fit() -> None:
            net = nn.Network(list(w.dims), hidden=w.hidden, output="softmax", init=init,
                             device=device, backend=backend, dtype=dtype)
            net.fit(Xd, Yd, learning_rate=w.learning_rate, batch_size=w.batch_size,
                    epochs=w.epochs, optimizer=nn.optimizers.Adam(), progress=False)
            block(net.parameters.values())

        return fit

    return make


def sklearn_minibatch(w: MiniBatch, X: np.ndarray, Y: np.ndarray, classes: np.ndarray) -> Fit:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    def fit() -> None:
        clf = MLPClassifier(hidden_layer_sizes=w.dims[1:-1], activation=w.hidden,
                            solver="adam", batch_size=w.batch_size, alpha=0.0,
                            learning_rate_init=w.learning_rate, max_iter=w.epochs, tol=0.0,
                            n_iter_no_change=10**9, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X.T, classes)

    return fit


def minibatch_contenders(device: str) -> list[MiniContender]:
    """nnarray on every backend of the device; on a GPU run also nnarray
    numpy on the CPU (the GPU-against-CPU target needs both in one run)."""
    cpu = [MiniContender(NNARRAY_NUMPY, nnarray_minibatch("numpy", "cpu"))]
    if device == "cpu":
        return [
            *cpu,
            MiniContender("nnarray torch", nnarray_minibatch("torch", "cpu"),
                          missing=needs("torch")),
            MiniContender(NNARRAY_JAX, nnarray_minibatch("jax", "cpu"), missing=needs("jax")),
            MiniContender(SKLEARN, sklearn_minibatch, missing=needs("sklearn")),
        ]
    return [
        *cpu,
        MiniContender(NNARRAY_CUPY, nnarray_minibatch("cupy", GPU), GPU,
                      nnarray_target_missing("cupy", GPU)),
        MiniContender(NNARRAY_TORCH_CUDA, nnarray_minibatch("torch", GPU), GPU,
                      nnarray_target_missing("torch", GPU)),
        MiniContender(NNARRAY_JAX, nnarray_minibatch("jax", "gpu"), GPU,
                      nnarray_target_missing("jax", "gpu")),
    ]
