"""The flower data (week 3): logistic regression against one hidden layer, and
the hidden-layer-size table.

Logistic regression cannot separate the petals (the course: 47%); one hidden
layer of 4 tanh units reaches about 90%. Sizes 1, 2, 3, 4, 5, 20, 50 at
5000 iterations (α = 1.2) show where more units stop helping.

    python examples/planar.py --device cpu
"""

from __future__ import annotations

import nnarray as nn

from _common import network, parse, run_quietly, save_plot, table

SIZES = (1, 2, 3, 4, 5, 20, 50)


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse(__doc__, argv, iterations=10000)
    X, Y = nn.datasets.planar_flower(m=400, seed=1)
    results = {}

    logistic = nn.LogisticRegression(2, device=args.device, backend=args.backend,
                                     dtype=args.dtype)
    logistic.fit(X, Y, iterations=args.iterations, learning_rate=1.2)
    results["logistic regression"] = logistic.score(X, Y)
    save_plot(args, "planar_logistic.png", nn.plot.decision_boundary, logistic, X, Y,
              title="logistic regression")

    net = network(args, [2, 4, 1], hidden="tanh", init="random", seed=2,
                  generator="legacy")
    hist = net.fit(X, Y, iterations=args.iterations, learning_rate=1.2, record_every=1000)
    results["4 tanh units"] = net.score(X, Y)
    print(table(["iteration", "cost"], list(zip(hist.iterations, hist.costs, strict=True))))
    print()
    print(table(["model", "accuracy"], list(results.items())))
    save_plot(args, "planar_4_units.png", nn.plot.decision_boundary, net, X, Y,
              title="one hidden layer, 4 tanh units")

    rows = []
    size_iterations = min(args.iterations, 5000)
    for n_h in SIZES:
        dims = [2, n_h, 1]
        net = network(args, dims, hidden="tanh", init="random", seed=2, generator="legacy")
        net.fit(X, Y, iterations=size_iterations, learning_rate=1.2)
        results[f"{n_h} hidden units"] = net.score(X, Y)
        rows.append([n_h, results[f"{n_h} hidden units"]])
        save_plot(args, f"planar_hidden_{n_h}.png", nn.plot.decision_boundary, net, X, Y,
                  title=f"{n_h} hidden unit{'s' if n_h > 1 else ''}")
    print()
    print(table(["hidden units", f"accuracy ({size_iterations} iterations)"], rows))
    return results


if __name__ == "__main__":
    run_quietly(main)
