"""The ``nnarray`` command's course recipes: the course's initial parameters,
float64 by default, JAX's 64-bit mode turned on by the command only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnarray as nn
from nnarray import backend, cli

ROOT = Path(__file__).resolve().parents[1]


def run(*args, cwd=None):
    """A fresh interpreter (no test's JAX flags), as a user's shell would start it."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd,
                          env={"PATH": "", "PYTHONPATH": path, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def train_args(*extra):
    return cli._parser().parse_args(["train", *extra])


def assert_same_parameters(a, b):
    assert sorted(a.parameters) == sorted(b.parameters)
    for k, v in a.parameters.items():
        got, want = backend.to_numpy(v), backend.to_numpy(b.parameters[k])
        assert got.dtype == want.dtype, k
        np.testing.assert_array_equal(got, want, err_msg=k)


# ---------------------------------------------------------------------- #
@pytest.mark.parametrize("dataset", ["cat", "planar", "xor"])
def test_course_recipes_default_to_float64(dataset):
    assert cli.run_dtype(dataset, None) == "float64"
    assert cli.run_dtype(dataset, "float32") == "float32"
    recipe = cli.RECIPES[dataset]
    net = cli.build_network(train_args("--dataset", dataset, "--device", "cpu"),
                            recipe.layers[0])
    assert net.dtype == "float64" and net.layer_dims == list(recipe.layers)
    fast = cli.build_network(train_args("--dataset", dataset, "--device", "cpu",
                                        "--dtype", "float32"), recipe.layers[0])
    assert fast.dtype == "float32"


def test_user_data_defaults_to_float32():
    assert cli.run_dtype("data.csv", None) == "float32"
    assert cli.run_dtype("data.npz", "float64") == "float64"
    net = cli.build_network(train_args("--dataset", "d.csv", "--device", "cpu"), 3)
    assert net.dtype == "float32" and net.layer_dims == [3, 8, 1]


def test_cat_recipe_is_the_one_line_network_and_the_courses_draws():
    net = cli.build_network(train_args("--dataset", "cat", "--device", "cpu"), 12288)
    one_line = nn.Network([12288, 20, 7, 5, 1], init="xavier", seed=1, generator="legacy",
                          dtype="float64")
    assert_same_parameters(net, one_line)
    assert (net.hidden, net.output, net.generator) == ("relu", "sigmoid", "legacy")
    # the course: np.random.seed(1); W[l] = randn(n[l], n[l-1]) / sqrt(n[l-1]), layer by layer
    # (exact: the legacy generator makes these two float64 operations on the host)
    rs = np.random.RandomState(1)
    dims = [12288, 20, 7, 5, 1]
    for l in range(1, 5):
        np.testing.assert_array_equal(net.parameters[f"W{l}"],
                                      rs.randn(dims[l], dims[l - 1]) / np.sqrt(dims[l - 1]))
    assert net.parameters["W1"][0, 0] == pytest.approx(1.62434536 / np.sqrt(12288), abs=1e-10)


def test_planar_recipe_draws_the_courses_seed_2():
    net = cli.build_network(train_args("--dataset", "planar", "--device", "cpu"), 2)
    # the course's initialize_parameters(2, 4, 1) with np.random.seed(2), ×0.01
    np.testing.assert_allclose(net.parameters["W1"], [
        [-0.00416758, -0.00056267], [-0.02136196, 0.01640271],
        [-0.01793436, -0.00841747], [0.00502881, -0.01245288]], atol=1e-8)
    np.testing.assert_allclose(net.parameters["W2"],
                               [[-0.01057952, -0.00909008, 0.00551454, 0.02292208]], atol=1e-8)
    assert_same_parameters(net, nn.Network([2, 4, 1], hidden="tanh", init="random", seed=2,
                                           generator="legacy", dtype="float64"))
    other = cli.build_network(train_args("--dataset", "planar", "--device", "cpu",
                                         "--seed", "5", "--generator", "default"), 2)
    assert_same_parameters(other, nn.Network([2, 4, 1], hidden="tanh", init="random", seed=5,
                                             dtype="float64"))


@pytest.mark.parametrize(("dataset", "cost_at_0"), [("planar", "0.693048"), ("cat", "0.771749")])
def test_command_starts_at_the_courses_cost(tmp_path, dataset, cost_at_0):
    out = run("-m", "nnarray", "train", "--dataset", dataset, "--iterations", "1",
              "--device", "cpu", cwd=tmp_path)
    rows = [line.split("|") for line in out.splitlines() if line.strip().startswith("0 |")]
    assert [r[1].strip() for r in rows] == [cost_at_0], out
    assert out.rstrip().endswith("(numpy, step by step), float64")


# ---------------------------------------------------------------------- #
JAX_RUN = """
import sys
import jax
from nnarray import cli
rc = cli.main(sys.argv[1:])
print("x64", jax.config.read("jax_enable_x64"), "rc", rc)
"""


def test_command_turns_on_jax_x64_for_float64_only(tmp_path):
    pytest.importorskip("jax")
    common = ["--dataset", "planar", "--backend", "jax", "--device", "cpu", "--iterations",
              "2", "--quiet"]
    out = run("-c", JAX_RUN, "train", *common, "--save", "m.npz", cwd=tmp_path)
    assert "(jax, compiled chunks of 100), float64" in out, out
    assert out.strip().endswith("x64 True rc 0"), out
    out = run("-c", JAX_RUN, "train", *common, "--dtype", "float32", cwd=tmp_path)
    assert "(jax, compiled chunks of 100), float32" in out, out
    assert out.strip().endswith("x64 False rc 0"), out
    # a float64 model evaluated on JAX in a fresh process
    out = run("-c", JAX_RUN, "evaluate", "m.npz", "--dataset", "planar", "--backend", "jax",
              cwd=tmp_path)
    assert "dtype='float64'" in out and out.strip().endswith("x64 True rc 0"), out


def test_the_library_never_turns_on_jax_x64(tmp_path):
    pytest.importorskip("jax")
    code = (
        "import jax, nnarray as nn\n"
        "nn.Network([2, 1], backend='jax', device='cpu', dtype='float32')\n"
        "try:\n"
        "    nn.Network([2, 1], backend='jax', device='cpu', dtype='float64')\n"
        "except ValueError as exc:\n"
        "    print('refused:', exc)\n"
        "print('x64', jax.config.read('jax_enable_x64'))\n"
    )
    out = run("-c", code, cwd=tmp_path)
    assert "refused: dtype='float64' on JAX needs 64-bit mode" in out
    assert out.strip().endswith("x64 False")
