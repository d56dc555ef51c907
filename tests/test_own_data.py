"""Your own data from the command line: the head from the labels, a seeded
stratified held-out split, standardization folded into the saved network,
``nnarray predict`` on CSV rows, arrays and pictures, and what a model file
remembers of its data."""

from __future__ import annotations

import argparse
import json
import re
import warnings
import zipfile

import numpy as np
import pytest

import nnarray as nn
from nnarray import cli, io, prepare


def main(capsys, *argv: str) -> tuple[int, str, str]:
    """``nnarray ARGV`` in this process: (exit status, stdout, stderr)."""
    try:
        status = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # a usage error, from argparse
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def refused(capsys, *argv: str) -> str:
    """The one line ``nnarray ARGV`` ends with, exit status 2."""
    status, _, err = main(capsys, *argv)
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def scores(out: str) -> dict[str, tuple[float, float]]:
    """{set: (cost, score)} of the table ``nnarray train``/``evaluate`` print."""
    return {k: (float(c), float(s)) for k, c, s in re.findall(
        r"^(train|test|all) *\| *([-+.\de]+) *\| *([-+.\de]+) *$", out, re.M)}


def write_csv(path, X, y, header=True) -> None:
    """Examples as rows, the label last (strings allowed), as a user writes them."""
    lines = [",".join([f"f{j}" for j in range(X.shape[1])] + ["label"])] if header else []
    lines += [",".join([*(repr(float(v)) for v in row), str(label)])
              for row, label in zip(X, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")


def iris_like(m: int = 90, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three separable classes of 4 features on very different scales, string labels."""
    rng = np.random.default_rng(seed)
    k = np.arange(m) % 3
    X = rng.normal(size=(m, 4)) * 0.3 + k[:, None] * np.array([1.0, -1.0, 2.0, 0.5])
    X = X * np.array([1.0, 100.0, 0.01, 1000.0]) + np.array([0.0, 5000.0, 0.0, -30.0])
    return X, np.array(["setosa", "versicolor", "virginica"])[k]


# ---------------------------------------------------------------------- #
# folding: the saved network on raw features is the trained one on scaled features


@pytest.mark.parametrize(("dims", "output"), [
    ([5, 7, 1], "sigmoid"), ([5, 6, 4, 3], "softmax"), ([5, 7, 2], "linear"),
    ([5, 1], "linear"), ([5, 3], "softmax")])
def test_folded_network_on_raw_features_equals_trained_one_on_scaled(dims, output):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5, 40)) * np.array([[1], [50], [1e-3], [7], [1]]) + 3
    X[4] = 2.5  # a constant feature: s = 1
    Y = rng.normal(size=(dims[-1], 40)) * 30 + 100
    xs = prepare.Scaling.of(X)
    ys = prepare.Scaling.of(Y) if output == "linear" else None
    assert xs.scale[4, 0] == 1.0
    net = nn.Network(dims, output=output, seed=3, dtype="float64")
    folded = nn.Network(dims, output=output, init=prepare.fold(net.parameters, xs, ys),
                        dtype="float64")
    scaled = net.predict_proba(xs.apply(X))
    if ys is not None:  # the target's scaling undone: raw values
        scaled = scaled * ys.scale + ys.mean
    np.testing.assert_allclose(folded.predict_proba(X), scaled, rtol=1e-10, atol=1e-10)
    assert not np.allclose(net.predict_proba(X), scaled)  # the folding did something


def test_training_statistics_come_from_the_training_split_only():
    X, y = iris_like()
    p = prepare.prepare(X.T, y.reshape(1, -1), seed=4)
    train, test = p.indices
    np.testing.assert_allclose(p.x_scaling.mean[:, 0], X[train].mean(axis=0))
    np.testing.assert_allclose(p.x_scaling.scale[:, 0], X[train].std(axis=0))
    np.testing.assert_allclose(p.train[0].mean(axis=1), 0, atol=1e-9)
    np.testing.assert_allclose(p.train[0].std(axis=1), 1)
    np.testing.assert_allclose(p.test[0], (X[test].T - p.x_scaling.mean) / p.x_scaling.scale)
    assert prepare.prepare(X.T, y.reshape(1, -1), scale=False).x_scaling is None


# ---------------------------------------------------------------------- #
# heads from the labels


@pytest.mark.parametrize(("labels", "output", "classes", "encoded"), [
    ([4, 2, 4, 2], "sigmoid", [2, 4], [1, 0, 1, 0]),  # the larger value is 1
    ([1.5, -3.0, 1.5], "sigmoid", [-3.0, 1.5], [1, 0, 1]),
    (["yes", "no", "yes"], "sigmoid", ["no", "yes"], [1, 0, 1]),
    ([3, 1, 2, 3], "softmax", [1, 2, 3], [2, 0, 1, 2]),
    (["b", "c", "a", "b"], "softmax", ["a", "b", "c"], [1, 2, 0, 1]),
    (list(range(20)), "softmax", list(range(20)), list(range(20))),
    (list(range(21)), "linear", None, list(range(21))),  # more than 20 integers: values
    ([0.5, 1.25, 2.0, 3.0], "linear", None, [0.5, 1.25, 2.0, 3.0]),
])
def test_the_head_follows_the_labels(labels, output, classes, encoded):
    got = prepare.encode_labels(np.array([labels]))
    assert got.output == output and got.classes == classes
    np.testing.assert_array_equal(got.Y, [encoded])
    assert got.units == (len(classes) if output == "softmax" else 1)


def test_output_overrides_the_head_and_impossible_heads_are_refused():
    assert prepare.encode_labels(np.array([[1, 2, 3]]), "linear").output == "linear"
    assert prepare.encode_labels(np.array([[0.5, 1.5]]), "softmax").classes == [0.5, 1.5]
    for labels, output, message in [
            ([[1, 2, 3]], "sigmoid", "hold 3 distinct values (1, 2, 3): a sigmoid head needs "
                                     "exactly 2 classes"),
            ([["a", "b"]], "linear", "are strings ('a', 'b'): a linear head needs numbers"),
            ([[7, 7]], None, "hold one value only (7): nothing to learn"),
            ([[1, np.nan]], None, "NaN or inf"),
            ([[1, 2]], "tanh", "--output must be one of")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            prepare.encode_labels(np.array(labels), output)


# ---------------------------------------------------------------------- #
# the held-out split


def test_the_split_is_seeded_stratified_and_a_fifth_by_default():
    classes = np.array([0] * 70 + [1] * 20 + [2] * 10)
    train, test = prepare.split(100, 0.2, 7, classes)
    assert len(test) == 20 and len(train) == 80 and not set(train) & set(test)
    assert np.bincount(classes[test]).tolist() == [14, 4, 2]  # 20 % of each class
    again = prepare.split(100, 0.2, 7, classes)
    np.testing.assert_array_equal(test, again[1])
    assert not np.array_equal(test, prepare.split(100, 0.2, 8, classes)[1])
    assert len(prepare.split(569, 0.2, 1)[1]) == 114  # ceil, as scikit-learn's
    train, test = prepare.split(10, 0.0, 1)
    assert len(train) == 10 and len(test) == 0
    with pytest.raises(ValueError, match="--test-size 0.99 of 10 examples leaves none"):
        prepare.split(10, 0.99, 1)


# ---------------------------------------------------------------------- #
# string labels in a CSV


def test_load_csv_keeps_string_labels_with_or_without_a_header(tmp_path):
    X, y = iris_like(9)
    for header in (True, False):
        path = tmp_path / f"iris{header}.csv"
        write_csv(path, X, y, header=header)
        Xr, Yr = nn.datasets.load_csv(path)
        assert Xr.shape == (4, 9) and Yr.shape == (1, 9)
        np.testing.assert_allclose(Xr, X.T)
        assert Yr.tolist() == [y.tolist()]
    (tmp_path / "bad.csv").write_text("a,b,label\n1,x,yes\n2,3,no\n")
    with pytest.raises(ValueError, match="every feature value must be numeric"):
        nn.datasets.load_csv(tmp_path / "bad.csv")


# ---------------------------------------------------------------------- #
# the command


@pytest.fixture()
def iris_csv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X, y = iris_like()
    write_csv(tmp_path / "iris.csv", X, y)
    return tmp_path / "iris.csv"


def test_train_on_string_labels_holds_out_and_prints_train_and_test(iris_csv, capsys):
    status, out, _ = main(capsys, "train", "--dataset", "iris.csv", "--quiet", "--device",
                          "cpu", "--save", "iris.npz")
    assert status == 0
    assert ("iris.csv: 4 features, standardized; softmax head (3 classes: setosa, versicolor, "
            "virginica); 72 examples to train on, 18 held out (seed 1)") in out
    got = scores(out)
    assert set(got) == {"train", "test"} and got["test"][1] >= 0.9
    net = nn.load("iris.npz")
    assert net.layer_dims == [4, 8, 3] and net.output == "softmax"
    assert net.metadata == {"classes": ["setosa", "versicolor", "virginica"],
                            "input": {"kind": "table", "columns": 4},
                            "dataset": {"name": "iris.csv", "test_size": 0.2, "seed": 1}}
    # the saved network reads raw features: evaluate prints the same rows, on the same split
    status, again, _ = main(capsys, "evaluate", "iris.npz")
    assert status == 0 and scores(again) == got
    X, y = iris_like()
    write_csv(iris_csv.parent / "more.csv", X[:30], y[:30])  # another file: scored whole
    status, out, _ = main(capsys, "evaluate", "iris.npz", "--dataset", "more.csv")
    assert status == 0 and list(scores(out)) == ["all"]
    status, out, _ = main(capsys, "train", "--dataset", "iris.csv", "--quiet", "--layers",
                          "4,8,3", "--device", "cpu")  # the course's --layers works too
    assert status == 0 and "test  |" in out


def test_layers_that_do_not_fit_the_head_and_options_of_builtin_sets_are_refused(
        iris_csv, capsys):
    assert refused(capsys, "train", "--dataset", "iris.csv", "--layers", "4,8,1") == (
        "nnarray: error: --layers 4,8,1 ends with 1 units, but the labels of 'iris.csv' make "
        "a softmax head of 3 units: end --layers with 3, or choose the head with --output")
    assert "--output applies to your own data" in refused(
        capsys, "train", "--dataset", "planar", "--output", "linear")
    assert "--test-size applies to your own data" in refused(
        capsys, "train", "--dataset", "xor", "--test-size", "0.3")
    assert "must be a fraction in [0, 1)" in refused(
        capsys, "train", "--dataset", "iris.csv", "--test-size", "1")


def test_output_option_overrides_the_labels(iris_csv, tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    write_csv(tmp_path / "r.csv", X, (X[:, 0] > 0).astype(int) * 2 + 1)  # labels 1 and 3
    status, out, _ = main(capsys, "train", "--dataset", "r.csv", "--quiet", "--output",
                          "linear", "--device", "cpu")
    assert status == 0 and "linear head" in out and re.search(r"\| +R²$", out, re.M)


def test_evaluate_uses_the_recorded_dataset_or_asks_for_one(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status, out, _ = main(capsys, "train", "--dataset", "planar", "--iterations", "30",
                          "--quiet", "--device", "cpu", "--save", "flower.npz")
    assert status == 0
    status, again, _ = main(capsys, "evaluate", "flower.npz")  # planar's, not cat's
    assert status == 0 and scores(again) == scores(out)
    nn.Network([2, 4, 1]).save("old.npz")  # a model that records no dataset
    assert refused(capsys, "evaluate", "old.npz") == (
        "nnarray: error: 'old.npz' does not record the dataset it was trained on: give "
        "--dataset (cat, planar, xor or your file) or --data")
    status, out, _ = main(capsys, "evaluate", "old.npz", "--dataset", "planar")
    assert status == 0 and "train |" in out


def _help(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


@pytest.mark.parametrize("command", ["train", "evaluate", "predict"])
def test_the_help_states_every_default(command):
    parser = _help(cli._parser(), command)
    for action in parser._actions:
        if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
            assert "default" in (action.help or ""), action.option_strings
    if command == "train":
        dataset = next(a for a in parser._actions if "--dataset" in a.option_strings)
        assert "default: cat" in dataset.help
    for name in ("--layers", "--hidden", "--init", "--iterations", "--learning-rate",
                 "--output", "--test-size", "--seed", "--dataset"):
        action = next((a for a in parser._actions if name in a.option_strings), None)
        assert action is None or "default" in action.help, name


# ---------------------------------------------------------------------- #
# the scores scikit-learn users expect, on the same split


def _scikit_learn_split(name: str, tmp_path):
    datasets = pytest.importorskip("sklearn.datasets")
    data = {"bc": datasets.load_breast_cancer, "digits": datasets.load_digits,
            "diabetes": datasets.load_diabetes}[name]()
    path = tmp_path / f"{name}.csv"
    write_csv(path, data.data, [f"{v:g}" for v in data.target])
    return data.data, data.target, path


@pytest.mark.parametrize("name", ["bc", "digits", "diabetes"])
def test_scikit_learn_sets_reach_their_scores_from_the_command_line(name, tmp_path,
                                                                   monkeypatch, capsys):
    pipeline = pytest.importorskip("sklearn.pipeline")
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LinearRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    X, y, path = _scikit_learn_split(name, tmp_path)
    monkeypatch.chdir(tmp_path)
    status, out, err = main(capsys, "train", "--dataset", path.name, "--quiet", "--device",
                            "cpu")
    assert status == 0, err
    test = scores(out)["test"][1]
    labels = prepare.encode_labels(y.reshape(1, -1))
    train_rows, test_rows = prepare.split(len(y), 0.2, 1, None if name == "diabetes"
                                          else labels.Y[0])
    if name == "diabetes":
        reference, margin = LinearRegression(), 0.1
    else:
        reference, margin = pipeline.make_pipeline(StandardScaler(),
                                                   MLPClassifier(random_state=0)), 0.03
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference.fit(X[train_rows], y[train_rows])
    want = reference.score(X[test_rows], y[test_rows])
    assert test >= want - margin, (name, test, want)


# ---------------------------------------------------------------------- #
# predict


def test_predict_csv_rows_and_arrays(iris_csv, tmp_path, capsys):
    assert main(capsys, "train", "--dataset", "iris.csv", "--quiet", "--device", "cpu",
                "--save", "iris.npz")[0] == 0
    X, y = iris_like()
    rows = X[:5]
    np.savetxt("new.csv", rows, delimiter=",")  # no header
    np.save("new.npy", rows)
    np.savez("new.npz", X=rows)
    net = nn.load("iris.npz")
    A = np.asarray(net.predict_proba(rows.T))
    want = [f"{['setosa', 'versicolor', 'virginica'][i]} {A[i, j]:.6f}"
            for j, i in enumerate(A.argmax(axis=0))]
    status, out, _ = main(capsys, "predict", "iris.npz", "new.csv", "new.npy", "new.npz")
    assert status == 0
    assert out.splitlines() == [f"{f}:{j + 1}: {w}" for f in ("new.csv", "new.npy", "new.npz")
                                for j, w in enumerate(want)]
    assert [line.split()[1] for line in out.splitlines()[:5]] == y[:5].tolist()
    (tmp_path / "h.csv").write_text("a,b,c,d\n" + ",".join(str(float(v)) for v in rows[0]) + "\n")
    status, out, _ = main(capsys, "predict", "iris.npz", "h.csv")  # a header
    assert status == 0 and out == f"h.csv:1: {want[0]}\n"


def test_predict_a_regression_prints_values(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(2)
    X = rng.normal(size=(80, 3)) * [1, 10, 100]
    write_csv(tmp_path / "r.csv", X, X @ [1.0, 0.2, 0.03] + 50)
    assert main(capsys, "train", "--dataset", "r.csv", "--quiet", "--device", "cpu",
                "--save", "r.npz")[0] == 0
    np.save("x.npy", X[:2])
    status, out, _ = main(capsys, "predict", "r.npz", "x.npy")
    values = np.asarray(nn.load("r.npz").predict_proba(X[:2].T))[0]
    assert status == 0 and out.splitlines() == [f"x.npy:{i + 1}: {v:.6g}"
                                                for i, v in enumerate(values)]


@pytest.fixture()
def cat_model(tmp_path_factory):
    """The cat network after 20 of the course's iterations, saved by the command."""
    where = tmp_path_factory.mktemp("cat")
    path = where / "cat.npz"
    assert cli.main(["train", "--dataset", "cat", "--iterations", "20", "--quiet",
                     "--device", "cpu", "--save", str(path)]) == 0
    return path


def test_predict_the_cats_first_test_picture_as_the_array_does(cat_model, tmp_path,
                                                                capsys):
    Image = pytest.importorskip("PIL.Image")
    capsys.readouterr()
    net = nn.load(cat_model)
    assert net.metadata["input"] == {"kind": "picture", "height": 64, "width": 64,
                                     "channels": 3, "scale": 255}
    assert net.metadata["classes"] == ["non-cat", "cat"]
    _, (X_test, _) = nn.datasets.load_cat_vs_noncat()
    p = float(np.asarray(net.predict_proba(X_test[:, :1]))[0, 0])
    picture = nn.datasets.cat_images()[1][0]
    Image.fromarray(picture).save(tmp_path / "first.png")
    status, out, _ = main(capsys, "predict", cat_model, tmp_path / "first.png")
    label, prob = ("cat", p) if p > 0.5 else ("non-cat", 1 - p)
    assert status == 0 and out == f"{tmp_path / 'first.png'}: {label} {prob:.6f}\n"
    # grayscale and RGBA pictures are converted, other sizes resized
    Image.fromarray(picture).convert("L").save(tmp_path / "gray.png")
    Image.fromarray(picture).convert("RGBA").resize((128, 96)).save(tmp_path / "rgba.png")
    Image.fromarray(picture).save(tmp_path / "first.jpg", quality=95)
    status, out, _ = main(capsys, "predict", cat_model, tmp_path / "gray.png",
                          tmp_path / "rgba.png", tmp_path / "first.jpg")
    assert status == 0
    assert [line.split(": ")[0] for line in out.splitlines()] == [
        str(tmp_path / n) for n in ("gray.png", "rgba.png", "first.jpg")]
    gray = np.asarray(Image.open(tmp_path / "gray.png").convert("RGB"), dtype=float)
    p_gray = float(np.asarray(net.predict_proba(gray.reshape(-1, 1) / 255))[0, 0])
    label, prob = ("cat", p_gray) if p_gray > 0.5 else ("non-cat", 1 - p_gray)
    assert out.splitlines()[0].endswith(f": {label} {prob:.6f}")


def test_predict_refusals_are_one_line(cat_model, iris_csv, tmp_path, capsys, monkeypatch):
    Image = pytest.importorskip("PIL.Image")
    assert main(capsys, "train", "--dataset", "iris.csv", "--quiet", "--device", "cpu",
                "--save", "iris.npz")[0] == 0
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save("small.png")
    assert refused(capsys, "predict", "iris.npz", "small.png") == (
        "nnarray: error: 'small.png' is a picture, but 'iris.npz' was trained on a table of "
        "4 columns, not on pictures: give it .csv, .npy or .npz rows")
    np.savetxt("five.csv", np.ones((2, 5)), delimiter=",")
    assert refused(capsys, "predict", "iris.npz", "five.csv") == (
        "nnarray: error: 'five.csv' has 5 columns, but 'iris.npz' takes 4: the training "
        "columns without the label (the label's column too? leave it out)")
    np.save("three.npy", np.ones((2, 3)))
    assert refused(capsys, "predict", "iris.npz", "three.npy") == (
        "nnarray: error: 'three.npy' has 3 columns, but 'iris.npz' takes 4: the training "
        "columns without the label")
    (tmp_path / "bad.npy").write_text("not an array\n")
    assert refused(capsys, "predict", "iris.npz", "bad.npy") == (
        "nnarray: error: 'bad.npy' is not a .npy file: it does not start as a NumPy array does")
    (tmp_path / "notes.png").write_text("not a picture\n")
    assert refused(capsys, "predict", cat_model, "notes.png") == (
        "nnarray: error: 'notes.png' is not a picture Pillow can read (nor a .csv, .npy or "
        ".npz file)")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 32)  # 8×8 = 64 pixels: a "bomb"
    assert refused(capsys, "predict", cat_model, "small.png") == (
        "nnarray: error: 'small.png' is a picture over Pillow's decompression-bomb limit "
        "(32 pixels): refused")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 16)  # over twice the limit: an error
    assert "decompression-bomb limit" in refused(capsys, "predict", cat_model, "small.png")


# ---------------------------------------------------------------------- #
# what the model file remembers


def _rewrite_meta(path, **changes) -> None:
    """Rewrite the metadata of the model file ``path`` with ``changes`` (None removes)."""
    with zipfile.ZipFile(path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    arrays = {n[:-4]: np.load(__import__("io").BytesIO(b)) for n, b in entries.items()
              if n != "__nnarray_meta__.npy"}
    meta = json.loads(np.load(__import__("io").BytesIO(entries["__nnarray_meta__.npy"]))
                      .tobytes())
    for k, v in changes.items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v
    raw = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays, __nnarray_meta__=raw)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("classes", ["a"], "classes must be a list of 2 to 100,000 labels"),
    ("classes", ["a", "b", "c"], "3 classes do not fit a sigmoid output (2 classes)"),
    ("classes", ["a", "a"], "classes must be distinct"),
    ("classes", [[1], 2], "classes[0] must be a string"),
    ("input", {"kind": "table", "columns": 3}, "input describes 3 input values, but "
                                               "layer_dims[0] is 4"),
    ("input", {"kind": "picture", "height": 2, "width": 2, "channels": 1, "scale": 0},
     "input.scale must be a finite number > 0"),
    ("input", {"kind": "sound"}, "input must be {'kind': 'table'"),
    ("dataset", {"name": ""}, "dataset must be {'name': a non-empty string"),
    ("dataset", {"name": "d.csv", "test_size": 1.5}, "dataset.test_size must be a number in "
                                                     "[0, 1)"),
    ("dataset", {"name": "d.npz", "examples_as_rows": "yes"},
     "dataset.examples_as_rows must be true or false"),
])
def test_the_new_metadata_is_checked_on_load_and_on_save(tmp_path, key, value, message):
    path = tmp_path / "m.npz"
    net = nn.Network([4, 3, 1])
    net.metadata = {"classes": [0, 1], "input": {"kind": "table", "columns": 4},
                    "dataset": {"name": "d.csv", "test_size": 0.2, "seed": 1}}
    net.save(path)
    assert nn.load(path).metadata == net.metadata
    _rewrite_meta(path, **{key: value})
    with pytest.raises(ValueError, match=re.escape(message)):
        nn.load(path)
    before = path.read_bytes()
    net.metadata = {key: value}
    with pytest.raises(ValueError, match=re.escape(message)):
        net.save(path)
    assert path.read_bytes() == before  # refused before anything is written


def test_files_without_the_new_keys_still_load(tmp_path):
    path = tmp_path / "old.npz"
    nn.Network([4, 3, 1]).save(path)
    _rewrite_meta(path, classes=None, input=None, dataset=None)
    net = nn.load(path)
    assert net.metadata == {} and net.layer_dims == [4, 3, 1]
    assert io.DESCRIPTION_KEYS == ("classes", "input", "dataset")
