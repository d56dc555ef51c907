"""Data-parallel training on JAX device sets: several host devices in one
process, and two processes joined by JAX's distributed runtime (gloo).

JAX fixes its device count when it starts, and this process's JAX has one
host device, so every run over several devices is a subprocess. The
per-example weights that keep padding columns out of the math are checked
here on NumPy, against the unpadded formulas and by finite differences.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import nnarray as nn
from nnarray import losses, propagation
from nnarray import step as S

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------- #
# The weights, on NumPy float64: padding columns change nothing.


def _problem(output: str = "sigmoid", n_y: int = 1, m: int = 9, pad: int = 3):
    rng = np.random.default_rng(4)
    dims = [3, 5, 4, n_y]
    params = nn.init.initialize_parameters(dims, method="he", seed=2, dtype="float64")
    X = rng.standard_normal((3, m))
    if output == "softmax":
        Y = np.eye(n_y)[:, rng.integers(0, n_y, m)]
    elif output == "linear":
        Y = rng.standard_normal((n_y, m))
    else:
        Y = (rng.random((n_y, m)) > 0.5).astype(float)
    Xp = np.concatenate([X, np.zeros((3, pad))], axis=1)
    Yp = np.concatenate([Y, np.zeros((n_y, pad))], axis=1)  # σ(z) − 0 ≠ 0 in padding
    weights = np.concatenate([np.ones((1, m)), np.zeros((1, pad))], axis=1)
    return params, X, Y, Xp, Yp, weights


@pytest.mark.parametrize(("output", "n_y"), [("sigmoid", 1), ("softmax", 3), ("linear", 2)])
@pytest.mark.parametrize("l2", [0.0, 0.7])
def test_weights_keep_padding_out_of_the_cost_and_gradients(output, n_y, l2):
    params, X, Y, Xp, Yp, w = _problem(output, n_y)
    xp = nn.backend.namespace(X)
    g, J = S.gradients(params, X, Y, "tanh", output, xp=xp, l2=l2)
    gw, Jw = S.gradients(params, Xp, Yp, "tanh", output, xp=xp, l2=l2, weights=w)
    assert abs(float(Jw) - float(J)) <= 1e-14 * abs(float(J))
    m = X.shape[1]
    for k in g:
        if k.startswith("dA"):  # per example: the real columns', and 0 in the padding
            assert not np.any(gw[k][:, m:]), k
            gw[k] = gw[k][:, :m]
        np.testing.assert_allclose(gw[k], g[k], rtol=1e-13, atol=1e-15, err_msg=k)
    # and without the weights the padding does change them: the check can fail
    _, J0 = S.gradients(params, Xp, Yp, "tanh", output, xp=xp, l2=l2)
    assert abs(float(J0) - float(J)) > 1e-6


@pytest.mark.parametrize("reuse", [True, False])
def test_weighted_gradients_are_the_weighted_cost_s_by_finite_differences(reuse):
    params, _, _, Xp, Yp, w = _problem(m=7, pad=2)

    def J(p):
        AL, caches = propagation.model_forward(Xp, p, "tanh", "sigmoid")
        return float(losses.output_cost(caches[-1][1], AL, Yp, "sigmoid", w))

    AL, caches = propagation.model_forward(Xp, params, "tanh", "sigmoid")
    grads = propagation.model_backward(AL, Yp, caches, "tanh", "sigmoid", reuse=reuse,
                                       weights=w)
    h = 1e-6
    for k, P in params.items():
        numeric = np.zeros_like(P)
        for idx in np.ndindex(P.shape):
            plus, minus = P.copy(), P.copy()
            plus[idx] += h
            minus[idx] -= h
            numeric[idx] = (J({**params, k: plus}) - J({**params, k: minus})) / (2 * h)
        np.testing.assert_allclose(grads[f"d{k}"], numeric, rtol=1e-6, atol=1e-9, err_msg=k)


@pytest.mark.parametrize("output", ["sigmoid", "softmax", "linear"])
def test_weights_all_one_are_the_lecture_s_formulas_bit_for_bit(output):
    params, X, Y, _, _, _ = _problem(output, 1 if output == "sigmoid" else 3)
    xp = nn.backend.namespace(X)
    ones = np.ones((1, X.shape[1]))
    g, J = S.gradients(params, X, Y, "relu", output, xp=xp, l2=0.3)
    g1, J1 = S.gradients(params, X, Y, "relu", output, xp=xp, l2=0.3, weights=ones)
    assert float(J1) == float(J)  # exact: × 1.0 changes no bit and Σ 1 over m columns is m
    for k in g:
        np.testing.assert_array_equal(g1[k], g[k], err_msg=k)


def test_weights_of_the_wrong_shape_are_refused():
    params, _, _, Xp, Yp, w = _problem()
    AL, caches = propagation.model_forward(Xp, params, "tanh", "sigmoid")
    with pytest.raises(ValueError, match=r"weights has shape \(12,\) but must be \(1, m\)"):
        propagation.model_backward(AL, Yp, caches, "tanh", "sigmoid", weights=w[0])


# --------------------------------------------------------------------- #
# Device strings.


def test_a_device_set_runs_on_jax_only():
    with pytest.raises(ValueError, match="set of devices, which runs on JAX only.*'numpy'"):
        nn.Network([2, 3, 1], device="all", backend="numpy")
    with pytest.raises(ValueError, match="runs on JAX only.*'torch'"):
        nn.backend.resolve("torch", ["cpu", "cuda:0"])


def test_unknown_or_repeated_devices_are_named():
    pytest.importorskip("jax")
    with pytest.raises(ValueError,
                       match=r"device 'cuda:7' in 'cpu,cuda:7' is not one of JAX's devices"):
        nn.backend.resolve("jax", ["cpu", "cuda:7"])
    with pytest.raises(ValueError, match="names a device twice"):
        nn.backend.resolve(None, ["cpu", "cpu:0"])
    with pytest.raises(ValueError, match="only JAX has.*'numpy'"):
        nn.backend.resolve("numpy", "cpu:1")


def test_a_set_of_one_device_is_that_device():
    jax = pytest.importorskip("jax")
    assert nn.backend.resolve(None, ["cpu"]).device == "cpu"  # this process has one host device
    # "all": every device of JAX's default platform, its GPUs where it has CUDA
    devices = jax.devices()
    if len(devices) > 1:
        pytest.skip(f"'all' is {len(devices)} devices here, a set")
    net = nn.Network([2, 3, 1], device="all")
    assert (net.backend, net.device) == ("jax", "cpu" if devices[0].platform == "cpu" else "cuda:0")


# --------------------------------------------------------------------- #
# Several host devices in one process (a subprocess with 4 of them).

FOUR_DEVICES = r"""
import json, sys, tempfile, os
import jax
jax.config.update("jax_num_cpu_devices", 4)
jax.config.update("jax_enable_x64", True)
import numpy as np
import nnarray as nn
from jax.sharding import NamedSharding

