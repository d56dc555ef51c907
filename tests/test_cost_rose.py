"""A run that blows up but stays finite is no silent success: when the last
recorded cost exceeds the first, ``fit`` warns (``CostRoseWarning``) and
the command line says so in one line, suggesting a smaller rate."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import nnarray as nn
from nnarray import cli


def test_full_batch_at_a_huge_rate_warns_that_the_cost_rose():
    X, Y = nn.datasets.planar_flower(m=200, seed=1)
    net = nn.Network([2, 4, 1], hidden="tanh", seed=2, dtype="float64")
    with pytest.warns(nn.CostRoseWarning, match=r"the cost rose over the run, from [\d.]+ at "
                                                r"iteration 0 to .* at iteration 1999: "
                                                r"learning_rate=1e\+06 is likely too large; "
                                                r"try a smaller one \(e\.g\. 100000\)"):
        hist = net.fit(X, Y, iterations=2000, learning_rate=1e6, progress=False)
    assert hist.costs[-1] > hist.costs[0] and np.isfinite(hist.costs).all()
    with pytest.warns(nn.CostRoseWarning) as seen:
        net.fit(X, Y, iterations=20, learning_rate=1e6, progress=False)
    assert seen[0].filename == __file__  # the user's call of fit
    assert issubclass(nn.CostRoseWarning, RuntimeWarning)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_regressor_at_a_huge_rate_warns_though_its_first_epoch_blew_up(seed):
    """The first epoch's mean cost already holds the blow-up (~1e26), so the
    rise is measured from the starting parameters' cost."""
    pytest.importorskip("sklearn")
    from nnarray.sklearn import NNRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    with pytest.warns(nn.CostRoseWarning, match=r"from [\d.]+ \(the starting parameters'\) "
                                                r"to .*e\+\d+ at epoch 99: learning_rate=1e\+06"):
        NNRegressor(learning_rate=1e6, random_state=seed).fit(X, X @ np.array([1.0, 2.0, 3.0]))


def test_a_mini_batch_run_that_learns_does_not_warn():
    X, Y = nn.datasets.planar_flower(m=400, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", nn.CostRoseWarning)
        hist = nn.Network([2, 8, 1], hidden="tanh", seed=2).fit(
            X, Y, epochs=20, batch_size=32, optimizer="adam", learning_rate=0.01,
            dropout={1: 0.8}, l2=0.5, progress=False)
    assert len(hist.costs) == 20


def test_a_run_whose_cost_falls_does_not_warn():
    X, Y = nn.datasets.planar_flower(m=200, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", nn.CostRoseWarning)
        hist = nn.Network([2, 4, 1], hidden="tanh", seed=2).fit(
            X, Y, iterations=500, learning_rate=1.2, progress=False)
    assert hist.costs[-1] < hist.costs[0]


def test_the_command_line_warns_in_one_line_and_still_saves(tmp_path, capsys):
    model = tmp_path / "m.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("error", nn.CostRoseWarning)  # not Python's warning: its own line
        status = cli.main(["train", "--dataset", "planar", "--quiet", "--learning-rate", "1e6",
                           "--save", str(model)])
    assert status == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("nnarray: warning: the cost rose over the run, from 0.69"), err
    assert "--learning-rate 1e+06 is likely too large; try a smaller one" in err[0]
    assert nn.load(model).layer_dims == [2, 4, 1]


def test_a_flat_runs_noise_is_no_rise():
    """A rise within 1 % of the first cost (a flat mini-batch run) does not warn."""
    from nnarray.train import cost_rose

    flat = nn.History(iterations=[64, 128], costs=[0.656035, 0.658469], epochs=[0, 1])
    assert cost_rose(flat, 0.01) is None
    risen = nn.History(iterations=[64, 128], costs=[0.656035, 0.67], epochs=[0, 1])
    assert cost_rose(risen, 0.01).startswith("the cost rose over the run, from 0.656035 at "
                                             "epoch 0 to 0.67 at epoch 1")
