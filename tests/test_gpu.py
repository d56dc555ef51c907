"""CuPy specifics that only a real NVIDIA GPU can show (skipped without one)."""

from __future__ import annotations

import numpy as np
import pytest

import nnarray as nn
from nnarray import backend

try:
    import cupy
except ImportError:
    cupy = None
# Skip marks, not a module-level skip: with NNARRAY_REQUIRE_GPU=1 (tests/conftest.py)
# they fail on a GPU machine that lacks a piece.
WHY = ("cupy is not installed" if cupy is None
       else "no CUDA device visible to CuPy" if backend._cuda_device_count() == 0 else None)
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(WHY is not None, reason=str(WHY))]


def data(m=256):
    X, Y = nn.datasets.planar_flower(m=m)
    return X, Y


def test_cuda_0_selects_the_device_through_cupys_context():
    net = nn.Network([2, 4, 1], device="cuda:0")
    assert net.backend == "cupy" and net.device == "cuda:0"
    for v in net.parameters.values():
        assert isinstance(v, cupy.ndarray) and v.device.id == 0
    assert nn.device("gpu") == "cuda:0" and "cuda:0" in nn.available_devices()


def test_no_implicit_host_conversion():
    net = nn.Network([2, 4, 1], device="gpu")
    with pytest.raises(TypeError):
        np.asarray(net.parameters["W1"])  # CuPy refuses: every sync must go through backend


def test_memory_pool_does_not_grow_across_fits():
    X, Y = data()
    pool = cupy.get_default_memory_pool()
    net = nn.Network([2, 64, 32, 1], device="gpu", seed=3)
    for _ in range(2):  # warm-up: the pool settles over the first fits
        net.fit(X, Y, iterations=50, learning_rate=0.1)
    cupy.cuda.Device(0).synchronize()
    after_first = pool.total_bytes()
    for _ in range(5):
        net.fit(X, Y, iterations=50, learning_rate=0.1)
    cupy.cuda.Device(0).synchronize()
    assert pool.total_bytes() <= after_first


def test_float64_training_agrees_with_numpy_to_1e_10():
    X, Y = data()
    init = nn.init.initialize_parameters([2, 8, 4, 1], seed=5, dtype="float64")
    cpu = nn.Network([2, 8, 4, 1], hidden="tanh", init=init, dtype="float64")
    gpu = nn.Network([2, 8, 4, 1], hidden="tanh", init=init, dtype="float64", device="gpu")
    h_cpu = cpu.fit(X, Y, iterations=200, learning_rate=0.5, record_every=50)
    h_gpu = gpu.fit(X, Y, iterations=200, learning_rate=0.5, record_every=50)
    np.testing.assert_allclose(h_gpu.costs, h_cpu.costs, rtol=1e-10)
    for k, v in gpu.parameters.items():
        np.testing.assert_allclose(backend.to_numpy(v), cpu.parameters[k], rtol=1e-10,
                                   atol=1e-12)


def test_cupy_save_numpy_load_and_back(tmp_path):
    net = nn.Network([2, 5, 1], device="gpu", seed=8)
    net.save(tmp_path / "gpu.npz")
    cpu = nn.load(tmp_path / "gpu.npz", device="cpu")
    cpu.save(tmp_path / "cpu.npz")
    gpu = nn.load(tmp_path / "cpu.npz", device="gpu")
    for k, v in net.parameters.items():
        np.testing.assert_array_equal(cpu.parameters[k], backend.to_numpy(v))
        np.testing.assert_array_equal(backend.to_numpy(gpu.parameters[k]), backend.to_numpy(v))
