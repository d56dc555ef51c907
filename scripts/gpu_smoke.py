"""Does every accelerated path train the same net as NumPy? A fast equality check.

A few steps of ``Network.fit`` on each backend/device that exists here are
compared with NumPy in float64: in float64 the parameters must agree to
rtol 1e-10; in float32 the displacement of the parameters (final − initial)
must agree with NumPy float64's from the same float32 start within float32
rounding (2e-5 of its largest entry, about 170 float32 epsilons). TF32 products
(relative error ~3e-4) fail that. Three nets: the planar tanh net (full batch,
gradient descent, records every 10 iterations so that compiled chunks run),
a deeper ReLU net, and a softmax head trained by Adam on mini-batches.

On a GPU machine it checks cupy, torch on CUDA and jax on the GPU, then the
fused CuPy kernels (``tests/fused_agreement.py``); elsewhere the CPU paths of
torch, jax and array_api_strict. It stops at the first disagreement with exit
status 1.

    python scripts/gpu_smoke.py              # the GPU paths if a GPU exists, else the CPU ones
    python scripts/gpu_smoke.py --device cpu
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path[:1]:
    sys.path.insert(0, str(ROOT))  # the nnarray of this tree
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import nnarray as nn  # noqa: E402

RTOL64 = 1e-10
RTOL32 = 2e-5

CASES: list[dict[str, Any]] = [
    {"name": "planar tanh, gd", "dims": [2, 4, 1], "hidden": "tanh", "output": "sigmoid",
     "m": 64, "fit": {"iterations": 25, "learning_rate": 1.2, "record_every": 10}},
    {"name": "relu [30,16,8,1], gd", "dims": [30, 16, 8, 1], "hidden": "relu",
     "output": "sigmoid", "m": 96,
     "fit": {"iterations": 25, "learning_rate": 0.05, "record_every": 10}},
    {"name": "softmax [20,16,4], adam batch 32", "dims": [20, 16, 4], "hidden": "relu",
     "output": "softmax", "m": 100,
     "fit": {"learning_rate": 0.01, "batch_size": 32, "epochs": 2, "optimizer": "adam"}},
]


def data(case: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((case["dims"][0], case["m"]))
    n_y = case["dims"][-1]
    if case["output"] == "softmax":
        Y = np.zeros((n_y, case["m"]))
        Y[rng.integers(0, n_y, case["m"]), np.arange(case["m"])] = 1
    else:
        Y = (rng.random((n_y, case["m"])) > 0.5).astype(float)
    return X, Y


def train(case: dict[str, Any], backend: str, device: str, dtype: str,
          init: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray) -> dict[str, np.ndarray]:
    net = nn.Network(case["dims"], hidden=case["hidden"], output=case["output"], init=init,
                     device=device, backend=backend, dtype=dtype)
    net.fit(X.astype(dtype), Y.astype(dtype), progress=False, **case["fit"])
    return {k: nn.backend.to_numpy(v).astype(np.float64) for k, v in net.parameters.items()}


def paths(device: str) -> list[tuple[str, str, str | None]]:
    """(backend, device, why it is skipped or None) for the paths to check."""
    if device == "gpu":
        wanted = [("cupy", "cuda:0"), ("torch", "cuda:0"), ("jax", "gpu")]
    else:
        wanted = [("torch", "cpu"), ("jax", "cpu"), ("array_api_strict", "cpu")]
    out = []
    for backend, dev in wanted:
        try:
            nn.backend.resolve(backend, dev)
            out.append((backend, dev, None))
        except Exception as exc:
            out.append((backend, dev, f"{type(exc).__name__}: {str(exc)[:160]}"))
    return out


def has_gpu() -> bool:
    if nn.backend._cuda_device_count() > 0:
        return True
    if importlib.util.find_spec("torch"):
        import torch

        if torch.cuda.is_available():
            return True
    if importlib.util.find_spec("jax"):
        import jax

        try:
            return bool(jax.devices("gpu"))
        except RuntimeError:
            return False
    return False


def compare(got: dict[str, np.ndarray], want: dict[str, np.ndarray], start: dict[str, Any],
            dtype: str) -> tuple[float, str]:
    """The worst relative error over the parameters and its parameter's name:
    of the parameters in float64, of their displacement from ``start`` in float32."""
    worst, where = 0.0, ""
    for k, w in want.items():
        if dtype == "float64":
            err = float(np.max(np.abs(got[k] - w) / (np.abs(w) + 1e-12 * np.max(np.abs(w)))))
        else:
            s = np.asarray(start[k], dtype=np.float64)
            scale = float(np.max(np.abs(w - s))) or 1.0
            err = float(np.max(np.abs((got[k] - s) - (w - s)))) / scale
        if err >= worst:
            worst, where = err, k
    return worst, where


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=["auto", "gpu", "cpu"])
    args = parser.parse_args(argv)
    device = args.device
    if device == "auto":
        device = "gpu" if has_gpu() else "cpu"
    if importlib.util.find_spec("jax"):
        import jax

        jax.config.update("jax_enable_x64", True)  # this script's choice: float64 on JAX too
    todo = paths(device)
    for backend, dev, why in todo:
        if why:
            print(f"skip {backend} on {dev}: {why}", flush=True)
    todo = [(b, d) for b, d, why in todo if why is None]
    if not todo:
        print(f"nothing to compare on the {device} here")
        return 0
    print(f"checking {', '.join(f'{b} on {d}' for b, d in todo)} against NumPy float64",
          flush=True)
    for case in CASES:
        X, Y = data(case)
        for dtype in ("float64", "float32"):
            init = nn.init.initialize_host(case["dims"], "he", seed=1, dtype=dtype)
            start = {k: v.astype(np.float64) for k, v in init.items()}
            want = train(case, "numpy", "cpu", "float64", start, X.astype(dtype), Y)
            for backend, dev in todo:
                t0 = time.perf_counter()
                got = train(case, backend, dev, dtype, init, X, Y)
                err, where = compare(got, want, start, dtype)
                tol = RTOL64 if dtype == "float64" else RTOL32
                ok = err <= tol
                print(f"{'ok ' if ok else 'BAD'} {case['name']:34s} {dtype} {backend:16s} "
                      f"{dev:7s} worst relative error {err:.1e} ({where}; tolerance {tol:.0e})"
                      f" {time.perf_counter() - t0:.1f} s", flush=True)
                if not ok:
                    print(f"stop: {backend} on {dev} disagrees with NumPy float64 on "
                          f"{case['name']} in {dtype}")
                    return 1
    print("all paths agree with NumPy float64")
    if device == "gpu" and importlib.util.find_spec("cupy"):
        from tests import fused_agreement  # the fused CuPy kernels' check: test code

        report = fused_agreement.self_check()
        print(f"fused kernels agree: {report['kernels']} kernel checks, {report['steps']} "
              f"step checks; float32 within rounding: {report['float32_rounding']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
