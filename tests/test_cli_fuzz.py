"""The ``nnarray`` command's arguments, fuzzed: whatever the options say, a
run either succeeds (exit status 0) or ends in one line on stderr with exit
status 2, never another exception or a traceback.

The command runs in this process (``cli.main(argv)``); training is capped at
2 iterations or 1 epoch (the options still reach ``Network.fit``, which checks
them), and joining a multi-process run fails at once as it would without a
coordinator, so that each example costs milliseconds."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

import nnarray as nn
from nnarray import cli

NUMBERS = ["0", "1", "2", "3", "-1", "-7", "0.5", "2.5", "1e-320", "1e300", "1e400", "nan",
           "inf", "-inf", "99999999999999999999", "abc", "", "0x10", " 7", "1_0"]
"""Values for every numeric option: in and out of range, not finite, huge,
not numbers."""


def number() -> st.SearchStrategy[str]:
    return st.sampled_from(NUMBERS)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """Good and bad inputs and outputs, by name."""
    root = tmp_path_factory.mktemp("fuzz")
    X, Y = nn.datasets.planar_flower()
    np.savez(root / "good.npz", X=X[:, :40], Y=Y[:, :40])
    np.savetxt(root / "good.csv", np.column_stack([X[:, :40].T, Y[0, :40]]), delimiter=",")
    np.save(root / "good.npy", np.vstack([X[:, :40], Y[:, :40]]))
    (root / "notzip.npz").write_text("no archive\n")
    (root / "a file").write_text("x\n")
    (root / "folder").mkdir()
    nn.Network([2, 4, 1], hidden="tanh", seed=2).save(root / "model.npz")
    paths = {
        "good.npz": root / "good.npz", "good.csv": root / "good.csv",
        "good.npy": root / "good.npy", "notzip.npz": root / "notzip.npz",
        "missing.npz": root / "missing" / "x.npz", "folder": root / "folder",
        "model.npz": root / "model.npz", "under a file": root / "a file" / "out.npz",
        "out.npz": root / "out.npz", "out.png": root / "out.png",
        "ckpt.npz": root / "ckpt.npz", "a file": root / "a file",
    }
    return {name: str(path) for name, path in paths.items()} | {"empty": ""}


def paths(files: dict[str, str], *names: str) -> st.SearchStrategy[str]:
    return st.sampled_from([files[n] for n in names])


def rarely(n: int) -> st.SearchStrategy[bool]:
    """True about once in ``n`` (Hypothesis favours the first choice)."""
    return st.sampled_from([False] * (n - 1) + [True])


def options_argv(draw, good: dict, bad: dict) -> list[str]:
    """Some of the ``good`` options with good values, then up to two options
    (from ``bad``) with values drawn from both."""
    chosen = draw(st.fixed_dictionaries({}, optional=good))
    for option in draw(st.lists(st.sampled_from(sorted(bad)), max_size=2, unique=True)):
        chosen[option] = draw(bad[option] | good.get(option, bad[option]))
    return [a for kv in chosen.items() for a in kv]


@st.composite
def train_argv(draw, files: dict[str, str]) -> list[str]:
    dataset = draw(st.sampled_from(["planar", "xor", "good.npz", "good.csv", "good.npy"]))
    source = {"planar": ["--dataset", "planar"], "xor": ["--dataset", "xor"],
              "good.npz": [draw(st.sampled_from(["--dataset", "--data"])), files["good.npz"]],
              "good.csv": ["--dataset", files["good.csv"]],
              "good.npy": ["--data", files["good.npy"]]}[dataset]
    if source[0] == "--data" or draw(st.booleans()):
        source += ["--batch-size", draw(st.sampled_from(["8", "64", "1000"])),
                   "--epochs", draw(st.sampled_from(["0", "1", "2"]))]
    good = {
        "--iterations": st.sampled_from(["0", "1", "2", "500"]),
        "--learning-rate": st.sampled_from(["0.5", "1.2", "0.01", "1e-320"]),
        "--record-every": st.sampled_from(["1", "2", "100"]),
        "--seed": st.sampled_from(["0", "1", "7"]),
        "--layers": st.just("4,8,1" if dataset == "xor" else "2,4,1"),
        "--hidden": st.sampled_from(["relu", "tanh", "sigmoid", "leaky_relu"]),
        "--init": st.sampled_from(["zeros", "random", "xavier", "he"]),
        "--generator": st.sampled_from(["legacy", "default"]),
        "--device": st.sampled_from(["cpu", "auto"]),
        "--backend": st.sampled_from(["numpy", "array_api_strict"]),
        "--dtype": st.sampled_from(["float32", "float64"]),
        "--save": paths(files, "out.npz"),
        "--checkpoint": paths(files, "ckpt.npz"),
        "--checkpoint-every": st.sampled_from(["1", "2", "100"]),
        "--plot": paths(files, "out.png"),
    }
    outputs = ("missing.npz", "folder", "under a file", "empty")
    bad = {
        **{option: number() for option in (
            "--iterations", "--learning-rate", "--record-every", "--batch-size", "--epochs",
            "--seed", "--checkpoint-every", "--num-processes", "--process-id", "--timeout")},
        "--dataset": st.sampled_from(["cat", "planar"]) | paths(
            files, "notzip.npz", "missing.npz", "folder", "a file", "empty"),
        "--data": paths(files, "notzip.npz", "missing.npz", "folder", "a file", "empty"),
        "--layers": st.sampled_from(["2,3,2", "4,8,1", "2,0,1", "2", "", "a,b", "2,-1,1",
                                     "2,,1"]),
        "--hidden": st.sampled_from(["", "softmax"]),
        "--init": st.sampled_from(["", "orthogonal"]),
        "--generator": st.just("numpy"),
        "--device": st.sampled_from(["gpu", "cuda:3", "tpu", ""]),
        "--backend": st.just("fortran"),
        "--dtype": st.just("float16"),
        "--save": paths(files, *outputs),
        "--checkpoint": paths(files, *outputs),
        "--plot": paths(files, *outputs),
        "--resume": paths(files, "ckpt.npz", "notzip.npz", "missing.npz", "folder", "empty"),
        "--coordinator": st.sampled_from(["127.0.0.1:1234", "[::1]:80", "garbage", "h:0",
                                          "h:70000", ":1234", "h:", "h:x", ""]),
    }
    argv = ["train", "--quiet", *source, *options_argv(draw, good, bad)]
    if draw(rarely(5)):  # a run over several processes
        argv += ["--distributed", "--coordinator", "127.0.0.1:1234", "--num-processes", "2",
                 "--process-id", draw(st.sampled_from(["0", "1", "2"])), "--timeout", "5"]
    if draw(rarely(10)):
        argv.append("--examples-as-rows")
    return argv


@st.composite
def evaluate_argv(draw, files: dict[str, str]) -> list[str]:
    model = files["model.npz"]
    if draw(rarely(4)):
        model = draw(paths(files, "notzip.npz", "missing.npz", "folder", "empty"))
    source = draw(st.sampled_from([["--dataset", "planar"], ["--dataset", files["good.npz"]],
                                   ["--data", files["good.npz"]], ["--data", files["good.npy"]],
                                   ["--dataset", files["good.csv"]]]))
    good = {"--device": st.just("cpu"),
            "--backend": st.sampled_from(["numpy", "array_api_strict"])}
    bad = {"--device": st.sampled_from(["gpu", "cuda:3", "tpu", ""]),
           "--backend": st.just("fortran"),
           "--dataset": st.sampled_from(["xor", "cat"]) | paths(
               files, "notzip.npz", "missing.npz", "folder", "empty"),
           "--data": paths(files, "notzip.npz", "missing.npz", "folder", "empty")}
    argv = ["evaluate", model, *source, *options_argv(draw, good, bad)]
    if draw(rarely(5)):
        argv.append("--examples-as-rows")
    return argv


@contextlib.contextmanager
def _answers(address, timeout):
    """A stand-in for ``socket.create_connection``: the coordinator's port answers."""
    yield None


