"""A first training: one hidden layer of 4 tanh units on the lecture's flower data.

The initial parameters are the course's own (``RandomState(2)``, ×0.01), so in
float64 the costs are the course's: 0.693048 at iteration 0, 0.288083 at 1000.

    python examples/quickstart.py --device auto      # GPU when present, else CPU
    python examples/quickstart.py --device cpu --backend torch --dtype float64
"""

from __future__ import annotations

import argparse
import time

import nnarray as nn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="cpu | gpu | cuda:N | auto")
    parser.add_argument("--backend", default=None, help="numpy, cupy, torch, jax, dask, "
                        "array_api_strict (default: the device's)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--iterations", type=int, default=10000)
    parser.add_argument("--learning-rate", type=float, default=1.2)
    args = parser.parse_args(argv)

    X, Y = nn.datasets.planar_flower(m=400, seed=1)
    course_init = nn.init.initialize_parameters([2, 4, 1], method="random", seed=2,
                                                dtype="float64", generator="legacy")
    net = nn.Network([2, 4, 1], hidden="tanh", output="sigmoid", init=course_init,
                     device=args.device, backend=args.backend, dtype=args.dtype)
    print(f"{net}\ntraining on X {X.shape}, Y {Y.shape} ...")
    start = time.perf_counter()
    hist = net.fit(X, Y, iterations=args.iterations, learning_rate=args.learning_rate,
                   record_every=1000)
    seconds = time.perf_counter() - start
    print(f"\n{'iteration':>10} | {'cost':>10}\n{'-' * 10}-+-{'-' * 10}")
    for i, c in zip(hist.iterations, hist.costs, strict=True):
        print(f"{i:>10} | {c:>10.6f}")
    print(f"\ntrain accuracy: {net.score(X, Y):.1%}  ({seconds:.2f} s on {net.device}, "
          f"{net.backend}, {net.dtype})")


if __name__ == "__main__":
    main()
