"""Every cost checks the shapes of AL and Y, on every backend, before any
arithmetic could broadcast them; and the stable binary cross-entropy needs no
Python scalar as an array argument."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import nnarray as nn
from nnarray import backend, losses

from ._helpers import assert_close

AL_ROW = np.array([[0.8, 0.9, 0.4, 0.3, 0.6]])  # (1, 5): one output unit, m = 5
Y_ROW = np.array([[1.0, 1.0, 0.0, 0.0, 1.0]])


def _reference(AL: np.ndarray, Y: np.ndarray) -> float:
    return float(-np.mean(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)))


# (name, cost(AL, Y)) for every public way of getting a cost or an output error
COSTS = [
    ("binary_cross_entropy", losses.binary_cross_entropy),
    ("binary_cross_entropy from logits",
     lambda AL, Y: losses.binary_cross_entropy(AL, Y, from_logits=True)),
    ("categorical_cross_entropy", losses.categorical_cross_entropy),
    ("categorical_cross_entropy from logits",
     lambda AL, Y: losses.categorical_cross_entropy(AL, Y, from_logits=True)),
    ("mean_squared_error", losses.mean_squared_error),
    *[(f"output_cost {o}", lambda AL, Y, o=o: losses.output_cost(AL, AL, Y, o))
      for o in losses.OUTPUTS],
    *[(f"output_dA {o}", lambda AL, Y, o=o: losses.output_dA(AL, Y, o)) for o in losses.OUTPUTS],
    *[(f"output_dZ {o}", lambda AL, Y, o=o: losses.output_dZ(AL, Y, o)) for o in losses.OUTPUTS],
]
NAMES = [name for name, _ in COSTS]


def test_the_silent_broadcast_this_guards_against():
    """Unchecked, AL (1, 5) minus Y (5, 1) is (5, 5): a wrong number, no error."""
    assert (AL_ROW - Y_ROW.T).shape == (5, 5)
    broadcast = -np.mean(Y_ROW.T * np.log(AL_ROW) + (1 - Y_ROW.T) * np.log(1 - AL_ROW)) * 5
    assert abs(broadcast - _reference(AL_ROW, Y_ROW)) > 1


@pytest.mark.parametrize(("name", "cost"), COSTS, ids=NAMES)
def test_transposed_labels_are_refused_with_the_fix(case, name, cost):
    AL, Y = case.asarray(AL_ROW), case.asarray(Y_ROW.T)
    with pytest.raises(ValueError, match=r"Y has shape \(5, 1\) but AL has shape \(1, 5\)"
                                         r".*pass Y\.T"):
        cost(AL, Y)


@pytest.mark.parametrize(("name", "cost"), COSTS, ids=NAMES)
def test_1d_inputs_are_refused_with_the_reshape(case, name, cost):
    with pytest.raises(ValueError, match=r"Y has shape \(1, 5\) but AL has shape \(5,\).*"
                                         r"2-D.*AL\.reshape\(1, 5\)"):
        cost(case.asarray(AL_ROW[0]), case.asarray(Y_ROW))
    with pytest.raises(ValueError, match=r"Y has shape \(5,\) but AL has shape \(1, 5\).*"
                                         r"Y\.reshape\(1, 5\)"):
        cost(case.asarray(AL_ROW), case.asarray(Y_ROW[0]))


@pytest.mark.parametrize(("name", "cost"), COSTS, ids=NAMES)
def test_other_mismatches_name_both_shapes(case, name, cost):
    AL = case.asarray(np.vstack([AL_ROW, 1 - AL_ROW]))
    with pytest.raises(ValueError, match=r"Y has shape \(1, 5\) but AL has shape \(2, 5\): "
                                         r"they must be equal \(n_y, m\)"):
        cost(AL, case.asarray(Y_ROW))
    with pytest.raises(ValueError, match=r"Y has shape \(1, 4\) but AL has shape \(1, 5\)"):
        cost(case.asarray(AL_ROW), case.asarray(Y_ROW[:, :4]))


def test_the_right_shapes_give_the_lectures_cost_without_a_host_sync(case):
    AL, Y = case.asarray(AL_ROW), case.asarray(Y_ROW)
    before = backend.sync_count()
    J = losses.binary_cross_entropy(AL, Y)
    J_logits = losses.output_cost(case.asarray(np.log(AL_ROW / (1 - AL_ROW))), AL, Y, "sigmoid")
    assert backend.sync_count() == before  # the check reads shapes only
    assert_close(J, _reference(AL_ROW, Y_ROW), case)
    assert_close(J_logits, _reference(AL_ROW, Y_ROW), case)


def test_network_cost_is_unchanged_by_the_check(case):
    X, Y = nn.datasets.planar_flower(m=40)
    net = nn.Network([2, 3, 1], hidden="tanh", init="xavier", seed=1,
                     backend=case.backend, device=case.device, dtype=case.dtype)
    AL = backend.to_numpy(net.predict_proba(X)).astype(np.float64)
    assert net.cost(X, Y) == pytest.approx(_reference(AL, Y), rel=1e-5)


# ---------------------------------------------------------------------- #
Z_EDGE = np.array([[-0.0, 0.0, 1e-310, -1e-310, 3.5, -3.5, 40.0, -40.0, 800.0, -800.0]])
Y_EDGE = np.array([[1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0]])


def test_stable_form_is_bit_for_bit_the_max_form(case):
    """softplus(z) = max(z, 0) + log1p(e^-|z|), written with xp.where: the same
    bits as xp.maximum(Z, 0.0) on every backend, signed zeros and extremes included."""
    xp = case.xp
    Z, Y = case.asarray(Z_EDGE), case.asarray(Y_EDGE)
    m = Z.shape[1]
    with case.target.context():
        old = xp.sum(xp.maximum(Z, 0.0) + xp.log1p(xp.exp(-xp.abs(Z))) - Y * Z) / m
        new = losses.binary_cross_entropy(Z, Y, from_logits=True)
    np.testing.assert_array_equal(backend.to_numpy(new), backend.to_numpy(old))
    assert np.isfinite(backend.to_numpy(new))


def test_stable_form_still_propagates_nan():
    Z = np.array([[np.nan, 1.0]])
    assert np.isnan(losses.binary_cross_entropy(Z, np.array([[1.0, 0.0]]), from_logits=True))


def test_no_python_scalar_is_an_array_argument_in_the_losses():
    """``xp.maximum(Z, 0.0)`` makes a host tensor on torch every call (it breaks
    CUDA-graph capture); comparisons and arithmetic with scalars do not."""
    tree = ast.parse((Path(losses.__file__)).read_text())
    offenders = [
        f"losses.py:{node.lineno} {ast.unparse(node)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("maximum", "minimum", "where")
        and any(isinstance(a, ast.Constant | ast.UnaryOp) for a in node.args)
    ]
    assert not offenders, offenders
