"""ONNX export: the graph ndonnx records from ``model_forward``, run by
onnxruntime, gives ``predict_proba``'s values and ``predict``'s labels, for
every activation, head, dtype, layout and backend; from Python, from
scikit-learn's estimators and from the command line. Skipped without the
``onnx`` extra (ndonnx, onnx, onnxruntime)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import nnarray as nn
from nnarray import backend, cli, prepare

pytest.importorskip("ndonnx", reason="ONNX export needs the onnx extra: pip install "
                    "'nnarray[onnx]'")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

HIDDEN = ["relu", "leaky_relu", "tanh", "sigmoid"]
HEADS = ["sigmoid", "softmax", "linear"]
BATCHES = [1, 2, 64]
MARGIN = 1e-6
"""Labels may differ where a probability is this close to the decision."""


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run(path, X):
    """onnxruntime's outputs for X, by name."""
    s = session(path)
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, {"X": X}), strict=True))


def assert_probabilities(got, want, dtype, output):
    """The export's tolerances: 1e-12 in float64; in float32 1e-6 absolute, or
    1e-6 × max(1, max |value|) for a linear head."""
    assert got.dtype == want.dtype == np.dtype(dtype)
    assert got.shape == want.shape
    if dtype == "float64":
        tol = 1e-12
    else:
        tol = 1e-6 * (max(1.0, float(np.abs(want).max())) if output == "linear" else 1.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)


def assert_labels(got, want, AL, output):
    """``labels`` equals ``predict``'s (as int64), except where the decision is
    within MARGIN (sigmoid: |p − 0.5|; softmax: the two largest of a column)."""
    assert got.dtype == np.int64
    assert got.shape == want.shape
    if output == "sigmoid":
        sure = np.abs(AL - 0.5) > MARGIN
    else:
        top = np.sort(AL, axis=0)
        sure = np.broadcast_to(top[-1] - top[-2] > MARGIN, want.shape)
    assert sure.mean() > 0.9  # the comparison is not vacuous
    np.testing.assert_array_equal(got[sure], want.astype(np.int64)[sure])


def example_net(hidden, output, dtype, n_x=5, seed=3, **kw):
    return nn.Network([n_x, 8, 6, 3], hidden=hidden, output=output, dtype=dtype, seed=seed, **kw)


def inputs(n_x, m, dtype, seed=0):
    return (3 * np.random.default_rng(seed).standard_normal((n_x, m))).astype(dtype)


