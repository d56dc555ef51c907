"""Plots of training: the cost curve and a 2-D decision boundary.

Needs matplotlib (``pip install 'nnarray[plot]'``); without it the functions
raise ``ImportError`` saying so. Each returns the matplotlib ``Axes`` and, with
``path=``, saves the figure there.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import backend
from .train import History


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "nnarray.plot needs matplotlib, which is not installed: "
            "pip install 'nnarray[plot]'"
        ) from exc
    return plt


def check_path(path: str | os.PathLike[str]) -> str:
    """The file a figure saved as ``path`` goes to (without a suffix,
    matplotlib adds its default format's), checked before any work:
    ``ImportError`` without matplotlib, ``ValueError`` naming the path when
    its suffix is no format matplotlib writes."""
    _pyplot()
    import matplotlib
    from matplotlib.figure import Figure

    formats = Figure().canvas.get_supported_filetypes()
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1][1:].lower()
    if not suffix:
        return f"{path}.{matplotlib.rcParams['savefig.format']}"
    if suffix not in formats:
        raise ValueError(f"cannot save a plot as {path!r}: .{suffix} is no format "
                         f"matplotlib writes (one of {', '.join(sorted(formats))})")
    return path


def _finish(ax: Any, path: str | os.PathLike[str] | None) -> Any:
    if path is not None:
        ax.figure.tight_layout()
        ax.figure.savefig(path, dpi=120)
    return ax


def cost_curve(history: History | dict[str, History], ax: Any = None,
               path: str | os.PathLike[str] | None = None, title: str = "cost") -> Any:
    """J against the iteration; a dict ``{label: history}`` draws one line each."""
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    runs = history if isinstance(history, dict) else {"": history}
    for label, h in runs.items():
        if not isinstance(h, History):
            raise TypeError(f"history must be a History or a dict of them, got {type(h).__name__}")
        ax.plot(h.iterations, h.costs, marker=".", label=label or None)
    ax.set_xlabel("iteration")
    ax.set_ylabel("cost J")
    ax.set_title(title)
    if any(runs):
        ax.legend()
    return _finish(ax, path)


def decision_boundary(net: Any, X: Any, Y: Any, ax: Any = None,
                      path: str | os.PathLike[str] | None = None, title: str | None = None,
                      resolution: int = 300) -> Any:
    """The regions a 2-input network labels 0 and 1, with the points (X ``(2, m)``)."""
    if net.layer_dims[0] != 2:
        raise ValueError(f"decision_boundary needs a network with n_x=2, got {net.layer_dims[0]}")
    plt = _pyplot()
    X = backend.to_numpy(X) if backend.is_array(X) else np.asarray(X)
    Y = backend.to_numpy(Y) if backend.is_array(Y) else np.asarray(Y)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    pad = 1.0
    xs = np.linspace(X[0].min() - pad, X[0].max() + pad, resolution)
    ys = np.linspace(X[1].min() - pad, X[1].max() + pad, resolution)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.vstack([gx.ravel(), gy.ravel()])
    Z = backend.to_numpy(net.predict(grid)).reshape(gx.shape)
    ax.contourf(gx, gy, Z, levels=[-0.5, 0.5, 1.5], cmap="Spectral", alpha=0.6)
    ax.scatter(X[0], X[1], c=Y.ravel(), cmap="Spectral", s=12, edgecolors="k", linewidths=0.3)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title or f"{net.layer_dims} {net.hidden}")
    return _finish(ax, path)
