"""Datasets in the lecture's layout, as host NumPy arrays: X ``(n_x, m)``,
Y ``(n_y, m)``. Nothing is downloaded: data is generated or shipped."""

from __future__ import annotations

import numpy as np


def planar_flower(m: int = 400, seed: int = 1, noise: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """The lecture's two-class "flower": X ``(2, m)``, Y ``(1, m)`` of 0/1.

    For class j (m/2 points each) the angle is t = linspace(3.12 j, 3.12 (j+1))
    + noise·N(0, 1), the radius r = 4 sin(4t) + noise·N(0, 1), and the point
    (r sin t, r cos t). Draws come from ``RandomState(seed)`` in the course's
    order, so ``seed=1`` gives the course's data set.
    """
    if isinstance(m, bool) or not isinstance(m, int | np.integer) or m < 2 or m % 2:
        raise ValueError(f"m must be an even integer >= 2 (m/2 points per class), got {m!r}")
    rng = np.random.RandomState(seed)
    n = m // 2
    X = np.zeros((m, 2))
    Y = np.zeros((m, 1))
    for j in range(2):
        t = np.linspace(j * 3.12, (j + 1) * 3.12, n) + rng.randn(n) * noise
        r = 4 * np.sin(4 * t) + rng.randn(n) * noise
        X[n * j:n * (j + 1)] = np.c_[r * np.sin(t), r * np.cos(t)]
        Y[n * j:n * (j + 1)] = j
    return X.T, Y.T
