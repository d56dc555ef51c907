"""nnarray.sklearn: scikit-learn's own estimator checks, pipelines, grid search."""

from __future__ import annotations

import re

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.datasets import make_blobs, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from nnarray.sklearn import NNClassifier, NNRegressor  # noqa: E402


@parametrize_with_checks([NNClassifier(), NNRegressor()])
def test_check_estimator(estimator, check):
    check(estimator)


def test_classifier_in_a_pipeline_with_string_labels():
    X, y = make_blobs(n_samples=300, centers=3, random_state=0)
    labels = np.array(["cat", "dog", "owl"])[y]
    model = make_pipeline(StandardScaler(), NNClassifier(hidden_layer_sizes=(16,),
                                                          epochs=50, random_state=0))
    model.fit(X, labels)
    clf = model[-1]
    assert list(clf.classes_) == ["cat", "dog", "owl"]
    proba = model.predict_proba(X)
    assert proba.shape == (300, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    from sklearn.neural_network import MLPClassifier

    peer = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,), max_iter=50,
                                                         batch_size=64, random_state=0))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer.fit(X, labels)
    assert model.score(X, labels) >= peer.score(X, labels) - 0.02
    assert set(model.predict(X)) <= {"cat", "dog", "owl"}


def test_grid_search_over_a_regressor():
    X, y = make_regression(n_samples=200, n_features=5, noise=1.0, random_state=0)
    y = (y - y.mean()) / y.std()
    search = GridSearchCV(NNRegressor(epochs=60, random_state=0),
                          {"hidden_layer_sizes": [(8,), (32,)], "learning_rate": [1e-2]},
                          cv=3)
    search.fit(X, y)
    assert search.best_score_ > 0.9
    assert search.predict(X).shape == (200,)


def test_same_random_state_same_model_on_other_backends():
    strict = pytest.importorskip("array_api_strict")
    X, y = make_blobs(n_samples=80, centers=2, random_state=1)
    a = NNClassifier(hidden_layer_sizes=(6,), epochs=5, random_state=3).fit(X, y)
    b = NNClassifier(hidden_layer_sizes=(6,), epochs=5, random_state=3,
                     backend="array_api_strict").fit(X, y)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-4, atol=1e-5)
    assert strict is not None


def _example(name):
    import importlib.util
    import sys
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "examples"
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(folder))


def test_digits_within_one_point_of_mlpclassifier(tmp_path):
    results = _example("digits").main(["--device", "cpu", "--plots", str(tmp_path)])
    ours, theirs = results["nnarray"][0], results["scikit-learn MLPClassifier"][0]
    assert ours >= theirs - 0.01 and ours > 0.95


def test_diabetes_regression_is_comparable_to_mlpregressor(tmp_path):
    results = _example("diabetes").main(["--device", "cpu", "--plots", str(tmp_path)])
    ours, theirs = results["nnarray"][0], results["scikit-learn MLPRegressor"][0]
    assert ours >= theirs - 0.05 and ours > 0.2


@pytest.mark.parametrize(("params", "error", "message"), [
    ({"hidden_layer_sizes": (2.7,)}, TypeError, "hidden_layer_sizes[0] must be an integer >= 1"),
    ({"hidden_layer_sizes": (4, True)}, TypeError, "hidden_layer_sizes[1] must be an integer"),
    ({"hidden_layer_sizes": (0,)}, ValueError, "hidden_layer_sizes[0] must be an integer >= 1"),
    ({"batch_size": "8"}, TypeError, "batch_size must be an integer >= 1, got '8'"),
    ({"learning_rate": "0.1"}, TypeError, "learning_rate must be a finite number > 0"),
    ({"l2": -1.0}, ValueError, "l2 must be a finite number >= 0"),
    ({"epochs": 2.5}, TypeError, "epochs must be an integer"),
])
@pytest.mark.parametrize("Estimator", [NNClassifier, NNRegressor])
def test_a_failed_refit_leaves_the_last_fitted_estimator(Estimator, params, error, message):
    X, y = make_blobs(n_samples=60, n_features=3, centers=2, random_state=0)
    estimator = Estimator(hidden_layer_sizes=(4,), epochs=2, random_state=0).fit(X, y)
    fitted = dict(estimator.__dict__)
    before = estimator.predict(X)
    # another problem: 2 features, 3 classes with string labels (the regressor: 3 values)
    X2, y2 = make_blobs(n_samples=60, n_features=2, centers=3, random_state=1)
    y2 = np.array(["a", "b", "c"])[y2] if Estimator is NNClassifier else y2.astype(float)
    estimator.set_params(**params)
    with pytest.raises(error, match=re.escape(message)):
        estimator.fit(X2, y2)
    assert estimator.__dict__.keys() == fitted.keys()
    for k, v in fitted.items():
        if k not in Estimator().get_params():
            assert estimator.__dict__[k] is v, k  # classes_, n_features_in_, network_, ...
    np.testing.assert_array_equal(estimator.predict(X), before)


def test_one_int_is_one_hidden_layer_as_in_scikit_learns_mlps():
    X, y = make_blobs(n_samples=40, n_features=3, centers=2, random_state=0)
    estimator = NNClassifier(hidden_layer_sizes=5, epochs=1, random_state=0).fit(X, y)
    assert estimator.network_.layer_dims == [3, 5, 2]
