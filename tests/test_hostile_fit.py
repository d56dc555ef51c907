"""Careless or hostile input to a fit: resuming past the total asked for,
edited checkpoint fields, values a cast overflows, bad seeds, dropout and
thresholds, NaN initial parameters. Each is refused with an error that names
what is wrong, before any parameter changes."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnarray as nn
from nnarray import io as nnio


def flower(m: int = 120) -> tuple[np.ndarray, np.ndarray]:
    return nn.datasets.planar_flower(m=m, seed=3)


def net() -> nn.Network:
    return nn.Network([2, 4, 1], hidden="tanh", seed=2, dtype="float64")


FULL = {"iterations": 300, "learning_rate": 0.5, "record_every": 50, "optimizer": "adam"}
MINI = {"epochs": 6, "batch_size": 32, "learning_rate": 0.05, "optimizer": "adam",
        "dropout": {1: 0.8}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Uninterrupted runs and the checkpoints they left: full batch at
    iteration 200, mini-batches at epoch 4 (with validation)."""
    X, Y = flower()
    where = tmp_path_factory.mktemp("runs")
    out = {}
    full = net()
    out["full_history"] = full.fit(X, Y, progress=False, checkpoint=where / "full.npz",
                                   checkpoint_every=200, **FULL)
    out["full"] = full.parameters
    mini = net()
    out["mini_history"] = mini.fit(X, Y, progress=False, checkpoint=where / "mini.npz",
                                   checkpoint_every=4, validation=(X, Y), **MINI)
    out["mini"] = mini.parameters
    out["dir"] = where
    return out


def edited(src, dst, edit):
    """A copy of the checkpoint ``src`` at ``dst`` with ``edit(training)``
    applied to its training state: a valid file (its CRCs are right)."""
    arrays, meta = nnio.load_arrays(src)
    meta = copy.deepcopy(meta)
    edit(meta["training"])
    nnio.save_arrays(dst, arrays, meta)
    return dst


# --- resuming past the total ---------------------------------------------------------------


def test_resume_past_the_iterations_asked_for_is_refused(runs):
    X, Y = flower()
    fresh = net()
    before = fresh.parameters
    kw = dict(FULL, iterations=150)
    with pytest.raises(ValueError, match=r"iteration 200, past the 150 iterations") as err:
        fresh.fit(X, Y, progress=False, resume=runs["dir"] / "full.npz", **kw)
    assert "full.npz" in str(err.value)
    for k, v in before.items():
        np.testing.assert_array_equal(fresh.parameters[k], v)


def test_resume_past_the_epochs_asked_for_is_refused(runs):
    X, Y = flower()
    with pytest.raises(ValueError, match=r"epoch 4, past the 3 epochs"):
        net().fit(X, Y, progress=False, resume=runs["dir"] / "mini.npz", validation=(X, Y),
                  **dict(MINI, epochs=3))


def test_resume_at_its_own_position_is_exact_but_for_the_last_record(runs, tmp_path):
    """A checkpoint at iteration 200 resumed with iterations=200: the
    parameters are those of an uninterrupted 200-iteration run, bit for bit
    (the same steps in the same order); the History lacks that run's last
    record (iteration 199), whose parameters the checkpoint does not hold."""
    X, Y = flower()
    whole = net()
    hist = whole.fit(X, Y, progress=False, **dict(FULL, iterations=200))
    resumed = net()
    rhist = resumed.fit(X, Y, progress=False, resume=runs["dir"] / "full.npz",
                        **dict(FULL, iterations=200))
    for k, v in whole.parameters.items():
        np.testing.assert_array_equal(resumed.parameters[k], v)
    assert hist.iterations[-1] == 199 and rhist.iterations == hist.iterations[:-1]
    assert rhist.costs == hist.costs[:-1]


def test_a_resumed_run_equals_the_uninterrupted_one(runs):
    """The baseline the refusals below protect: an unedited checkpoint resumes exactly."""
    X, Y = flower()
    again = net()
    hist = again.fit(X, Y, progress=False, resume=runs["dir"] / "full.npz", **FULL)
    assert hist.costs == runs["full_history"].costs
    for k, v in runs["full"].items():
        np.testing.assert_array_equal(again.parameters[k], v)