(X, Y), _ = nn.datasets.load_cat_vs_noncat()
X = X[:300]  # m = 209 examples, the first 300 features: fast, and 209 = 4 * 52 + 1
out = {"devices": len(jax.devices())}

def fit(device, **kw):
    net = nn.Network([300, 7, 5, 1], seed=1, backend="jax", device=device, dtype="float64")
    h = net.fit(X, Y, progress=False, **kw)
    return net, h

def gap(a, b):
    (na, ha), (nb, hb) = a, b
    costs = max(abs(x - y) for x, y in zip(ha.costs, hb.costs, strict=True))
    params = max(float(np.max(np.abs(np.asarray(na.parameters[k]) -
                                      np.asarray(nb.parameters[k])))) for k in na.parameters)
    return max(costs, params)

runs = {
    "gd": dict(iterations=60, learning_rate=0.01, record_every=20),
    "adam-l2": dict(iterations=30, learning_rate=0.002, record_every=10, optimizer="adam", l2=0.5),
    "minibatch": dict(batch_size=50, epochs=3, learning_rate=0.01, optimizer="momentum"),
}
for name, kw in runs.items():
    one = fit("cpu", **kw)
    for device in ["all", ["cpu:0", "cpu:1"], "cpu:1,cpu:2,cpu:3"]:
        many = fit(device, **kw)
        out[f"{name} {many[0].device}"] = gap(many, one)
