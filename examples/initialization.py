"""Initialization: zeros (symmetry: no learning), random ×0.01 (slow), He (fast).

A 3-layer ReLU network (2, 10, 5, 1) on the flower data, 10000 iterations at
α = 0.05, from each initialization with the same seed.

    python examples/initialization.py --device cpu
"""

from __future__ import annotations

import nnarray as nn

from _common import network, parse, run_quietly, save_plot, table

METHODS = ("zeros", "random", "he")


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse(__doc__, argv, iterations=10000)
    X, Y = nn.datasets.planar_flower(m=400, seed=1)
    histories, results, rows = {}, {}, []
    for method in METHODS:
        net = network(args, [2, 10, 5, 1], hidden="relu", init=method, seed=3)
        histories[method] = net.fit(X, Y, iterations=args.iterations, learning_rate=0.05,
                                    record_every=1000)
        W1 = nn.backend.to_numpy(net.parameters["W1"])
        same_rows = bool((W1 == W1[0]).all())  # every hidden unit identical: symmetry
        results[method] = net.score(X, Y)
        rows.append([method, histories[method].costs[0], histories[method].costs[-1],
                     results[method], "yes" if same_rows else "no"])
    print(table(["init", "first cost", "last cost", "accuracy", "units all equal"], rows))
    save_plot(args, "initialization_cost.png", nn.plot.cost_curve, histories,
              title="zeros vs random ×0.01 vs He")
    return results


if __name__ == "__main__":
    run_quietly(main)
