"""The lecture runnable: datasets, examples, the nnarray command, plots, and
the course's published training results."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import nnarray as nn

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_"))
HAVE_MPL = importlib.util.find_spec("matplotlib") is not None


def run(*args, cwd=None, check=True):
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd,
                          env={"MPLBACKEND": "Agg", "PATH": "", "PYTHONPATH": path})
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


# ---------------------------------------------------------------------- #
def test_cat_vs_noncat_layout():
    (X_train, Y_train), (X_test, Y_test) = nn.datasets.load_cat_vs_noncat()
    assert X_train.shape == (12288, 209) and Y_train.shape == (1, 209)
    assert X_test.shape == (12288, 50) and Y_test.shape == (1, 50)
    assert Y_train.sum() == 72 and Y_test.sum() == 33
    assert 0 <= X_train.min() and X_train.max() <= 1
    train_images, _ = nn.datasets.cat_images()
    np.testing.assert_array_equal(X_train, train_images.reshape(209, -1).T / 255)
    # row-major over (H, W, C): the first column's first 3 values are pixel (0, 0)'s RGB
    np.testing.assert_array_equal(X_train[:3, 0] * 255, train_images[0, 0, 0])


def test_planar_flower_and_xor():
    X, Y = nn.datasets.planar_flower(m=400, seed=1)
    assert X.shape == (2, 400) and Y.shape == (1, 400) and Y.sum() == 200
    rng = np.random.RandomState(1)
    t = np.linspace(0, 3.12, 200) + rng.randn(200) * 0.2
    r = 4 * np.sin(4 * t) + rng.randn(200) * 0.2
    # exact: the course's generator, the same NumPy operations in the same order
    np.testing.assert_array_equal(X[:, :200], np.vstack([r * np.sin(t), r * np.cos(t)]))
    X, Y = nn.datasets.xor(3)
    assert X.shape == (3, 8) and len({tuple(c) for c in X.T}) == 8
    np.testing.assert_array_equal(Y[0], X.sum(axis=0) % 2)
    with pytest.raises(ValueError, match="m must be an even integer"):
        nn.datasets.planar_flower(m=3)
    with pytest.raises(ValueError, match="n_bits must be an integer from 1 to 20"):
        nn.datasets.xor(0)


def test_user_data_loaders(tmp_path):
    rows = np.array([[0.1, 0.2, 1], [0.3, 0.4, 0], [0.5, 0.6, 1]])
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,label\n" + "\n".join(",".join(map(str, r)) for r in rows))
    X, Y = nn.datasets.load_csv(csv, label_column="label")
    np.testing.assert_array_equal(X, rows[:, :2].T)
    np.testing.assert_array_equal(Y, [[1, 0, 1]])
    X2, Y2 = nn.datasets.load_csv(csv)  # the last column by default
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(Y2, Y)
    npz = tmp_path / "d.npz"
    np.savez(npz, X=rows[:, :2].T, Y=rows[:, 2])
    X3, Y3 = nn.datasets.load_npz(npz)
    np.testing.assert_array_equal(X3, X)
    np.testing.assert_array_equal(Y3, Y)
    with pytest.raises(ValueError, match="label_column='y' is not in the header"):
        nn.datasets.load_csv(csv, label_column="y")
    np.savez(npz, X=rows[:, :2].T, Y=rows[:2, 2])
    with pytest.raises(ValueError, match="X has m=3 examples but Y has 2"):
        nn.datasets.load_npz(npz)
    with pytest.raises(FileNotFoundError, match="no data file"):
        nn.datasets.load_csv(tmp_path / "missing.csv")


@pytest.mark.parametrize(("text", "message"), [
    ("", "holds no examples"),
    ("a,label\n", "holds no examples"),
    ("1\n2\n3\n", "must have 2 columns or more, the features and the label, got 1"),
])
def test_a_csv_without_examples_or_features_is_refused_naming_the_file(tmp_path, text,
                                                                      message):
    csv = tmp_path / "bad.csv"
    csv.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's "input contained no data" stays inside
        with pytest.raises(ValueError, match=re.escape(f"{str(csv)!r} {message}")):
            nn.datasets.load_csv(csv)


# ---------------------------------------------------------------------- #
NEEDS_SKLEARN = {"digits.py", "diabetes.py"}


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_runs(example, tmp_path):
    if example in NEEDS_SKLEARN and importlib.util.find_spec("sklearn") is None:
        pytest.skip("this example needs scikit-learn, which is not installed")
    proc = run(str(ROOT / "examples" / example), "--device", "cpu", "--iterations", "3",
               "--plots", str(tmp_path), cwd=tmp_path)
    assert "-+-" in proc.stdout  # every example prints a results table
    pngs = list(tmp_path.glob("*.png"))
    assert bool(pngs) == HAVE_MPL


def test_quickstart_on_another_backend(tmp_path):
    pytest.importorskip("array_api_strict")
    proc = run(str(ROOT / "examples" / "quickstart.py"), "--device", "cpu", "--backend",
               "array_api_strict", "--iterations", "3", cwd=tmp_path)
    assert "array_api_strict" in proc.stdout


# ---------------------------------------------------------------------- #
def test_cli_train_save_plot_evaluate(tmp_path):
    proc = run("-m", "nnarray", "train", "--dataset", "planar", "--iterations", "20",
               "--record-every", "10", "--device", "cpu", "--save", "m.npz", "--plot", "c.png",
               cwd=tmp_path, check=False)
    assert proc.returncode == (0 if HAVE_MPL else 2), proc.stderr
    assert "accuracy" in proc.stdout and "iteration" in proc.stdout
    assert (tmp_path / "m.npz").exists()
    net = nn.load(tmp_path / "m.npz")
    assert net.layer_dims == [2, 4, 1] and net.hidden == "tanh"
    proc = run("-m", "nnarray", "evaluate", "m.npz", "--dataset", "planar", cwd=tmp_path)
    assert f"{net.score(*nn.datasets.planar_flower()):.6g}" in proc.stdout


def test_cli_train_cat_prints_train_and_test(tmp_path):
    proc = run("-m", "nnarray", "train", "--dataset", "cat", "--iterations", "2", "--quiet",
               cwd=tmp_path)
    assert "train |" in proc.stdout and "test  |" in proc.stdout


def test_cli_user_csv(tmp_path):
    X, Y = nn.datasets.planar_flower(m=40)
    table = np.hstack([X.T, Y.T])
    np.savetxt(tmp_path / "d.csv", table, delimiter=",", header="x1,x2,y", comments="")
    args = ["-m", "nnarray", "train", "--dataset", "d.csv", "--layers", "2,3,1", "--hidden",
            "tanh", "--iterations", "5", "--learning-rate", "0.5"]
    proc = run(*args, cwd=tmp_path)  # 20 % held out: 8 of the 40 examples
    assert "train |" in proc.stdout and "test  |" in proc.stdout.split("set")[-1]
    assert "32 examples to train on, 8 held out" in proc.stdout
    proc = run(*args, "--test-size", "0", cwd=tmp_path)  # trains on everything
    assert "train |" in proc.stdout and "test" not in proc.stdout.split("set")[-1]


@pytest.mark.parametrize(
    ("args", "message"),
    [(["train", "--dataset", "nope"], "--dataset must be cat, planar, xor"),
     (["train", "--dataset", "planar", "--layers", "3,4,1", "--iterations", "1"],
      "X has 2 rows but the network's input layer has n_x=3"),
     (["train", "--dataset", "planar", "--learning-rate", "-1", "--iterations", "1"],
      "argument --learning-rate: must be a finite number > 0"),
     (["train", "--dataset", "planar", "--device", "tpu"], "device must be"),
     (["evaluate", "missing.npz"], "no model file"),
     (["train", "--dataset", "planar", "--learning-rate", "1e6", "--iterations", "50",
       "--hidden", "relu"], "diverged")],
)
def test_cli_errors_are_one_line(tmp_path, args, message):
    proc = run("-m", "nnarray", *args, cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr


def test_cli_info_lists_backends_and_devices():
    proc = run("-m", "nnarray", "info")
    assert "array-api-compat" in proc.stdout and "devices: cpu" in proc.stdout
    for name in ("numpy", "cupy", "torch", "jax", "dask", "array_api_strict"):
        assert name in proc.stdout


def test_cli_info_says_whether_cupy_replays_cuda_graphs(capsys, monkeypatch):
    from nnarray import backend, cli
    from nnarray.engines import gemm

    monkeypatch.setattr(backend, "no_gpu_reason", lambda asked="gpu": None)  # a GPU here
    monkeypatch.setattr(gemm, "available", lambda: (False, "nvmath-python is not installed"))
    assert cli.main(["info"]) == 0
    assert "CuPy CUDA graphs: no, CuPy runs step by step: nvmath-python is not installed" \
        in capsys.readouterr().out
    monkeypatch.setattr(gemm, "available", lambda: (True, ""))
    assert cli.main(["info"]) == 0
    assert "CuPy CUDA graphs: yes" in capsys.readouterr().out
    monkeypatch.setattr(backend, "no_gpu_reason", lambda asked="gpu": "no driver")
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "no GPU: no driver" in out and "CuPy CUDA graphs: no, CuPy runs step by step: " \
        "no GPU here" in out


# ---------------------------------------------------------------------- #
@pytest.mark.skipif(not HAVE_MPL, reason="matplotlib is not installed")
def test_plots(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    X, Y = nn.datasets.planar_flower(m=40)
    net = nn.Network([2, 3, 1], hidden="tanh")
    h = net.fit(X, Y, iterations=5, learning_rate=0.5, record_every=2)
    ax = nn.plot.cost_curve({"a": h, "b": h}, path=tmp_path / "c.png")
    assert len(ax.lines) == 2 and list(ax.lines[0].get_xdata()) == h.iterations
    nn.plot.decision_boundary(net, X, Y, path=tmp_path / "d.png", resolution=20)
    assert (tmp_path / "c.png").stat().st_size > 1000 and (tmp_path / "d.png").exists()
    with pytest.raises(ValueError, match="n_x=2"):
        nn.plot.decision_boundary(nn.Network([3, 1]), X, Y)


def test_plot_without_matplotlib_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install 'nnarray\[plot\]'"):
        nn.plot.cost_curve(nn.History())


# ---------------------------------------------------------------------- #
# The course's published results, with its initialization, in float64.
# ---------------------------------------------------------------------- #
def _examples_module(name):
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "examples"))


def test_course_cat_results(tmp_path):
    lr = _examples_module("logistic_regression_cat").main(
        ["--device", "cpu", "--plots", str(tmp_path)])
    assert lr["train"] == pytest.approx(0.9904306220095693) and lr["test"] == 0.70
    deep = _examples_module("cat_deep").main(["--device", "cpu", "--plots", str(tmp_path)])
    assert deep["2-layer"] == (1.0, 0.72)
    assert deep["4-layer"] == (pytest.approx(206 / 209), 0.80)


def test_course_flower_results(tmp_path):
    results = _examples_module("planar").main(["--device", "cpu", "--plots", str(tmp_path)])
    assert results["logistic regression"] == pytest.approx(0.47, abs=0.01)
    assert results["4 tanh units"] == pytest.approx(0.90, abs=0.01)