net, _ = fit("all", **runs["gd"])
one, _ = fit("cpu", **runs["gd"])
W1 = net.parameters["W1"]
out["device"] = net.device
out["sharding"] = [type(W1.sharding).__name__, W1.sharding.is_fully_replicated,
                   len(W1.devices())]
out["predict"] = [list(net.predict(X).shape),
                  float(np.max(np.abs(np.asarray(net.predict_proba(X)) -
                                      np.asarray(one.predict_proba(X)))))]
out["score"] = [net.score(X, Y), one.score(X, Y)]
out["cost"] = abs(net.cost(X, Y) - one.cost(X, Y))
path = os.path.join(tempfile.mkdtemp(), "net.npz")
net.save(path)
back = nn.load(path, device="all")
out["loaded"] = [back.device, len(back.parameters["W1"].devices()),
                 float(np.max(np.abs(np.asarray(back.predict_proba(X)) -
                                     np.asarray(net.predict_proba(X)))))]
val = fit("all", iterations=40, learning_rate=0.01, record_every=10,
          validation=(X[:, :100], Y[:, :100]))[1].val_costs
val1 = fit("cpu", iterations=40, learning_rate=0.01, record_every=10,
           validation=(X[:, :100], Y[:, :100]))[1].val_costs
out["validation"] = max(abs(a - b) for a, b in zip(val, val1, strict=True))
print(json.dumps(out))
"""


def _env() -> dict[str, str]:
    """A subprocess's environment: JAX on host devices, as many as it asks
    for itself, one BLAS thread, this tree's nnarray (ahead of the parent's
    PYTHONPATH, which is kept)."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": path}
    env.pop("XLA_FLAGS", None)
    return env


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_env(), timeout=240, cwd=ROOT)


def test_four_host_devices_train_as_one():
    pytest.importorskip("jax")
    done = _python(textwrap.dedent(FOUR_DEVICES))
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["devices"] == 4
    gaps = {k: v for k, v in out.items() if k.split()[0] in ("gd", "adam-l2", "minibatch")}
    assert len(gaps) == 9, gaps
    assert all(v <= 1e-10 for v in gaps.values()), gaps
    assert out["device"] == "cpu:0,cpu:1,cpu:2,cpu:3"
    assert out["sharding"] == ["NamedSharding", True, 4]
    assert out["predict"][0] == [1, 209] and out["predict"][1] <= 1e-12
    assert out["score"][0] == out["score"][1]  # a count over m: the labels agree (proba above)
    assert out["cost"] <= 1e-12
    # the loaded parameters' bits, the same program: the same probabilities
    assert out["loaded"][:2] == ["cpu:0,cpu:1,cpu:2,cpu:3", 4] and out["loaded"][2] == 0.0
    assert out["validation"] <= 1e-10


# --------------------------------------------------------------------- #
# Two processes on loopback, JAX's CPU collectives (gloo).

TWO_PROCESSES = r"""
import sys
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np
import nnarray as nn

port, rank, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
nn.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=rank)
(X, Y), _ = nn.datasets.load_cat_vs_noncat()
X, Y = nn.distributed.shard(X[:300], Y)  # this process's columns only: 104 or 105
net = nn.Network([300, 7, 5, 1], seed=1, backend="jax", device="all", dtype="float64")
h = net.fit(X, Y, iterations=60, learning_rate=0.01, record_every=20, progress=False)
proba = net.predict_proba(X)  # every process's columns, gathered
score = net.score(X, Y)
net.save(out + ".npz")  # written by process 0 alone
if nn.distributed.is_main_process():
    np.savez(out + ".run.npz", costs=np.array(h.costs), proba=np.asarray(proba),
             score=score, local=X.shape[1], processes=nn.distributed.process_count())
"""


MINI_BATCHES = r"""
import sys
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np
import nnarray as nn

port, rank, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
nn.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=rank)
(X, Y), _ = nn.datasets.load_cat_vs_noncat()
X, Y = nn.distributed.shard(X[:300], Y)
net = nn.Network([300, 7, 5, 1], seed=1, backend="jax", device="all", dtype="float64")
try:
    net.fit(X, Y, batch_size=63, epochs=1, progress=False)
except ValueError as e:
    refused = str(e)
h = net.fit(X, Y, batch_size=64, epochs=3, learning_rate=0.01, progress=False)
if nn.distributed.is_main_process():
    np.savez(out, costs=np.array(h.costs), refused=refused,
             **{k: np.asarray(v) for k, v in net.parameters.items()})
"""


