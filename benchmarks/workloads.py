"""The nets the benchmark trains: their shapes, data and how many iterations a timing takes.

Full-batch workloads (plain gradient descent, the lecture's loop) are timed
per iteration; the mini-batch workload (Adam, batch 64, a softmax head) per
epoch and as a whole fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import nnarray as nn


@dataclass(frozen=True)
class Workload:
    """A full-batch net: layer sizes, hidden activation (sigmoid output), m examples.

    ``gemm_bound``: its step is dominated by matrix products (every net but
    the small ones). ``on_cpu``: CPU contenders run it (the big net's CPU
    step takes tens of seconds, so it is timed on a GPU only)."""

    name: str
    dims: tuple[int, ...]
    hidden: str
    m: int
    learning_rate: float = 0.01
    gemm_bound: bool = True
    on_cpu: bool = True

    @property
    def short(self) -> str:
        """The first word of the name: ``planar``, ``cat``, ``wide``, ..."""
        return short(self.name)

    def flops(self) -> float:
        """Matrix-product FLOPs of one step: forward W A, backward dZ Aᵀ and Wᵀ dZ
        (no dA0 for the input layer)."""
        total = 0.0
        for l in range(1, len(self.dims)):
            mnk = self.dims[l] * self.dims[l - 1] * self.m
            total += 2 * mnk * (3 if l > 1 else 2)
        return total


@dataclass(frozen=True)
class MiniBatch:
    """A mini-batch net: ``epochs`` passes of Adam over shuffled batches of
    ``batch_size``, softmax output on ``dims[-1]`` classes."""

    name: str
    dims: tuple[int, ...]
    hidden: str
    m: int
    batch_size: int
    epochs: int
    learning_rate: float = 0.001

    @property
    def short(self) -> str:
        return short(self.name)


def short(name: str) -> str:
    """A workload's short name: its name up to the layer list."""
    return name.split(" [")[0]


WORKLOADS = [
    Workload("planar [2,4,1] tanh m=400", (2, 4, 1), "tanh", 400, 1.2, gemm_bound=False),
    Workload("cat [12288,20,7,5,1] relu m=209", (12288, 20, 7, 5, 1), "relu", 209, 0.0075),
    Workload("wide [1024,1024,1024,1] relu m=2048", (1024, 1024, 1024, 1), "relu", 2048),
    Workload("mnist-like [784,256,128,1] relu m=8192", (784, 256, 128, 1), "relu", 8192),
    # GPU only (every GPU run, --quick included): ~2.7 TFLOP a step, 20-30 s on a CPU.
    Workload("big [4096,4096,4096,1] relu m=16384", (4096, 4096, 4096, 1), "relu", 16384,
             on_cpu=False),
]
TINY = [Workload("tiny [3,4,1] tanh m=16", (3, 4, 1), "tanh", 16, 0.5, gemm_bound=False)]


def minibatch_workloads(quick: bool, tiny: bool) -> list[MiniBatch]:
    """The digits-like run (the size of scikit-learn's digits: 1797 images of
    8×8 pixels, 10 classes), 10 epochs timed (5 with --quick); tiny: 2 epochs."""
    if tiny:
        return [MiniBatch("tiny-batches [3,4,2] relu m=40 batch 16", (3, 4, 2), "relu", 40, 16,
                          2)]
    return [MiniBatch("digits-like [64,32,10] relu softmax m=1797 batch 64 Adam",
                      (64, 32, 10), "relu", 1797, 64, 5 if quick else 10)]


def problem(w: Workload, dtype: str) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """X (n_x, m) standard normal, Y (1, m) random 0/1, He initial parameters:
    the same for every contender."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((w.dims[0], w.m)).astype(dtype)
    Y = (rng.random((w.dims[-1], w.m)) > 0.5).astype(dtype)
    params = nn.init.initialize_host(list(w.dims), "he", seed=1, dtype=dtype)
    return X, Y, params


def minibatch_problem(w: MiniBatch, dtype: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X (n_x, m) in [0, 1) like scaled pixels, Y one-hot (classes, m), and the
    integer classes (m,) for libraries that take those."""
    rng = np.random.default_rng(0)
    X = rng.random((w.dims[0], w.m)).astype(dtype)
    classes = rng.integers(0, w.dims[-1], w.m)
    Y = np.zeros((w.dims[-1], w.m), dtype=dtype)
    Y[classes, np.arange(w.m)] = 1
    return X, Y, classes


NOMINAL_RATE = {"cpu": 1.5e11, "gpu": 2e13}
"""FLOP/s used only to size a timing: about 150 GFLOP/s on a CPU, 20 TFLOP/s on a GPU."""


def iterations_per_timing(w: Workload, where: str, seconds: float) -> int:
    """About ``seconds`` of work at the nominal rate of ``where`` (``cpu`` or a GPU)."""
    nominal = NOMINAL_RATE["cpu" if where == "cpu" else "gpu"]
    return int(seconds / max(w.flops() / nominal, 1e-5))


def timed_iterations(w: Workload, where: str, tiny: bool, slow: bool) -> int:
    """Iterations per timing of a contender computing on ``where``: about
    0.15 s of work, 3 to 200 iterations; a tenth of that for the slow ones
    (Dask, array_api_strict, scikit-learn); 2 in the tiny mode."""
    if tiny:
        return 2
    k = max(3, min(200, iterations_per_timing(w, where, 0.15)))
    return max(2, k // 10) if slow else k
