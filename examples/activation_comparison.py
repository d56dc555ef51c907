"""Activations compared: sigmoid, tanh, ReLU and leaky ReLU in the hidden layers.

A (2, 8, 8, 1) network on the flower data, Xavier initialization with the same
seed, 5000 iterations at α = 0.3.

    python examples/activation_comparison.py --device cpu
"""

from __future__ import annotations

import nnarray as nn

from _common import network, parse, run_quietly, save_plot, table

HIDDEN = ("sigmoid", "tanh", "relu", "leaky_relu")


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse(__doc__, argv, iterations=5000)
    X, Y = nn.datasets.planar_flower(m=400, seed=1)
    histories, results, rows = {}, {}, []
    for hidden in HIDDEN:
        net = network(args, [2, 8, 8, 1], hidden=hidden, init="xavier", seed=1)
        histories[hidden] = net.fit(X, Y, iterations=args.iterations, learning_rate=0.3,
                                    record_every=500)
        results[hidden] = net.score(X, Y)
        rows.append([hidden, histories[hidden].costs[-1], results[hidden]])
    print(table(["hidden activation", "final cost", "accuracy"], rows))
    save_plot(args, "activation_comparison_cost.png", nn.plot.cost_curve, histories,
              title="hidden activations on the flower data")
    return results


if __name__ == "__main__":
    run_quietly(main)
