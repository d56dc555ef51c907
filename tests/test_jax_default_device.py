"""Where JAX's own default device is not nnarray's default device, as on a
machine where JAX has a GPU (``jnp.asarray`` puts arrays on ``cuda:0``).

``device=None`` means nnarray's default device ("cpu" unless set) on every
backend, JAX included. Each test runs in a subprocess whose JAX has two host
devices and makes the second its default device, standing in for the GPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

# JAX's default device becomes the second host device before anything uses it.
SETUP = """
import jax
jax.config.update("jax_num_cpu_devices", 2)
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_default_device", jax.devices("cpu")[1])
"""

PLACEMENT = SETUP + """
import json
import jax.numpy as jnp
import numpy as np
import nnarray as nn
from nnarray import propagation as P

def ids(a):
    return sorted(d.id for d in a.devices())

X_host, _ = nn.datasets.planar_flower(m=20, seed=3)
X = jnp.asarray(X_host)
params = nn.init.initialize_parameters([2, 5, 1], seed=1, backend="jax", dtype="float64")
out = {"X": ids(X), "init": ids(params["W1"]),
       "network": nn.Network([2, 5, 1], backend="jax", dtype="float64").device,
       "resolve": nn.backend.resolve("jax").device}
try:
    P.model_forward(X, params, "relu", "sigmoid")
    out["mixed"] = None
except ValueError as exc:
    out["mixed"] = str(exc)
there = nn.init.initialize_parameters([2, 5, 1], seed=1, backend="jax", dtype="float64",
                                      device=nn.backend.target_of(X).device)
AL, _ = P.model_forward(X, there, "relu", "sigmoid")
host = nn.init.initialize_parameters([2, 5, 1], seed=1, dtype="float64")
out["AL"], out["AL host"] = ids(AL), P.model_forward(X_host, host, "relu", "sigmoid")[0].tolist()
out["AL values"] = np.asarray(AL).tolist()
nn.set_default_device("cpu:1")
out["after set"] = ids(nn.init.initialize_parameters([2, 5, 1], backend="jax")["W1"])
print(json.dumps(out))
"""


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(
               p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    env.pop("XLA_FLAGS", None)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=240)


def test_backend_jax_alone_uses_nnarrays_default_device_not_jaxs():
    pytest.importorskip("jax")
    proc = _run(PLACEMENT)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["X"] == [1]  # jnp.asarray: JAX's default device
    assert out["init"] == [0]  # nnarray's default device, the (first) host device
    assert out["network"] == out["resolve"] == "cpu"
    assert "arrays on different devices were mixed" in out["mixed"]
    # parameters made where X is: the functional API computes there, as on the host
    assert out["AL"] == [1]
    np.testing.assert_allclose(out["AL values"], out["AL host"], rtol=1e-12, atol=0)
    assert out["after set"] == [1]  # a default device set by the user counts


# Tests that mix arrays made by jnp.asarray with nnarray's: they must hold
# wherever JAX's default device is.
MIXING = ["tests/test_chunks.py::test_the_functional_api_uses_the_highest_float32_precision",
          "tests/test_chunks.py::test_the_users_arrays_stay_usable_after_fit"]


def test_the_mixing_tests_hold_where_jax_defaults_to_another_device():
    pytest.importorskip("jax")
    args = ["-q", "-p", "no:cacheprovider", "-n", "0", *MIXING]
    proc = _run(SETUP + f"import sys, pytest\nsys.exit(pytest.main({args!r}))\n")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "7 passed" in proc.stdout, proc.stdout[-3000:]