# --- checkpoint fields, edited with valid CRCs -----------------------------------------------


def _set(path, value):
    def edit(training):
        where = training
        for key in path[:-1]:
            where = where[key]
        where[path[-1]] = value(where[path[-1]]) if callable(value) else value
    return edit


FULL_EDITS = [
    (("position",), 100, "History's record points|step count"),
    (("position",), 175, "no record point"),
    (("position",), 1.5e2, "integer"),
    (("position",), True, "integer"),
    (("t",), 199, "step count t is 199"),
    (("t",), -1, "integer >= 0"),
    (("random_state", "state", "state"), -5, "random_state"),
    (("random_state", "bit_generator"), "MT19937", "random_state"),
    (("random_state",), "abc", "random_state"),
    (("history", "costs"), lambda c: [*c[:-1], float("nan")], "finite"),
    (("history", "costs"), lambda c: c[:-1], "costs for"),
    (("history", "iterations"), lambda i: [*i[:-1], i[-1] + 1], "record points"),
    (("history", "epochs"), [0], "epochs"),
    (("history", "val_costs"), lambda c: [0.5] * 4, "validation costs"),
    (("waited",), 1, "early stopping"),
    (("step_count",), "7", "integer"),
]


@pytest.mark.parametrize("path, value, message", FULL_EDITS,
                         ids=[f"{'.'.join(p)}-{i}" for i, (p, _, _) in enumerate(FULL_EDITS)])
def test_an_edited_full_batch_checkpoint_is_refused(runs, tmp_path, path, value, message):
    X, Y = flower()
    bad = edited(runs["dir"] / "full.npz", tmp_path / "bad.npz", _set(path, value))
    fresh = net()
    before = fresh.parameters
    with pytest.raises(ValueError, match=message) as err:
        fresh.fit(X, Y, progress=False, resume=bad, **FULL)
    assert "bad.npz" in str(err.value)
    for k, v in before.items():
        np.testing.assert_array_equal(fresh.parameters[k], v)


MINI_EDITS = [
    (("position",), 3, "step_count"),
    (("step_count",), 15, "step_count 15"),
    (("t",), 3, "step count t"),
    (("history", "epochs"), [0, 1, 2, 2], "epochs"),
    (("history", "val_costs"), lambda c: c[:-1], "validation costs"),
    (("best_cost",), lambda b: b * 0.5, "early stopping"),
    (("waited",), lambda w: w + 1, "early stopping"),
]


@pytest.mark.parametrize("path, value, message", MINI_EDITS,
                         ids=[".".join(p) for p, _, _ in MINI_EDITS])
def test_an_edited_mini_batch_checkpoint_is_refused(runs, tmp_path, path, value, message):
    X, Y = flower()
    bad = edited(runs["dir"] / "mini.npz", tmp_path / "bad.npz", _set(path, value))
    with pytest.raises(ValueError, match=message):
        net().fit(X, Y, progress=False, resume=bad, validation=(X, Y), **MINI)


def edited_array(src, dst, key, edit):
    """A copy of the checkpoint ``src`` at ``dst`` with ``edit`` applied to
    its array ``key`` in place (a valid file)."""
    arrays, meta = nnio.load_arrays(src)
    edit(arrays[key])
    nnio.save_arrays(dst, arrays, meta)
    return dst


def _nan(a):
    a[0, 0] = np.nan


def _inf(a):
    a[-1, 0] = np.inf


def _negative(a):
    a[0, 0] = -1e-3


ARRAY_EDITS = [
    ("full", "W2", _nan, "W2 holds NaN or inf"),
    ("full", "v.W1", _nan, r"v\.W1 holds NaN or inf"),
    ("full", "v.b2", _inf, r"v\.b2 holds NaN or inf"),
    ("full", "s.W2", _negative, r"s\.W2 holds negative values"),
    ("mini", "best.W1", _nan, r"best\.W1 holds NaN or inf"),
    ("mini", "s.b1", _inf, r"s\.b1 holds NaN or inf"),
]