@pytest.fixture()
def cheap(monkeypatch):
    """Training capped at 2 iterations or 1 epoch; the coordinator's port
    answering, and ``jax.distributed.initialize`` failing as a run without
    its coordinator does (JAX's settings restored)."""
    real_fit = cli.Network.fit

    def fit(self, X, Y, iterations=2500, *args, epochs=None, **kwargs):
        if isinstance(iterations, int) and iterations > 2:
            iterations = 2
        if isinstance(epochs, int) and epochs > 1:
            epochs = 1
        return real_fit(self, X, Y, iterations, *args, epochs=epochs, **kwargs)

    monkeypatch.setattr(cli.Network, "fit", fit)
    monkeypatch.setattr(cli.distributed, "_connect", _answers)  # no waiting for a port
    try:
        import jax
    except ImportError:
        yield
        return

    def initialize(**kwargs):
        raise RuntimeError("DEADLINE_EXCEEDED: no coordinator answered")

    monkeypatch.setattr(jax.distributed, "initialize", initialize)
    collectives = jax.config.jax_cpu_collectives_implementation
    x64 = jax.config.jax_enable_x64
    yield
    jax.config.update("jax_cpu_collectives_implementation", collectives)
    assert jax.config.jax_enable_x64 == x64  # no example reached JAX's 64-bit switch


def run(argv: list[str]) -> tuple[int, str]:
    """The exit status and stderr of ``nnarray *argv``."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            status = cli.main(argv)
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
    return status, err.getvalue()


def test_every_outcome_is_success_or_one_error_line(files, cheap, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    outcomes = {0: 0, 2: 0}

    @settings(derandomize=True, max_examples=250, deadline=None, database=None)
    @given(argv=st.one_of(train_argv(files), evaluate_argv(files)))
    def check(argv):
        note(f"argv: {argv}")
        status, err = run(argv)
        assert status in (0, 2), (status, err)
        lines = err.splitlines()
        if status == 0:
            assert lines == [], err
        else:
            assert len(lines) == 1, err
            assert lines[0].startswith("nnarray") and ": error: " in lines[0], err
        outcomes[status] += 1

    check()
    assert outcomes[0] >= 10 and outcomes[2] >= 10, outcomes  # both outcomes were explored

