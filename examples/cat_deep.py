"""The 2-layer (12288, 7, 1) and 4-layer (12288, 20, 7, 5, 1) cat classifiers (week 4).

α = 0.0075, 2500 iterations, costs every 100. With the course's
initialization (×0.01 for 2 layers, 1/sqrt(n[l-1]) for 4) in float64 the course
reports train 1.00 / test 0.72 and train 0.986 / test 0.80.

    python examples/cat_deep.py --device gpu
"""

from __future__ import annotations

import time

import nnarray as nn

from _common import network, parse, run_quietly, save_plot, table

MODELS = {"2-layer": ([12288, 7, 1], "random"), "4-layer": ([12288, 20, 7, 5, 1], "xavier")}


def main(argv: list[str] | None = None) -> dict[str, tuple[float, float]]:
    args = parse(__doc__, argv, iterations=2500)
    (X_train, Y_train), (X_test, Y_test) = nn.datasets.load_cat_vs_noncat()
    histories, results, rows = {}, {}, []
    for name, (dims, method) in MODELS.items():
        net = network(args, dims, hidden="relu", init=method, seed=1, generator="legacy")
        start = time.perf_counter()
        histories[name] = net.fit(X_train, Y_train, iterations=args.iterations,
                                  learning_rate=0.0075)
        seconds = time.perf_counter() - start
        results[name] = (net.score(X_train, Y_train), net.score(X_test, Y_test))
        rows.append([name, histories[name].costs[-1], *results[name], round(seconds, 2)])
    its = histories["2-layer"].iterations
    print(table(["iteration", *MODELS],
                [[i, *(histories[n].costs[k] for n in MODELS)] for k, i in enumerate(its)]))
    print()
    print(table(["model", "final cost", "train accuracy", "test accuracy", "seconds"], rows))
    print(f"on {net.device} ({net.backend}, {net.dtype})")
    save_plot(args, "cat_deep_cost.png", nn.plot.cost_curve, histories,
              title="cat vs non-cat, α = 0.0075")
    return results


if __name__ == "__main__":
    run_quietly(main)