@pytest.mark.parametrize("run, key, edit, message", ARRAY_EDITS,
                         ids=[f"{k}-{e.__name__[1:]}" for _, k, e, _ in ARRAY_EDITS])
def test_non_finite_or_negative_checkpoint_state_is_refused_naming_it(runs, tmp_path, run,
                                                                      key, edit, message):
    """NaN early-stopping parameters would end a fit with NaN weights, NaN
    parameters with a DivergenceError that says the last finite ones were
    kept, a NaN, infinite or negative moment with the learning rate blamed."""
    X, Y = flower()
    bad = edited_array(runs["dir"] / f"{run}.npz", tmp_path / "bad.npz", key, edit)
    kw = dict(validation=(X, Y), **MINI) if run == "mini" else FULL
    fresh = net()
    before = fresh.parameters
    with pytest.raises(ValueError, match=message) as err:
        fresh.fit(X, Y, progress=False, resume=bad, **kw)
    assert "bad.npz" in str(err.value) and "not a consistent nnarray checkpoint" in str(err.value)
    for k, v in before.items():
        np.testing.assert_array_equal(fresh.parameters[k], v)


FIELDS = ["position", "t", "step_count", "waited", "best_cost",
          ("history", "iterations"), ("history", "costs"), ("history", "epochs"),
          ("history", "val_costs"), ("random_state", "state", "state"),
          ("random_state", "state", "inc")]
VALUES = st.one_of(st.integers(-3, 2**70), st.floats(allow_nan=True, allow_infinity=True),
                   st.booleans(), st.none(), st.text(max_size=5),
                   st.lists(st.one_of(st.integers(-2, 400), st.floats()), max_size=6))


@settings(derandomize=True, max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(FIELDS), value=VALUES)
def test_fuzzed_checkpoint_fields_are_refused_or_resume_exactly(runs, tmp_path, field, value):
    """Any value in any state field: the resume is refused with a
    ``ValueError``, or it gives the uninterrupted run's result bit for bit
    (a value equal to the one written)."""
    X, Y = flower()
    mini = field in ("waited", "best_cost") or field[-1] in ("epochs", "val_costs")
    src = runs["dir"] / ("mini.npz" if mini else "full.npz")
    path = (field,) if isinstance(field, str) else field
    bad = edited(src, tmp_path / "fuzz.npz", _set(path, value))
    fresh = net()
    kw = dict(validation=(X, Y), **MINI) if mini else FULL
    try:
        hist = fresh.fit(X, Y, progress=False, resume=bad, **kw)
    except ValueError:
        return
    want_hist, want = ((runs["mini_history"], runs["mini"]) if mini
                       else (runs["full_history"], runs["full"]))
    assert hist.costs == want_hist.costs
    for k, v in want.items():
        np.testing.assert_array_equal(fresh.parameters[k], v)


# --- values and arguments -------------------------------------------------------------------


def test_float64_data_beyond_float32_is_reported_as_overflow():
    X, Y = flower(20)
    X = X.copy()
    X[0, 3] = 1e39
    network = nn.Network([2, 3, 1])  # float32
    with pytest.raises(ValueError, match="X has values beyond float32's range.*overflows"):
        network.fit(X, Y, iterations=1, progress=False)
    with pytest.raises(ValueError, match="contains NaN or inf"):
        X[0, 3] = math.inf
        network.fit(X, Y, iterations=1, progress=False)
    nn.Network([2, 3, 1], dtype="float64").fit(X[:, :3], Y[:, :3], iterations=1,
                                               progress=False)


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (1.5, TypeError),
                                         ("abc", TypeError), (True, TypeError)])
def test_a_bad_seed_is_named(seed, error):
    with pytest.raises(error, match="seed"):
        nn.Network([2, 3, 1], seed=seed)
    with pytest.raises(error, match="seed"):
        nn.init.initialize_parameters([2, 3, 1], seed=seed)


def test_a_legacy_seed_must_fit_numpy_randomstate():
    with pytest.raises(ValueError, match="seed.*2\\*\\*32"):
        nn.Network([2, 3, 1], seed=2**32, generator="legacy")
    nn.Network([2, 3, 1], seed=2**40)  # the default generator takes it