def _two_processes(argv: Callable[[int], list[str]], cwd: Path = ROOT) -> list[str]:
    """``argv(0)`` and ``argv(1)`` run side by side; both must succeed.
    Returns what each printed."""
    procs = [subprocess.Popen(argv(rank), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=_env(), cwd=cwd) for rank in (0, 1)]
    try:
        results = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (_, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err[-3000:]
    return [out for out, _ in results]


def _script(script: str, out: str) -> Callable[[int], list[str]]:
    """The command line of process ``rank`` running ``script``, joined on a free port."""
    port = str(_free_port())
    return lambda rank: [sys.executable, "-c", script, port, str(rank), out]


def test_two_processes_shuffle_their_own_examples(tmp_path):
    """With mini-batches each process shuffles its own columns from (seed,
    process index, epoch), and batch j takes 32 of each: the run equals the
    same batches trained on one process, in NumPy float64, to 1e-10."""
    pytest.importorskip("jax")
    out = str(tmp_path / "mb.npz")
    _two_processes(_script(MINI_BATCHES, out))
    run = np.load(out)
    assert "batch_size must be a multiple of the 2 processes" in str(run["refused"])

    (X, Y), _ = nn.datasets.load_cat_vs_noncat()
    X = X[:300]
    counts, offsets, width = (104, 105), (0, 104), 105  # shard()'s split of 209 columns
    params = nn.Network([300, 7, 5, 1], seed=1, dtype="float64").parameters
    costs = []
    for epoch in range(3):
        drawn = np.full((2, 105), -1)
        for p in (0, 1):
            drawn[p, :counts[p]] = p * width + np.random.default_rng(
                [1, p, epoch]).permutation(counts[p])
        order = np.concatenate([drawn[p, j:j + 32] for j in range(0, 105, 32) for p in (0, 1)])
        order = order[order >= 0]
        columns = np.where(order < width, order, order - width + offsets[1])
        total = 0.0
        for a in range(0, 209, 64):
            batch = columns[a:a + 64]
            params, J, _ = S.step(params, X[:, batch], Y[:, batch], "relu", "sigmoid",
                                      0.01, True)
            total += float(J) * len(batch) / 209
        costs.append(total)
    np.testing.assert_allclose(run["costs"], costs, rtol=0, atol=1e-10)
    for k, v in params.items():
        np.testing.assert_allclose(run[k], v, rtol=0, atol=1e-10, err_msg=k)
    # and it is not the one-process shuffle: the check can fail
    one = nn.Network([300, 7, 5, 1], seed=1, dtype="float64")
    h = one.fit(X, Y, batch_size=64, epochs=3, learning_rate=0.01, progress=False)
    assert abs(h.costs[-1] - costs[-1]) > 1e-8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_as_one(tmp_path):
    pytest.importorskip("jax")
    out = str(tmp_path / "run")
    _two_processes(_script(TWO_PROCESSES, out))
    run = np.load(out + ".run.npz")
    assert int(run["processes"]) == 2 and int(run["local"]) in (104, 105)

    (X, Y), _ = nn.datasets.load_cat_vs_noncat()
    one = nn.Network([300, 7, 5, 1], seed=1, dtype="float64")  # NumPy, one process
    h = one.fit(X[:300], Y, iterations=60, learning_rate=0.01, record_every=20,
                progress=False)
    np.testing.assert_allclose(run["costs"], h.costs, rtol=0, atol=1e-10)
    np.testing.assert_allclose(run["proba"], one.predict_proba(X[:300]), rtol=0, atol=1e-10)
    assert float(run["score"]) == one.score(X[:300], Y)  # a count over m: the labels agree
    saved = nn.load(out + ".npz")
    for k, v in one.parameters.items():
        np.testing.assert_allclose(saved.parameters[k], v, rtol=0, atol=1e-10, err_msg=k)


def test_the_command_line_trains_over_two_processes(tmp_path):
    pytest.importorskip("jax")
    port = str(_free_port())
    model = tmp_path / "planar.npz"
    command = ["train", "--dataset", "planar", "--iterations", "300", "--quiet",
               "--distributed", "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
               "--save", str(model)]
    out0, out1 = _two_processes(lambda rank: [sys.executable, "-m", "nnarray", *command,
                                              "--process-id", str(rank)], cwd=tmp_path)
    # process 0 speaks for the run (gloo itself may print a line in each)
    assert "train |" not in out1 and "iterations in" not in out1 and "saved" not in out1
    assert "process 0 of 2: 200 of the training examples" in out0
    assert ("with JAX, compiled 100 iterations at a time, the examples split over 2 devices, "
            "float64") in out0

    def row(text: str) -> tuple[float, float]:
        line = next(line for line in text.splitlines() if line.startswith("train |"))
        cost, accuracy = (float(v) for v in line.split("|")[1:])
        return cost, accuracy

    one = subprocess.run([sys.executable, "-m", "nnarray", *command[:5]], capture_output=True,
                         text=True, env=_env(), cwd=tmp_path, timeout=120)
    assert one.returncode == 0, one.stderr[-2000:]
    # two JAX processes against one NumPy process: the cost, printed to 6 digits,
    # agrees to one unit of its last digit, the accuracy (a count over m) exactly
    (cost, accuracy), (cost1, accuracy1) = row(out0), row(one.stdout)
    assert cost == pytest.approx(cost1, rel=1e-5) and accuracy == accuracy1
    single = nn.Network([2, 4, 1], hidden="tanh", init="random", seed=2, generator="legacy",
                        dtype="float64")
    assert model.exists()
    saved = nn.load(model)
    X, Y = nn.datasets.planar_flower()
    single.fit(X, Y, iterations=300, learning_rate=1.2, progress=False)
    for k, v in single.parameters.items():
        np.testing.assert_allclose(saved.parameters[k], v, rtol=0, atol=1e-10, err_msg=k)


@pytest.mark.parametrize(("args", "message"), [
    (["--coordinator", "127.0.0.1:1"], "need --distributed"),
    (["--distributed", "--backend", "numpy"], "runs on JAX, not --backend numpy"),
    (["--distributed", "--device", "cpu"], "not --device cpu"),
])
def test_the_command_line_refuses_what_a_distributed_run_cannot_do(args, message, capsys):
    from nnarray import cli

    assert cli.main(["train", "--dataset", "planar", "--iterations", "1", *args]) == 2
    assert message in capsys.readouterr().err


def test_initialize_takes_all_three_or_none():
    with pytest.raises(ValueError, match="together, or none of them"):
        nn.distributed.initialize("127.0.0.1:1234")
    with pytest.raises(ValueError, match=r"process_id must be an integer in 0\.\.1, got 2"):
        nn.distributed.initialize("127.0.0.1:1234", num_processes=2, process_id=2)


@pytest.mark.parametrize(("args", "message"), [
    (["--distributed", "--coordinator", "garbage", "--num-processes", "2", "--process-id", "0"],
     "--coordinator must be process 0's address HOST:PORT"),
    (["--distributed", "--coordinator", "127.0.0.1:0", "--num-processes", "2",
      "--process-id", "0"], "a port in 1..65535, got '127.0.0.1:0'"),
    (["--distributed", "--coordinator", "127.0.0.1:65536", "--num-processes", "2",
      "--process-id", "0"], "got '127.0.0.1:65536'"),
    (["--distributed", "--coordinator", ":1234", "--num-processes", "2", "--process-id", "0"],
     "got ':1234'"),
    (["--distributed", "--coordinator", "127.0.0.1:1234", "--num-processes", "2",
      "--process-id", "2"], "--process-id must be in 0..1 (--num-processes 2), got 2"),
    (["--distributed", "--num-processes", "0"], "argument --num-processes: must be an integer"),
    (["--distributed", "--coordinator", "127.0.0.1:1234", "--num-processes", str(10**18),
      "--process-id", "0"], "--num-processes must be an integer in 1..65536, got 10000"),
    (["--distributed", "--timeout", str(10**9)], "--timeout must be an integer in 1..100000000"),
    (["--distributed", "--process-id", "-1"], "argument --process-id: must be an integer >= 0"),
    (["--distributed", "--timeout", "0"], "argument --timeout: must be an integer >= 1"),
    (["--distributed", "--timeout", "2.5"], "argument --timeout: must be an integer >= 1"),
    (["--timeout", "30"], "--timeout need --distributed"),
])
def test_the_command_line_checks_the_distributed_options_before_jax(args, message, capsys,
                                                                    monkeypatch):
    from nnarray import cli

    monkeypatch.setitem(sys.modules, "jax", None)  # the checks come before JAX
    try:
        status = cli.main(["train", "--dataset", "planar", "--iterations", "1", *args])
    except SystemExit as exc:
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2 and len(err.splitlines()) == 1, err
    assert message in err, err


@contextlib.contextmanager
def _answers(address, timeout):
    """A stand-in for ``socket.create_connection``: the port answers."""
    yield None


@pytest.fixture()
def jax_initialize(monkeypatch):
    """``jax.distributed.initialize`` replaced by a recorder that joins
    nothing: returns the list of the keyword arguments of each call. The
    collectives setting ``initialize`` changes is restored afterwards."""
    jax = pytest.importorskip("jax")
    calls = []

    def record(**kwargs):
        calls.append(kwargs)
        if kwargs.get("coordinator_address") == "127.0.0.1:9":
            raise RuntimeError("DEADLINE_EXCEEDED: no coordinator\nat 127.0.0.1:9")

    collectives = jax.config.jax_cpu_collectives_implementation
    monkeypatch.setattr(jax.distributed, "initialize", record)
    monkeypatch.setattr(nn.distributed, "_connect", _answers)  # every coordinator answers
    yield calls
    jax.config.update("jax_cpu_collectives_implementation", collectives)


def test_initialize_passes_the_timeout_to_jax(jax_initialize):
    nn.distributed.initialize("127.0.0.1:1234", num_processes=np.int64(2),
                              process_id=np.int64(1), timeout=7, cpu_collectives=None)
    nn.distributed.initialize(cpu_collectives=None)
    given, detected = jax_initialize
    assert given == {"coordinator_address": "127.0.0.1:1234", "num_processes": 2,
                     "process_id": 1, "local_device_ids": None, "initialization_timeout": 7}
    assert type(given["num_processes"]) is int and type(given["process_id"]) is int
    assert "initialization_timeout" not in detected  # JAX's default


def test_the_installed_jax_takes_initialization_timeout():
    import inspect

    jax = pytest.importorskip("jax")
    assert "initialization_timeout" in inspect.signature(jax.distributed.initialize).parameters


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"coordinator": "garbage"}, ValueError, "coordinator must be process 0's address"),
    ({"coordinator": "host:99999"}, ValueError, "port in 1..65535, got 'host:99999'"),
    ({"coordinator": "host 1:80"}, ValueError, "got 'host 1:80'"),
    ({"coordinator": 1234}, TypeError, "coordinator must be"),
    ({"num_processes": True}, TypeError, r"num_processes must be an integer in 1\.\.65536, "
                                         "got True"),
    ({"num_processes": 2.0}, TypeError, r"num_processes must be an integer in 1\.\.65536"),
    ({"num_processes": 0}, ValueError, r"num_processes must be an integer in 1\.\.65536, got 0"),
    ({"num_processes": 10**18, "process_id": 1}, ValueError,
     r"num_processes must be an integer in 1\.\.65536, got 1000000000000000000"),
    ({"cpu_collectives": "bogus"}, ValueError,
     "cpu_collectives must be one of 'gloo', 'mpi', 'megascale' or None .JAX's setting., "
     "got 'bogus'"),
    ({"timeout": 10**9}, ValueError, r"timeout must be an integer in 1\.\.100000000"),
    ({"process_id": False}, TypeError, r"process_id must be an integer in 0\.\.1, got False"),
    ({"process_id": -1}, ValueError, r"process_id must be an integer in 0\.\.1, got -1"),
    ({"process_id": np.int64(2)}, ValueError, r"process_id must be an integer in 0\.\.1"),
    ({"timeout": 0}, ValueError, r"timeout must be an integer in 1\.\.100000000, got 0"),
    ({"timeout": 2.5}, TypeError, r"timeout must be an integer in 1\.\.100000000, got 2.5"),
    ({"timeout": True}, TypeError, r"timeout must be an integer in 1\.\.100000000, got True"),
])
def test_initialize_names_the_bad_argument_before_importing_jax(kwargs, error, message,
                                                                monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)
    given = {"coordinator": "127.0.0.1:1234", "num_processes": 2, "process_id": 0} | kwargs
    with pytest.raises(error, match=message):
        nn.distributed.initialize(**given)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"index": -1, "count": 2}, ValueError, r"index must be an integer in 0\.\.1, got -1"),
    ({"index": 2, "count": 2}, ValueError, r"index must be an integer in 0\.\.1, got 2"),
    ({"index": True, "count": 2}, TypeError, "index must be an integer"),
    ({"index": 0, "count": 0}, ValueError, "count must be an integer >= 1, got 0"),
    ({"index": 0, "count": 1.0}, TypeError, "count must be an integer >= 1, got 1.0"),
    ({"index": 0, "count": 6}, ValueError, "5 examples cannot be split into 6 parts"),
    ({"X": np.ones(5)}, ValueError, r"X must be 2-D \(n, m\).*got shape \(5,\)"),
    ({"Y": np.ones(5)}, ValueError, r"Y must be 2-D.*\(5,\) \(one row of labels"),
    ({"Y": np.ones((1, 4))}, ValueError, "Y has 4 examples .columns., X has 5"),
    ({"X": [[1.0, 2.0]]}, TypeError, "X must be an array"),
])
def test_shard_names_the_bad_argument(kwargs, error, message, monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)  # index and count given: no JAX needed
    given = {"X": np.ones((3, 5)), "Y": np.ones((1, 5)), "index": 0, "count": 2} | kwargs
    X, Y = given.pop("X"), given.pop("Y")
    with pytest.raises(error, match=message):
        nn.distributed.shard(X, Y, **given)


