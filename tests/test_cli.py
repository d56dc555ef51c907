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
    assert out.rstrip().endswith(" s on the CPU with NumPy, float64")


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
    assert "with JAX, compiled 100 iterations at a time, float64" in out, out
    assert out.strip().endswith("x64 True rc 0"), out
    out = run("-c", JAX_RUN, "train", *common, "--dtype", "float32", cwd=tmp_path)
    assert "with JAX, compiled 100 iterations at a time, float32" in out, out
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


# ---------------------------------------------------------------------- #
# Errors: one line on stderr, exit status 2, before any training.


def main_status(argv):
    """``cli.main(argv)``'s exit status, argparse's SystemExit included."""
    try:
        return cli.main(argv)
    except SystemExit as exc:
        return exc.code


def one_error_line(capsys):
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1 and "error: " in lines[0] and "Traceback" not in err, err
    return lines[0]


@pytest.fixture()
def not_a_zip(tmp_path):
    path = tmp_path / "notzip.npz"
    path.write_text("these bytes are no zip archive\n")
    return path


@pytest.mark.parametrize("argv", [
    ["train", "--data", "{path}", "--batch-size", "4", "--epochs", "1"],
    ["train", "--dataset", "{path}"],
    ["evaluate", "{path}", "--dataset", "planar"],
    ["evaluate", "{model}", "--data", "{path}"],
])
def test_a_file_that_is_no_archive_is_a_one_line_error_naming_it(argv, not_a_zip, tmp_path,
                                                                   capsys):
    model = tmp_path / "m.npz"
    nn.Network([2, 4, 1], seed=1).save(model)
    argv = [a.format(path=not_a_zip, model=model) for a in argv]
    assert main_status(argv) == 2
    line = one_error_line(capsys)
    assert str(not_a_zip) in line and "pickle" not in line, line


@pytest.mark.parametrize(("value", "shown"), [
    ("0", "'0'"), ("-0.5", "'-0.5'"), ("nan", "'nan'"), ("inf", "'inf'"), ("1e400", "'1e400'"),
    ("fast", "'fast'"),
])
def test_a_learning_rate_that_is_no_positive_number_is_refused(value, shown, capsys):
    assert main_status(["train", "--dataset", "planar", "--iterations", "1", "--quiet",
                        "--learning-rate", value]) == 2
    line = one_error_line(capsys)
    assert "--learning-rate" in line and f"got {shown}" in line, line


@pytest.mark.parametrize(("option", "value"), [
    ("--iterations", "-1"), ("--record-every", "0"), ("--batch-size", "0"),
    ("--epochs", "-2"), ("--checkpoint-every", "0"), ("--iterations", "2.5"),
])
def test_counts_out_of_range_are_refused_naming_the_option(option, value, capsys):
    assert main_status(["train", "--dataset", "planar", "--quiet", option, value]) == 2
    line = one_error_line(capsys)
    assert f"argument {option}: must be an integer >= " in line and repr(value) in line, line


@pytest.mark.parametrize(("argv", "named"), [
    (["--iterations", str(10**20)], "iterations must be an integer in 0..9007199254740992"),
    (["--batch-size", "8", "--epochs", str(10**20)], "epochs must be an integer in 0.."),
    # 16 PB of W1, beyond any address space: refused by the allocator at once
    (["--layers", "2,1000000000000000,1"], "out of memory: "),
])
def test_a_size_beyond_the_machine_is_one_error_line_before_training(argv, named, capsys):
    assert main_status(["train", "--dataset", "planar", "--quiet", *argv]) == 2
    line = one_error_line(capsys)
    assert named in line, line


def fit_spy(monkeypatch):
    """Network.fit replaced by one that records its keyword arguments and
    trains nothing; returns the list of calls."""
    calls = []

    def fit(net, X, Y, **kwargs):
        calls.append(kwargs)
        return nn.History(iterations=[0], costs=[net.cost(X, Y)])

    monkeypatch.setattr(cli.Network, "fit", fit)
    return calls


def test_the_options_given_reach_fit_and_the_recipe_fills_the_others(monkeypatch):
    calls = fit_spy(monkeypatch)
    assert cli.main(["train", "--dataset", "planar", "--quiet", "--iterations", "0",
                     "--learning-rate", "0.25"]) == 0
    assert cli.main(["train", "--dataset", "planar", "--quiet"]) == 0
    given, default = calls
    assert (given["iterations"], given["learning_rate"]) == (0, 0.25)
    recipe = cli.RECIPES["planar"]
    assert (default["iterations"], default["learning_rate"]) == (recipe.iterations,
                                                                recipe.learning_rate)


@pytest.mark.parametrize(("option", "named"), [
    ("--hidden", "hidden"), ("--init", "init method"), ("--save", "--save"),
    ("--plot", "--plot"), ("--checkpoint", "--checkpoint"),
])
def test_an_empty_option_is_refused_not_replaced_by_the_default(option, named, tmp_path,
                                                                 monkeypatch, capsys):
    calls = fit_spy(monkeypatch)
    monkeypatch.chdir(tmp_path)
    assert main_status(["train", "--dataset", "planar", "--quiet", option, ""]) == 2
    assert named in one_error_line(capsys)
    assert calls == []


@pytest.mark.parametrize("option", ["--save", "--checkpoint", "--plot"])
@pytest.mark.parametrize("where", ["missing folder", "a directory", "under a file",
                                   "read-only folder"])
