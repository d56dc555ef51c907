"""Logistic regression on cat vs non-cat (the lecture's review, week 2).

w and b start at zero; 2000 iterations at α = 0.005. The course reports
99% train and 70% test accuracy.

    python examples/logistic_regression_cat.py --device cpu
"""

from __future__ import annotations

import nnarray as nn

from _common import parse, run_quietly, save_plot, say_where, table


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse(__doc__, argv, iterations=2000)
    (X_train, Y_train), (X_test, Y_test) = nn.datasets.load_cat_vs_noncat()
    model = nn.LogisticRegression(X_train.shape[0], device=args.device, backend=args.backend,
                                  dtype=args.dtype)
    say_where(model)
    hist = model.fit(X_train, Y_train, iterations=args.iterations, learning_rate=0.005)
    print(table(["iteration", "cost"], list(zip(hist.iterations, hist.costs, strict=True))))
    result = {"train": model.score(X_train, Y_train), "test": model.score(X_test, Y_test)}
    print(table(["set", "accuracy"], list(result.items())))
    save_plot(args, "logistic_regression_cat_cost.png", nn.plot.cost_curve, hist,
              title="logistic regression, cat vs non-cat")
    return result


if __name__ == "__main__":
    run_quietly(main)