def test_shard_splits_the_columns_into_nearly_equal_consecutive_parts(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)
    X, Y = np.arange(15.0).reshape(3, 5), np.arange(5.0).reshape(1, 5)
    parts = [nn.distributed.shard(X, Y, index=np.int64(i), count=np.int64(2)) for i in (0, 1)]
    np.testing.assert_array_equal(np.concatenate([x for x, _ in parts], axis=1), X)
    np.testing.assert_array_equal(np.concatenate([y for _, y in parts], axis=1), Y)
    assert [x.shape[1] for x, _ in parts] == [2, 3]


def test_the_command_line_passes_the_timeout_to_jax(jax_initialize, capsys):
    from nnarray import cli

    status = cli.main(["train", "--dataset", "planar", "--iterations", "1", "--distributed",
                       "--coordinator", "127.0.0.1:9", "--num-processes", "2",
                       "--process-id", "1", "--timeout", "5"])
    err = capsys.readouterr().err
    assert status == 2 and len(err.splitlines()) == 1, err
    assert "could not join the run: DEADLINE_EXCEEDED" in err
    # JAX's deadline past the command's watchdog (which ends the process first)
    assert [c["initialization_timeout"] for c in jax_initialize] == [5 + cli.JOIN_GRACE + 60]


class Clock:
    """A stand-in clock: ``sleep`` moves it on, nothing waits."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_process_other_than_0_gives_up_when_the_coordinators_port_never_answers(
        monkeypatch):
    """Before JAX (which would end the process after its timeout), the
    coordinator's port is tried until ``timeout`` runs out."""
    clock, tries = Clock(), []

    def refuse(address, timeout):
        tries.append((address, clock.now))
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setitem(sys.modules, "jax", None)  # JAX is never reached
    monkeypatch.setattr(nn.distributed, "_connect", refuse)
    monkeypatch.setattr(nn.distributed, "_clock", clock)
    monkeypatch.setattr(nn.distributed, "_sleep", clock.sleep)
    with pytest.raises(TimeoutError, match=r"^no coordinator answered at \[::1\]:1234 within "
                                           r"3 s \(Connection refused\): start process 0 "):
        nn.distributed.initialize("[::1]:1234", num_processes=2, process_id=1, timeout=3)
    assert tries[0] == (("::1", 1234), 1000.0) and len(tries) == 13  # every 0.25 s
    assert clock.now == 1003.0