@pytest.mark.parametrize("rows", [False, True], ids=["columns", "rows"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("output", HEADS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_the_graph_gives_predict_proba_and_predict(tmp_path, hidden, output, dtype, rows):
    net = example_net(hidden, output, dtype)
    path = net.to_onnx(tmp_path / "net.onnx", examples_as_rows=rows)
    assert path == tmp_path / "net.onnx"
    for m in BATCHES:
        X = inputs(5, m, dtype, seed=m)
        out = run(path, np.ascontiguousarray(X.T) if rows else X)
        AL = np.asarray(net.predict_proba(X))
        got = out["probabilities"]
        assert_probabilities(got.T if rows else got, AL, dtype, output)
        if output == "linear":
            assert list(out) == ["probabilities"]
            continue
        labels = out["labels"]
        if rows:  # (m,) for one row of labels, (m, n[L]) for several
            assert labels.shape == ((m,) if output == "softmax" else (m, 3))
            labels = labels[None, :] if labels.ndim == 1 else labels.T
        assert_labels(labels, np.asarray(net.predict(X)), AL, output)


@pytest.mark.parametrize("rows", [False, True], ids=["columns", "rows"])
def test_one_sigmoid_unit_labels_are_one_row(tmp_path, rows):
    net = nn.Network([4, 5, 1], hidden="tanh", output="sigmoid", seed=2)
    path = net.to_onnx(tmp_path / "n.onnx", examples_as_rows=rows)
    X = inputs(4, 9, "float32")
    out = run(path, X.T.copy() if rows else X)
    assert out["probabilities"].shape == ((9, 1) if rows else (1, 9))
    assert out["labels"].shape == ((9,) if rows else (1, 9))
    want = np.asarray(net.predict(X)).astype(np.int64)
    np.testing.assert_array_equal(out["labels"], want[0] if rows else want)


@pytest.mark.parametrize("rows", [False, True], ids=["columns", "rows"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_graph_interface(tmp_path, dtype, rows):
    net = example_net("relu", "softmax", dtype)
    path = net.to_onnx(tmp_path / "net.onnx", examples_as_rows=rows)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    elem = {"float32": onnx.TensorProto.FLOAT, "float64": onnx.TensorProto.DOUBLE}[dtype]
    (x,) = model.graph.input
    assert x.name == "X" and x.type.tensor_type.elem_type == elem
    dims = x.type.tensor_type.shape.dim
    batch, features = (dims[0], dims[1]) if rows else (dims[1], dims[0])
    assert batch.dim_param and not batch.HasField("dim_value")  # dynamic batch
    assert features.dim_value == 5
    outputs = {o.name: o.type.tensor_type.elem_type for o in model.graph.output}
    assert outputs == {"probabilities": elem, "labels": onnx.TensorProto.INT64}
    ops = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    assert ops["ai.onnx"] >= 21 and model.ir_version >= 10  # documented on the Deploy page
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["layer_dims"] == "[5, 8, 6, 3]"
    assert (meta["hidden"], meta["output"]) == ("relu", "softmax")
    assert meta["layout"] == ("rows" if rows else "columns")
    assert meta["nnarray_version"] == nn.__version__
    assert model.producer_name == "nnarray"

    def products(graph):  # MatMul nodes, those in subgraphs (ndonnx's If guards) included
        return sum((n.op_type == "MatMul") + sum(products(a.g) for a in n.attribute)
                   for n in graph.node)

    assert products(model.graph) == 3  # W[l] A[l-1], one per layer: the lecture's forward


def test_a_logistic_regression_exports(tmp_path):
    X = inputs(3, 40, "float64")
    Y = (X[:1] + X[1:2] > 0).astype(np.float64)
    lr = nn.LogisticRegression(3, dtype="float64")
    lr.fit(X, Y, iterations=50, learning_rate=0.1, progress=False)
    out = run(lr.to_onnx(tmp_path / "lr.onnx"), X)
    assert_probabilities(out["probabilities"], np.asarray(lr.predict_proba(X)), "float64",
                         "sigmoid")


def test_a_trained_cat_net_exports(tmp_path):
    (X, Y), (X_test, _) = nn.datasets.load_cat_vs_noncat()
    net = nn.Network([12288, 20, 7, 5, 1], init="xavier", seed=1, dtype="float32")
    net.fit(X, Y, iterations=30, learning_rate=0.0075, progress=False)
    X_test = X_test.astype(np.float32)
    out = run(net.to_onnx(tmp_path / "cat.onnx"), X_test)
    AL = np.asarray(net.predict_proba(X_test))
    assert_probabilities(out["probabilities"], AL, "float32", "sigmoid")
    assert_labels(out["labels"], np.asarray(net.predict(X_test)), AL, "sigmoid")


def test_networks_from_every_backend_export(tmp_path, case):
    net = nn.Network([4, 6, 3], hidden="tanh", output="softmax", seed=5, backend=case.backend,
                     device=case.device, dtype=case.dtype)
    X = inputs(4, 7, case.dtype)
    AL = backend.to_numpy(net.predict_proba(case.asarray(X)))
    out = run(net.to_onnx(tmp_path / "net.onnx"), X)
    assert_probabilities(out["probabilities"], AL, case.dtype, "softmax")
    assert net.backend == case.backend and net.device == case.device  # left where it was


def test_a_fresh_process_with_only_onnxruntime_gives_the_same(tmp_path):
    net = example_net("leaky_relu", "softmax", "float32")
    path = net.to_onnx(tmp_path / "net.onnx", examples_as_rows=True)
    X = inputs(5, 33, "float32")
    np.save(tmp_path / "X.npy", np.ascontiguousarray(X.T))
    code = textwrap.dedent("""
        import sys
        import numpy as np
        import onnxruntime as ort
        s = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
        p, labels = s.run(["probabilities", "labels"], {"X": np.load(sys.argv[2])})
        np.save(sys.argv[3], p)
        np.save(sys.argv[4], labels)
        print(sorted(m for m in ("nnarray", "ndonnx", "spox", "onnx") if m in sys.modules))
    """)
    args = [str(path), str(tmp_path / "X.npy"), str(tmp_path / "p.npy"), str(tmp_path / "l.npy")]
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    AL = np.asarray(net.predict_proba(X))
    assert_probabilities(np.load(tmp_path / "p.npy").T, AL, "float32", "softmax")
    assert_labels(np.load(tmp_path / "l.npy")[None, :], np.asarray(net.predict(X)), AL,
                  "softmax")


# ---------------------------------------------------------------------- #
# scikit-learn


def test_nnclassifier_exports_rows_with_its_classes(tmp_path):
    pytest.importorskip("sklearn")
    from nnarray.sklearn import NNClassifier

    rng = np.random.default_rng(1)
    X = rng.standard_normal((120, 4))
    y = np.array(["bird", "cat", "dog"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)]
    clf = NNClassifier(hidden_layer_sizes=(8,), epochs=20, random_state=0).fit(X, y)
    path = clf.to_onnx(tmp_path / "clf.onnx")
    model = onnx.load(str(path))
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["classes"]) == ["bird", "cat", "dog"]
    assert meta["estimator"] == "NNClassifier" and meta["layout"] == "rows"
    for m in (1, 120):
        out = run(path, X[:m])
        assert_probabilities(out["probabilities"], clf.predict_proba(X[:m]), "float64",
                             "softmax")
        assert out["labels"].shape == (m,)
        classes = np.array(json.loads(meta["classes"]))
        np.testing.assert_array_equal(classes[out["labels"]], clf.predict(X[:m]))


def test_nnregressor_exports_rows(tmp_path):
    pytest.importorskip("sklearn")
    from nnarray.sklearn import NNRegressor

    rng = np.random.default_rng(2)
    X = rng.standard_normal((80, 3))
    y = 10 * X[:, 0] - 4 * X[:, 1] ** 2 + 7
    reg = NNRegressor(hidden_layer_sizes=(16,), epochs=30, random_state=0).fit(X, y)
    path = reg.to_onnx(tmp_path / "reg.onnx")
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert "classes" not in meta and meta["output"] == "linear"
    out = run(path, X)
    assert list(out) == ["probabilities"]
    assert_probabilities(out["probabilities"][:, 0], reg.predict(X), "float64", "linear")
    cols = run(reg.to_onnx(tmp_path / "cols.onnx", examples_as_rows=False), X.T.copy())
    assert_probabilities(cols["probabilities"][0], reg.predict(X), "float64", "linear")


def test_an_unfitted_estimator_refuses_to_export(tmp_path):
    pytest.importorskip("sklearn")
    from sklearn.exceptions import NotFittedError

    from nnarray.sklearn import NNClassifier

    with pytest.raises(NotFittedError):
        NNClassifier().to_onnx(tmp_path / "x.onnx")
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------- #
# the command line


@pytest.mark.parametrize("rows", [False, True], ids=["columns", "rows"])
def test_nnarray_export(tmp_path, capsys, rows):
    net = example_net("tanh", "sigmoid", "float64")
    net.save(tmp_path / "model.npz")
    argv = ["export", str(tmp_path / "model.npz"), str(tmp_path / "model.onnx")]
    assert cli.main(argv + (["--examples-as-rows"] if rows else [])) == 0
    assert "saved" in capsys.readouterr().out
    X = inputs(5, 20, "float64")
    out = run(tmp_path / "model.onnx", X.T.copy() if rows else X)
    got = out["probabilities"].T if rows else out["probabilities"]
    assert_probabilities(got, np.asarray(net.predict_proba(X)), "float64", "sigmoid")


@pytest.mark.parametrize("head", ["sigmoid", "linear"])
def test_nnarray_export_of_a_model_trained_from_the_command_line(tmp_path, head):
    # features on scales far apart: the command standardizes them (and a linear
    # head's target) and folds that into the saved weights, so the graph reads raw X
    rng = np.random.default_rng(4)
    X = rng.standard_normal((3, 60)) * np.array([[1000.0], [0.001], [50.0]]) + [[7.0], [0], [3.0]]
    Y = (X[0:1] / 1000 - X[2:3] / 50 > 0).astype(np.float64) if head == "sigmoid" else (
        300.0 * X[0:1] / 1000 + 5.0)
    np.savez(tmp_path / "data.npz", X=X, Y=Y)
    assert cli.main(["train", "--dataset", str(tmp_path / "data.npz"), "--layers", "3,4,1",
                     "--output", head, "--iterations", "50", "--quiet", "--seed", "3",
                     "--save", str(tmp_path / "m.npz")]) == 0
    assert cli.main(["export", str(tmp_path / "m.npz"), str(tmp_path / "m.onnx")]) == 0
    net = nn.load(tmp_path / "m.npz")
    out = run(tmp_path / "m.onnx", X.astype(net.dtype))["probabilities"]
    # the reference by hand: the training split's statistics, the weights unfolded,
    # the lecture's forward pass on standardized features, its output unscaled
    p = prepare.prepare(X, Y, output=head, seed=3)
    xs, ys = p.x_scaling, p.y_scaling
    params = {k: np.asarray(v, dtype=np.float64) for k, v in net.parameters.items()}
    params["b1"] = params["b1"] + params["W1"] @ xs.mean
    params["W1"] = params["W1"] * xs.scale.T
    if ys is not None:
        params["W2"], params["b2"] = params["W2"] / ys.scale, (params["b2"] - ys.mean) / ys.scale
    A, _ = nn.propagation.model_forward(xs.apply(X), params, hidden=net.hidden, output=head)
    want = A if ys is None else A * ys.scale + ys.mean
    assert_probabilities(out, want.astype(net.dtype), net.dtype, head)
    assert_probabilities(out, np.asarray(net.predict_proba(X.astype(net.dtype))), net.dtype,
                         head)


def test_nnarray_export_refuses_to_overwrite_its_model(tmp_path, capsys):
    example_net("relu", "sigmoid", "float32").save(tmp_path / "model.npz")
    before = (tmp_path / "model.npz").read_bytes()
    assert cli.main(["export", str(tmp_path / "model.npz"), str(tmp_path / "model.npz")]) == 2
    assert "OUT" in capsys.readouterr().err
    assert (tmp_path / "model.npz").read_bytes() == before


@pytest.mark.parametrize("problem", ["missing model", "no model", "missing folder"])
def test_nnarray_export_errors_are_one_line_and_write_nothing(tmp_path, capsys, problem):
    (tmp_path / "notes.txt").write_text("not a model")
    model = {"missing model": tmp_path / "nope.npz", "no model": tmp_path / "notes.txt",
             "missing folder": tmp_path / "m.npz"}[problem]
    if problem == "missing folder":
        example_net("relu", "sigmoid", "float32").save(model)
        out = tmp_path / "absent" / "m.onnx"
    else:
        out = tmp_path / "m.onnx"
    assert cli.main(["export", str(model), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nnarray: error: ") and err.count("\n") == 1
    assert str(model if problem != "missing folder" else out.parent) in err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]


# ---------------------------------------------------------------------- #
# writing


def test_an_unwritable_path_leaves_no_file(tmp_path):
    net = example_net("relu", "sigmoid", "float32")
    with pytest.raises(FileNotFoundError, match="absent"):
        net.to_onnx(tmp_path / "absent" / "net.onnx")
    with pytest.raises(IsADirectoryError):
        net.to_onnx(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_write_that_fails_leaves_the_old_file_and_no_partial_one(tmp_path, monkeypatch):
    from nnarray import onnx as export

    net = example_net("relu", "sigmoid", "float32")
    path = tmp_path / "net.onnx"
    path.write_bytes(b"the user's file")

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export.os, "fsync", full)
    with pytest.raises(OSError, match="No space left") as info:
        net.to_onnx(path)
    assert str(path) in str(info.value) and ".tmp" not in str(info.value)
    assert path.read_bytes() == b"the user's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.onnx"]
    monkeypatch.undo()
    net.to_onnx(path)  # and a write that succeeds replaces it whole
    assert session(path).get_inputs()[0].name == "X"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.onnx"]


def test_an_interrupted_export_leaves_no_partial_file(tmp_path, monkeypatch):
    from nnarray import onnx as export

    net = example_net("relu", "sigmoid", "float32")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(export.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        net.to_onnx(tmp_path / "net.onnx")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_keeps_its_mode(tmp_path):
    path = tmp_path / "net.onnx"
    path.write_bytes(b"")
    path.chmod(0o640)
    example_net("relu", "sigmoid", "float32").to_onnx(path)
    assert path.stat().st_mode & 0o777 == 0o640


def test_without_ndonnx_export_says_what_to_install(tmp_path, monkeypatch, capsys):
    net = example_net("relu", "sigmoid", "float32")
    net.save(tmp_path / "model.npz")
    monkeypatch.setitem(sys.modules, "ndonnx", None)
    with pytest.raises(ImportError, match=r"nnarray\[onnx\]"):
        net.to_onnx(tmp_path / "net.onnx")
    assert cli.main(["export", str(tmp_path / "model.npz"), str(tmp_path / "net.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nnarray: error: ONNX export needs ndonnx") and "nnarray[onnx]" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_export_takes_parameters_from_any_library(tmp_path, case):
    from nnarray import onnx as export

    net = nn.Network([3, 4, 2], hidden="sigmoid", output="linear", seed=4, dtype=case.dtype,
                     backend=case.backend, device=case.device)
    path = export.export(net.parameters, tmp_path / "net.onnx", "sigmoid", "linear")
    X = inputs(3, 5, case.dtype)
    assert_probabilities(run(path, X)["probabilities"],
                         backend.to_numpy(net.predict_proba(case.asarray(X))), case.dtype,
                         "linear")


# ---------------------------------------------------------------------- #
# bad input


def test_export_checks_its_arguments(tmp_path):
    from nnarray import onnx as export

    params = {k: backend.to_numpy(v) for k, v in example_net("relu", "sigmoid",
                                                             "float32").parameters.items()}
    with pytest.raises(ValueError, match="hidden must be one of .* got 'swish'"):
        export.export(params, tmp_path / "a.onnx", "swish", "sigmoid")
    with pytest.raises(ValueError, match="output must be one of .* got 'tanh'"):
        export.export(params, tmp_path / "a.onnx", "relu", "tanh")
    with pytest.raises(ValueError, match=r"parameters must be .* got keys \['W1'\]"):
        export.export({"W1": params["W1"]}, tmp_path / "a.onnx")
    with pytest.raises(ValueError, match=r"W2 has shape \(6, 7\) but A1 has 8 rows"):
        export.export(dict(params, W2=params["W2"][:, :7]), tmp_path / "a.onnx")
    mixed = dict(params, b1=params["b1"].astype(np.float64))
    with pytest.raises(ValueError, match=r"all be float32 or all float64, got \['float32', "
                       r"'float64'\]"):
        export.export(mixed, tmp_path / "a.onnx")
    with pytest.raises(TypeError, match="examples_as_rows must be True or False, got 'yes'"):
        export.export(params, tmp_path / "a.onnx", examples_as_rows="yes")
    with pytest.raises(TypeError, match="metadata must map str to str, got 'n': 3"):
        export.export(params, tmp_path / "a.onnx", metadata={"n": 3})
    with pytest.raises(ValueError, match="metadata key 'layout' is one nnarray writes itself"):
        export.export(params, tmp_path / "a.onnx", metadata={"layout": "diagonal"})
    assert list(tmp_path.iterdir()) == []


def test_importing_the_module_imports_no_onnx_library():
    code = ("import sys, nnarray, nnarray.onnx\n"
            "print(sorted(m for m in ('ndonnx', 'onnx', 'onnxruntime', 'spox') "
            "if m in sys.modules))")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=root)
    assert out.stdout.strip() == "[]"


def test_the_benchmark_removes_the_guards_and_keeps_the_values(tmp_path):
    """benchmarks/onnx_predict.py prices ndonnx's If guards with a graph
    without them: it must compute the same."""
    root = Path(__file__).resolve().parents[1]
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from benchmarks import onnx_predict

    net = example_net("relu", "sigmoid", "float32")
    path = net.to_onnx(tmp_path / "net.onnx")
    model = onnx.load(str(path))
    assert onnx_predict.ops(model.graph)["If"] == 3
    assert onnx_predict.branch_ops(model.graph)["MatMul"] == 3
    bare = onnx_predict.without_guards(model)
    counted = onnx_predict.ops(bare.graph)
    assert counted["If"] == counted["Size"] == counted["Equal"] == 0 and counted["MatMul"] == 3
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    X = inputs(5, 17, "float32")
    np.testing.assert_array_equal(run(tmp_path / "bare.onnx", X)["probabilities"],
                                  run(path, X)["probabilities"])
    left = onnx_predict.optimized_ops(path)
    assert left["If"] == 3  # onnxruntime's optimizer keeps the guards (as RESULTS.md says)
