"""nnarray: the classic deep-learning lecture's networks, written once against
the Python Array API standard and run on NumPy (CPU) or CuPy (NVIDIA GPU).

>>> import nnarray as nn
>>> net = nn.Network([2, 4, 1], hidden="tanh", seed=1)
>>> net.layer_dims
[2, 4, 1]
"""

from . import (
    _startup,  # noqa: F401  (first: the command's Ctrl-C while the rest imports)
    activations,
    backend,
    datasets,
    distributed,
    engines,
    gradcheck,
    init,
    io,
    losses,
    onnx,
    optimizers,
    plot,
    propagation,
)
from ._version import __version__
from .backend import (
    BackendUnavailableError,
    available_devices,
    device,
    get_default_device,
    set_default_device,
)
from .io import open_arrays, open_memmap
from .network import LogisticRegression, Network, load
from .train import CostRoseWarning, DivergenceError, History

__all__ = [
    "BackendUnavailableError",
    "CostRoseWarning",
    "DivergenceError",
    "History",
    "LogisticRegression",
    "Network",
    "__version__",
    "activations",
    "available_devices",
    "backend",
    "datasets",
    "device",
    "distributed",
    "engines",
    "get_default_device",
    "gradcheck",
    "init",
    "io",
    "load",
    "losses",
    "onnx",
    "open_arrays",
    "open_memmap",
    "optimizers",
    "plot",
    "propagation",
    "set_default_device",
]