def test_the_coordinators_port_answering_ends_the_wait_at_once():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        nn.distributed.wait_for_coordinator(f"127.0.0.1:{server.getsockname()[1]}", 5)


def test_process_0_does_not_wait_for_a_port(jax_initialize, monkeypatch):
    def refuse(address, timeout):
        raise AssertionError("process 0 is the coordinator: nothing to wait for")

    monkeypatch.setattr(nn.distributed, "_connect", refuse)
    nn.distributed.initialize("127.0.0.1:1234", num_processes=2, process_id=0)
    assert jax_initialize[0]["process_id"] == 0


def test_the_command_says_what_it_waits_for_without_a_timeout(jax_initialize, capsys):
    from nnarray import cli

    status = cli.main(["train", "--dataset", "planar", "--iterations", "1", "--distributed",
                       "--coordinator", "127.0.0.1:9", "--num-processes", "2",
                       "--process-id", "1"])
    first, error = capsys.readouterr().err.splitlines()
    assert status == 2 and error.startswith("nnarray: error: --distributed: JAX could not")
    assert first == ("nnarray: process 1 of 2 waits up to 300 s for the coordinator at "
                     "127.0.0.1:9 and every process to join (--timeout SECONDS to change it)")
    assert jax_initialize[0]["initialization_timeout"] == 300 + cli.JOIN_GRACE + 60


