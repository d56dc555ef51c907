"""Multi-class digits (8×8 images, 10 classes): a softmax network with Adam and
mini-batches against scikit-learn's MLPClassifier, same architecture and epochs.

Needs scikit-learn (its bundled ``load_digits``; no download).

    python examples/digits.py --device auto
"""

from __future__ import annotations

import time
import warnings

import nnarray as nn

from _common import network, parse, run_quietly, save_plot, table

HIDDEN = (64,)


def main(argv: list[str] | None = None) -> dict[str, tuple[float, float]]:
    args = parse(__doc__, argv, dtype="float32", iterations=100)
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    epochs = args.iterations
    results = {}

    net = network(args, [64, *HIDDEN, 10], hidden="relu", output="softmax", init="he", seed=0)
    start = time.perf_counter()
    hist = net.fit(X_tr.T, y_tr[None], learning_rate=1e-3, optimizer="adam", batch_size=64,
                   epochs=epochs)
    seconds = time.perf_counter() - start
    results["nnarray"] = (net.score(X_te.T, y_te[None]), seconds)

    mlp = MLPClassifier(hidden_layer_sizes=HIDDEN, solver="adam", learning_rate_init=1e-3,
                        batch_size=64, max_iter=epochs, alpha=0.0, tol=0.0,
                        n_iter_no_change=10**9, random_state=0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X_tr, y_tr)
    results["scikit-learn MLPClassifier"] = (mlp.score(X_te, y_te),
                                             time.perf_counter() - start)

    print(table(["model", "test accuracy", "seconds"],
                [[k, acc, round(s, 2)] for k, (acc, s) in results.items()]))
    print(f"{epochs} epochs, batch 64, Adam α=0.001, hidden {HIDDEN}; nnarray on "
          f"{net.device} ({net.backend}, {net.dtype})")
    save_plot(args, "digits_cost.png", nn.plot.cost_curve, hist,
              title="digits: mean mini-batch cost per epoch")
    return results


if __name__ == "__main__":
    run_quietly(main)