def test_a_dropout_keep_prob_that_is_not_a_number_is_named():
    X, Y = flower(20)
    with pytest.raises(TypeError, match="dropout keep_prob for layer 1 must be a number"):
        nn.Network([2, 3, 3, 1]).fit(X, Y, iterations=1, dropout={1: "abc"}, progress=False)


@pytest.mark.parametrize("threshold, error", [(math.nan, ValueError), (math.inf, ValueError),
                                              ("0.5", TypeError), (None, TypeError)])
def test_predict_refuses_a_threshold_that_is_not_a_finite_number(threshold, error):
    X, _ = flower(20)
    with pytest.raises(error, match="threshold"):
        nn.Network([2, 3, 1]).predict(X, threshold=threshold)


def test_nan_initial_parameters_are_refused(tmp_path):
    params = nn.init.initialize_parameters([2, 3, 1], seed=1, dtype="float64")
    params["b2"] = np.array([[math.nan]])
    with pytest.raises(ValueError, match=r"init\['b2'\] contains NaN"):
        nn.Network([2, 3, 1], init=params, dtype="float64")
    params["b2"] = np.array([[0.25]])  # then what save writes, load reads back
    path = tmp_path / "m.npz"
    nn.Network([2, 3, 1], init=params, dtype="float64").save(path)
    np.testing.assert_array_equal(nn.load(path).parameters["b2"], params["b2"])


_X, _Y = flower(20)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"learning_rate": "0.1"}, TypeError, "learning_rate must be a finite number > 0, got '0.1'"),
    ({"learning_rate": True}, TypeError, "learning_rate must be a finite number > 0, got True"),
    ({"learning_rate": 10**400}, ValueError, "learning_rate must be a finite number > 0, got 1"),
    ({"l2": "0.5"}, TypeError, "l2 must be a finite number >= 0, got '0.5'"),
    ({"decay_rate": np.True_}, TypeError, "decay_rate must be a finite number >= 0"),
    ({"dropout": {1: "0.5"}}, TypeError, r"keep_prob for layer 1 must be a number in \(0, 1\]"),
    ({"dropout": {1.0: 0.5}}, TypeError, r"a dropout layer \(a hidden layer\) must be an integer "
     "in 1..2, got 1.0"),
    ({"dropout": {3: 0.5}}, ValueError, r"dropout layer \(a hidden layer\) .* 1..2, got 3"),
    ({"iterations": 10**20}, ValueError, "iterations must be an integer in 0..9007199254740992"),
    ({"batch_size": 5, "epochs": 2**60}, ValueError, "epochs must be an integer in 0.."),
    ({"on_iteration": 5}, TypeError, "on_iteration must be a function or None, got 5"),
    ({"batch_size": 5, "epochs": 2, "on_epoch": "print"}, TypeError,
     "on_epoch must be a function or None, got 'print'"),
    ({"validation": (_X, None)}, TypeError, "with labels, got Y_val None"),
    ({"validation": (_X[:1], _Y)}, ValueError,
     r"validation \(X_val, Y_val\): X has 1 rows but the network's input layer has n_x=2"),
    ({"validation": 5}, TypeError, r"validation must be a pair \(X_val, Y_val\), got int"),
    ({"Y": None}, TypeError, r"Y must be the labels, an array \(n\[L\], m\), got None"),
])
def test_a_bad_fit_argument_is_named_and_changes_nothing(kwargs, error, message):
    network = nn.Network([2, 4, 3, 1], seed=1, dtype="float64")
    network.fit(_X, _Y, iterations=2, progress=False)
    before = {k: np.copy(v) for k, v in network.parameters.items()}
    history = network.history
    kwargs = {"iterations": 3, "Y": _Y, **kwargs}
    with pytest.raises(error, match=message):
        network.fit(_X, progress=False, **kwargs)
    assert network.history is history
    for k, v in network.parameters.items():
        np.testing.assert_array_equal(v, before[k])


