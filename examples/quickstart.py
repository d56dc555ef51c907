"""A first training: one hidden layer of 4 tanh units on the lecture's flower data.

The initial parameters are the course's own (``generator="legacy"``: its
``np.random.seed(2)`` draws, ×0.01), so in float64 the costs are the course's:
0.693048 at iteration 0, 0.288083 at 1000.

    python examples/quickstart.py --device auto      # GPU when present, else CPU
    python examples/quickstart.py --device cpu --backend torch --dtype float64
"""

from __future__ import annotations

import time

import nnarray as nn

from _common import network, parse, run_quietly, save_plot, table


def main(argv: list[str] | None = None) -> float:
    args = parse(__doc__, argv, dtype="float32", iterations=10000)
    X, Y = nn.datasets.planar_flower(m=400, seed=1)
    net = network(args, [2, 4, 1], hidden="tanh", output="sigmoid",
                  init="random", seed=2, generator="legacy")
    print(f"{net}\ntraining on X {X.shape}, Y {Y.shape} ...")
    start = time.perf_counter()
    hist = net.fit(X, Y, iterations=args.iterations, learning_rate=1.2, record_every=1000)
    seconds = time.perf_counter() - start
    print(table(["iteration", "cost"], list(zip(hist.iterations, hist.costs, strict=True))))
    accuracy = net.score(X, Y)
    print(f"\ntrain accuracy: {accuracy:.1%}  ({seconds:.2f} s on {net.device}, "
          f"{net.backend}, {net.dtype})")
    save_plot(args, "quickstart_boundary.png", nn.plot.decision_boundary, net, X, Y)
    return accuracy


if __name__ == "__main__":
    run_quietly(main)
