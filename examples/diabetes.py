"""Regression on the diabetes data (442 patients, 10 features): a network with a
linear output against scikit-learn's MLPRegressor, same architecture and epochs.

Needs scikit-learn (its bundled ``load_diabetes``; no download).

    python examples/diabetes.py --device auto
"""

from __future__ import annotations

import time
import warnings

import nnarray as nn

from _common import network, parse, run_quietly, save_plot, table

HIDDEN = (32,)


def main(argv: list[str] | None = None) -> dict[str, tuple[float, float]]:
    args = parse(__doc__, argv, dtype="float32", iterations=50)
    from sklearn.datasets import load_diabetes
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPRegressor
    from sklearn.preprocessing import StandardScaler

    X, y = load_diabetes(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0)
    scale = StandardScaler().fit(X_tr)
    X_tr, X_te = scale.transform(X_tr), scale.transform(X_te)
    mean, std = y_tr.mean(), y_tr.std()
    t_tr, t_te = (y_tr - mean) / std, (y_te - mean) / std
    epochs = args.iterations
    results = {}

    net = network(args, [10, *HIDDEN, 1], hidden="relu", output="linear", init="he", seed=0)
    start = time.perf_counter()
    hist = net.fit(X_tr.T, t_tr[None], learning_rate=1e-3, optimizer="adam", batch_size=32,
                   epochs=epochs)
    seconds = time.perf_counter() - start
    results["nnarray"] = (net.score(X_te.T, t_te[None]), seconds)

    mlp = MLPRegressor(hidden_layer_sizes=HIDDEN, solver="adam", learning_rate_init=1e-3,
                       batch_size=32, max_iter=epochs, alpha=0.0, tol=0.0,
                       n_iter_no_change=10**9, random_state=0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X_tr, t_tr)
    results["scikit-learn MLPRegressor"] = (mlp.score(X_te, t_te), time.perf_counter() - start)

    print(table(["model", "test R²", "seconds"],
                [[k, r2, round(s, 2)] for k, (r2, s) in results.items()]))
    print(f"{epochs} epochs, batch 32, Adam α=0.001, hidden {HIDDEN}; nnarray on "
          f"{net.device} ({net.backend}, {net.dtype})")
    save_plot(args, "diabetes_cost.png", nn.plot.cost_curve, hist,
              title="diabetes: mean mini-batch squared error per epoch")
    return results


if __name__ == "__main__":
    run_quietly(main)