def test_the_commands_watchdog_ends_a_join_that_outlasts_the_timeout(monkeypatch, capsys):
    """JAX blocked in its join (a stand-in), the watchdog's time runs out (a
    stand-in wait): one line naming the coordinator and the timeout, exit 2."""
    from nnarray import cli

    gave_up, waits, joins = [], [], []
    expired = __import__("threading").Event()

    def wait(event, seconds):
        waits.append(seconds)
        return False  # the time ran out

    def give_up(message):  # the real one prints it and ends the process: os._exit(2)
        gave_up.append(message)
        expired.set()

    def join(*args, **kwargs):  # blocked in JAX until the watchdog fires
        joins.append(kwargs)
        assert expired.wait(60)
        raise KeyboardInterrupt  # ends the command without training

    monkeypatch.setattr(cli, "_wait", wait)
    monkeypatch.setattr(cli, "_give_up", give_up)
    monkeypatch.setattr(cli.distributed, "join", join)
    assert cli.main(["train", "--dataset", "planar", "--distributed", "--coordinator",
                     "127.0.0.1:1234", "--num-processes", "2", "--process-id", "0",
                     "--timeout", "3"]) == 130
    assert capsys.readouterr().err == "nnarray: interrupted\n"  # no line before the join
    assert waits == [3 + cli.JOIN_GRACE]
    assert joins == [{"timeout": 3, "jax_timeout": 3 + cli.JOIN_GRACE + 60}]
    assert gave_up == ["--distributed: process 0 of 2 waited 3 s (--timeout) for the "
                       "coordinator at 127.0.0.1:1234 and every process to join; they did "
                       "not come (start every process with the same --coordinator and "
                       "--num-processes)"]


@pytest.mark.parametrize("process", ["0", "1"])
def test_a_run_that_never_forms_exits_2_with_one_line_not_jaxs_abort(process, tmp_path):
    """For real, with a timeout of 1 s: process 0 of 2 alone (the watchdog
    ends it), process 1 of 2 with no coordinator (the port never answers)."""
    pytest.importorskip("jax")
    port = _free_port()
    proc = subprocess.run(
        [sys.executable, "-m", "nnarray", "train", "--dataset", "planar", "--distributed",
         "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id",
         process, "--timeout", "1"], capture_output=True, text=True, env=_env(),
        cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr[-3000:]
    if process == "0":
        assert proc.stderr.startswith("nnarray: error: --distributed: process 0 of 2 waited 1 "
                                      f"s (--timeout) for the coordinator at 127.0.0.1:{port}")
    else:
        assert proc.stderr.startswith(f"nnarray: error: no coordinator answered at "
                                      f"127.0.0.1:{port} within 1 s")