def test_an_unwritable_output_is_refused_before_training(option, where, tmp_path, monkeypatch,
                                                         capsys):
    (tmp_path / "file.txt").write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: (
        Path(path) != locked and real_access(path, mode, **kw)))
    path = {"missing folder": tmp_path / "no" / "such" / "out.npz",
            "a directory": tmp_path,
            "under a file": tmp_path / "file.txt" / "out.npz",
            "read-only folder": locked / "out.npz"}[where]
    assert main_status(["train", "--dataset", "planar", "--iterations", "1", option,
                        str(path)]) == 2
    out = capsys.readouterr()
    lines = out.err.splitlines()
    assert len(lines) == 1 and "Traceback" not in out.err, out.err
    assert f"{option} {str(path)!r}" in lines[0] and ".tmp" not in lines[0], lines[0]
    assert "iterations in" not in out.out and "train |" not in out.out  # not trained
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "locked"]


def test_usage_errors_are_one_line(capsys):
    for argv in (["train", "--no-such-option"], ["train", "--dtype", "float16"], [],
                 ["evaluate"], ["train", "--iterations"]):
        assert main_status(argv) == 2, argv
        assert one_error_line(capsys).startswith("nnarray"), argv


def test_the_help_is_plain_text(monkeypatch):
    monkeypatch.setattr(cli, "__doc__", None)  # python -OO strips docstrings
    parser = cli._parser()
    helps = [parser.format_help()]
    sub = next(a for a in parser._actions if isinstance(a, cli.argparse._SubParsersAction))
    helps += [p.format_help() for p in sub.choices.values()]
    for text in helps:
        assert "``" not in text and ":func:" not in text, text
    assert cli.DESCRIPTION in helps[0] and "nnarray evaluate flower.npz" in helps[0]


@pytest.mark.parametrize("option", ["--save", "--checkpoint"])
@pytest.mark.parametrize("source", ["--dataset", "--data"])
def test_an_output_path_that_is_the_training_data_is_refused_before_training(
        tmp_path, option, source, capsys):
    """``--save d.npz`` on ``--dataset d.npz`` used to replace the user's data."""
    data = tmp_path / "d.npz"
    X = np.random.default_rng(0).standard_normal((3, 50))
    np.savez(data, X=X, Y=(X[:1] > 0) * 1.0)
    before = data.read_bytes()
    extra = ["--batch-size", "10", "--epochs", "1"] if source == "--data" else [
        "--iterations", "2"]
    same = str(tmp_path / "." / "d.npz")  # the same file by another spelling
    assert main_status(["train", source, str(data), *extra, option, same]) == 2
    assert "is the training data's file" in one_error_line(capsys)
    assert data.read_bytes() == before


def test_a_built_in_datasets_name_is_no_file_to_protect(tmp_path, monkeypatch):
    """``--dataset planar --save planar`` writes the model, even beside a file
    named ``planar``: the built-in data is no file of the user's."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "planar").write_bytes(b"")
    assert main_status(["train", "--dataset", "planar", "--iterations", "2",
                        "--save", "planar"]) in (0, None)
    assert (tmp_path / "planar").stat().st_size > 0


def test_a_plot_format_matplotlib_cannot_write_is_refused_before_training(tmp_path, monkeypatch,
                                                                         capsys):
    pytest.importorskip("matplotlib")
    calls = fit_spy(monkeypatch)
    path = tmp_path / "cost.xyz"
    assert main_status(["train", "--dataset", "planar", "--quiet", "--plot", str(path)]) == 2
    line = one_error_line(capsys)
    assert f"cannot save a plot as {str(path)!r}: .xyz is no format" in line and "png" in line
    assert calls == [] and not path.exists()


def test_a_plot_path_without_a_suffix_is_saved_and_reported_as_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "cost"
    assert main_status(["train", "--dataset", "planar", "--quiet", "--iterations", "2",
                        "--plot", str(path)]) == 0
    assert f"saved {path}.png" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cost.png"]


def _interrupted_import(tmp_path: Path, command: list[str]) -> subprocess.CompletedProcess[str]:
    """``command`` run where NumPy's import raises ``KeyboardInterrupt`` (a
    stand-in ``numpy``: Ctrl-C while the package imports, without timing)."""
    stand_in = tmp_path / "stand-in" / "numpy"
    stand_in.mkdir(parents=True)
    (stand_in / "__init__.py").write_text("raise KeyboardInterrupt  # Ctrl-C, here\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(stand_in.parent), str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    return subprocess.run([sys.executable, *command], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120)


@pytest.mark.parametrize("how", ["console script", "python -m nnarray"])
def test_ctrl_c_while_the_command_imports_is_one_line_and_exit_130(how, tmp_path):
    if how == "console script":  # as pip writes it
        script = tmp_path / "bin" / "nnarray"
        script.parent.mkdir()
        script.write_text("import sys\nfrom nnarray.cli import main\n"
                          "if __name__ == '__main__':\n    sys.exit(main())\n")
        command = [str(script), "info"]
    else:
        command = ["-m", "nnarray", "info"]
    proc = _interrupted_import(tmp_path, command)
    assert (proc.returncode, proc.stderr, proc.stdout) == (130, "nnarray: interrupted\n", "")


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX signal")
def test_a_program_that_imports_nnarray_keeps_pythons_ctrl_c(tmp_path):
    import signal

    proc = _interrupted_import(tmp_path, ["-c", "import nnarray"])
    assert proc.returncode == -signal.SIGINT, proc.stderr[-2000:]
    assert proc.stderr.rstrip().endswith("KeyboardInterrupt"), proc.stderr[-2000:]
