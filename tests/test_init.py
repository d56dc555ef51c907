"""Initial parameters: scalings, seeds, bit-identical on every backend."""

from __future__ import annotations

import numpy as np
import pytest

import nnarray as nn
from nnarray import backend

DIMS = [6, 5, 4, 1]


@pytest.mark.parametrize("method", ["zeros", "random", "xavier", "he"])
def test_bit_identical_on_every_backend(case, method):
    host = nn.init.initialize_parameters(DIMS, method=method, seed=7, dtype=case.dtype)
    params = nn.init.initialize_parameters(DIMS, method=method, seed=7, dtype=case.dtype,
                                           backend=case.backend, device=case.device)
    assert list(params) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    for k, v in params.items():
        t = backend.target_of(v)
        assert (t.backend, t.device) == (case.backend, case.device)
        assert backend.dtype_name(v.dtype) == case.dtype
        np.testing.assert_array_equal(backend.to_numpy(v), host[k])  # bit for bit


def test_scalings():
    n_prev = 400
    for method, std in [("random", 0.01), ("xavier", (1 / n_prev) ** 0.5),
                        ("he", (2 / n_prev) ** 0.5)]:
        W = nn.init.initialize_parameters([n_prev, 300], method=method, dtype="float64")["W1"]
        assert W.std() == pytest.approx(std, rel=0.02), method
    p = nn.init.initialize_parameters([3, 2], method="zeros")
    assert not p["W1"].any() and not p["b1"].any()


def test_seed_changes_draws_and_none_is_random():
    a = nn.init.initialize_parameters([3, 2], seed=1)["W1"]
    b = nn.init.initialize_parameters([3, 2], seed=2)["W1"]
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, nn.init.initialize_parameters([3, 2], seed=1)["W1"])


def test_float32_is_cast_on_the_host_from_float64_draws():
    p32 = nn.init.initialize_parameters([5, 3], seed=3, dtype="float32")
    p64 = nn.init.initialize_parameters([5, 3], seed=3, dtype="float64")
    assert p32["W1"].dtype == np.float32
    np.testing.assert_array_equal(p32["W1"], p64["W1"].astype(np.float32))


def test_legacy_generator_is_the_course_stream():
    p = nn.init.initialize_parameters([5, 4, 3], method="random", seed=3, dtype="float64",
                                      generator="legacy")
    rng = np.random.RandomState(3)
    np.testing.assert_array_equal(p["W1"], rng.randn(4, 5) * 0.01)
    np.testing.assert_array_equal(p["W2"], rng.randn(3, 4) * 0.01)


@pytest.mark.parametrize(
    ("dims", "message"),
    [([3], "at least 2 sizes"), ([3, 0, 1], r"layer_dims\[1\] must be a positive integer"),
     ([3, 2.5, 1], r"layer_dims\[1\]"), ([3, True], r"layer_dims\[1\]"),
     ([-1, 2], r"layer_dims\[0\]")],
)
def test_bad_layer_dims(dims, message):
    with pytest.raises(ValueError, match=message):
        nn.init.initialize_parameters(dims)


def test_bad_method_and_generator_list_valid_ones():
    with pytest.raises(ValueError, match=r"one of \['zeros', 'random', 'xavier', 'he'\]"):
        nn.init.initialize_parameters([2, 1], method="glorot")
    with pytest.raises(ValueError, match=r"generator must be one of"):
        nn.init.initialize_parameters([2, 1], generator="mt")
