"""Why deep representations? Parity of 8 bits: a deep net against a shallow one.

The slide's circuit-theory argument: x1 XOR x2 XOR ... XOR xn needs O(log n)
layers of small units, or one hidden layer with exponentially many. Here a deep
tanh net (8, 8, 8, 8, 1) and a shallow one (8, 22, 1) of about the same number
of parameters train on all 256 patterns, full batch.

    python examples/xor_depth.py --device cpu
"""

from __future__ import annotations

import nnarray as nn

from _common import network, parse, run_quietly, save_plot, table

NETS = {"deep (8, 8, 8, 8, 1)": [8, 8, 8, 8, 1], "shallow (8, 22, 1)": [8, 22, 1]}


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse(__doc__, argv, iterations=20000)
    X, Y = nn.datasets.xor(n_bits=8)
    X = 2 * X - 1  # bits as ±1: centred inputs for tanh
    histories, results, rows = {}, {}, []
    for name, dims in NETS.items():
        net = network(args, dims, hidden="tanh", init="xavier", seed=1)
        n_params = sum(d * p + d for d, p in zip(dims[1:], dims[:-1], strict=True))
        histories[name] = net.fit(X, Y, iterations=args.iterations, learning_rate=0.5,
                                  record_every=1000)
        results[name] = net.score(X, Y)
        rows.append([name, n_params, histories[name].costs[-1], results[name]])
    print(table(["network", "parameters", "final cost", "accuracy"], rows))
    save_plot(args, "xor_depth_cost.png", nn.plot.cost_curve, histories,
              title="parity of 8 bits")
    return results


if __name__ == "__main__":
    run_quietly(main)