def test_a_dropout_layer_may_be_any_integer_type():
    runs = []
    for layer in (np.int64(1), 1):
        network = nn.Network([2, 4, 3, 1], seed=1, dtype="float64")
        network.fit(_X, _Y, iterations=2, dropout={layer: 0.5}, progress=False)
        runs.append(network.parameters)
    plain = nn.Network([2, 4, 3, 1], seed=1, dtype="float64")
    plain.fit(_X, _Y, iterations=2, progress=False)
    for k, v in runs[0].items():
        np.testing.assert_array_equal(v, runs[1][k])  # the same run: layer 1 dropped out
    assert not np.array_equal(runs[0]["W1"], plain.parameters["W1"])


def test_dropout_on_a_network_without_hidden_layers_is_refused():
    with pytest.raises(ValueError, match="dropout applies to hidden layers, and this network "
                                         r"has none: got \{1: 0.5\}"):
        nn.Network([2, 1]).fit(_X, _Y, iterations=1, dropout={1: 0.5}, progress=False)


def test_a_masked_array_with_masked_values_is_refused_naming_it():
    network = nn.Network([2, 4, 1], seed=1, dtype="float64")
    before = {k: np.copy(v) for k, v in network.parameters.items()}
    masked = np.ma.masked_array(_X, mask=_X > 1)
    count = int((_X > 1).sum())
    with pytest.raises(TypeError, match=rf"X is a masked array with {count} masked values: "
                                        r"fill them \(X.filled\(value\)\)"):
        network.fit(masked, _Y, iterations=2, progress=False)
    with pytest.raises(TypeError, match="Y is a masked array with 1 masked values"):
        network.fit(_X, np.ma.masked_array(_Y, mask=np.arange(_Y.size).reshape(_Y.shape) == 3),
                    iterations=2, progress=False)
    with pytest.raises(TypeError, match="X is a masked array"):
        network.predict(masked)
    for k, v in network.parameters.items():
        np.testing.assert_array_equal(v, before[k])


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("wrap", [np.ma.masked_array, np.asmatrix])
def test_an_ndarray_subclass_without_masked_values_is_read_as_its_values(wrap):
    plain, wrapped = (nn.Network([2, 4, 1], seed=1, dtype="float64") for _ in range(2))
    plain.fit(_X, _Y, iterations=3, progress=False)
    wrapped.fit(wrap(_X), wrap(_Y), iterations=3, progress=False)
    for k, v in plain.parameters.items():
        np.testing.assert_array_equal(wrapped.parameters[k], v)
    np.testing.assert_array_equal(wrapped.predict_proba(wrap(_X)), plain.predict_proba(_X))


# --- what a DivergenceError says -------------------------------------------------------------


def _linear_net():
    return nn.Network([5, 8, 1], output="linear", seed=1)


def _normal():
    return np.random.default_rng(0).standard_normal((5, 400)).astype(np.float32)


def test_a_divergence_at_the_first_record_point_says_no_step_was_kept():
    X = _normal()
    fresh = _linear_net()
    start = fresh.parameters
    with pytest.raises(nn.DivergenceError, match="the cost is inf at iteration 0") as err:
        fresh.fit(X * 1e30, X[:1], iterations=5, learning_rate=0.1, progress=False)
    assert "the parameters the run started from were kept" in str(err.value)
    assert "last finite step" not in str(err.value)
    for k, v in start.items():
        np.testing.assert_array_equal(fresh.parameters[k], v)


def test_parameters_that_overflow_in_the_last_step_are_named_as_such():
    """No cost is computed after the last step: the error says the
    parameters overflowed, not that a cost at iteration 1 was NaN."""
    X = _normal()
    fresh = _linear_net()
    start = fresh.parameters
    with pytest.raises(nn.DivergenceError) as err:
        fresh.fit(X, 3 * X[:1], iterations=1, learning_rate=3e38, progress=False)
    message = str(err.value)
    assert "the parameters hold NaN or inf after iteration 0" in message
    assert "the parameters of iteration 0 (its cost finite) were kept" in message
    assert "cost is nan" not in message
    for k, v in start.items():
        np.testing.assert_array_equal(fresh.parameters[k], v)
