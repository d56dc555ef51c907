"""The boundary: devices, namespaces, conversions and their errors."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import nnarray as nn
from nnarray import backend
from nnarray import propagation as P
from nnarray import step as S

from ._helpers import assert_close

NO_GPU = backend._cuda_device_count() == 0


def test_available_devices_starts_with_cpu():
    devices = nn.available_devices()
    assert devices[0] == "cpu"
    assert all(d.startswith("cuda:") for d in devices[1:])


def test_auto_picks_gpu_only_when_present():
    assert nn.device("auto") == ("cpu" if NO_GPU else "cuda:0")
    assert nn.device("cpu") == "cpu"


@pytest.mark.skipif(not NO_GPU, reason="a GPU is present")
def test_gpu_without_gpu_says_what_to_install():
    with pytest.raises(nn.BackendUnavailableError, match="cupy|CUDA"):
        nn.device("gpu")
    with pytest.raises(nn.BackendUnavailableError, match="cupy|CUDA"):
        nn.set_default_device("gpu")
    assert nn.get_default_device() == "cpu"  # unchanged after the failure


def test_set_default_device_round_trip():
    try:
        nn.set_default_device("auto")
        assert nn.get_default_device() == nn.device("auto")
        assert nn.Network([2, 1]).device == nn.device("auto")
    finally:
        nn.set_default_device("cpu")


@pytest.mark.parametrize(
    ("backend_name", "device", "message"),
    [
        ("numpy", "tpu", r"device must be 'cpu', 'gpu', 'cuda:N' or 'auto', got 'tpu'"),
        ("mxnet", "cpu", r"backend must be one of \['numpy', 'cupy', 'torch', 'jax'"),
        ("numpy", "cuda:0", r"backend='numpy' runs on the CPU only"),
        ("cupy", "cpu", r"backend='cupy' runs on a GPU only"),
        ("array_api_strict", "device9", r"knows the devices \['cpu', 'device1'"),
    ],
)
def test_bad_backend_or_device_lists_valid_ones(backend_name, device, message):
    with pytest.raises(ValueError, match=message):
        backend.resolve(backend_name, device)


def test_float64_missing_on_device_is_a_clear_error():
    target = backend.resolve("array_api_strict", "no_float64")
    with pytest.raises(ValueError, match="float64' is not supported on device 'no_float64'"):
        target.dtype("float64")
    with pytest.raises(ValueError, match=r"dtype must be one of \['float32', 'float64'\]"):
        target.dtype("float16")


def test_jax_float64_needs_x64_and_says_so():
    pytest.importorskip("jax")
    code = (
        "import nnarray as nn\n"
        "try:\n"
        "    nn.Network([2, 1], backend='jax', dtype='float64')\n"
        "except ValueError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "jax_enable_x64" in out and "never flips" in out


def test_mixed_namespaces_and_devices_are_refused():
    strict = pytest.importorskip("array_api_strict")
    a = np.ones((2, 2))
    s = strict.asarray(a)
    s1 = strict.asarray(a, device=strict.Device("device1"))
    with pytest.raises(ValueError, match="different libraries"):
        backend.namespace(a, s)
    with pytest.raises(ValueError, match="different devices"):
        backend.namespace(s, s1)
    with pytest.raises(ValueError, match="different devices"):
        P.linear_forward(s, s1, strict.zeros((2, 1)))
    with pytest.raises(ValueError, match="different libraries"):
        P.model_forward(a, {"W1": s, "b1": s[:, :1]})


def test_round_trip_host_device_host(case):
    host = np.arange(12.0).reshape(3, 4) / 7
    x = backend.from_host(host, case.target, dtype=case.dtype)
    assert_close(x, host, case)
    assert backend.to_numpy(x).dtype == np.dtype(case.dtype)
    y = backend.from_host(host * 2, x)  # like an existing array: same place, same dtype
    assert_close(y, host * 2, case)
    assert backend.to_float(x[0, 1]) == pytest.approx(1 / 7, rel=1e-6)


def test_convert_keeps_arrays_already_in_place(case):
    x = case.asarray(np.ones((2, 3)))
    assert backend.convert(x, case.target, case.dtype) is x
    other = "float32" if case.dtype == "float64" else "float64"
    if case.device != "no_float64":
        y = backend.convert(x, case.target, other)
        assert backend.dtype_name(y.dtype) == other


def test_target_of_names_the_backend_and_device(case):
    x = case.asarray(np.zeros((1, 1)))
    t = backend.target_of(x)
    assert (t.backend, t.device) == (case.backend, case.device)


def test_nnarray_device_env_is_read_at_import():
    env = dict(os.environ, NNARRAY_DEVICE="cpu")
    code = "import nnarray; print(nnarray.get_default_device())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True).stdout
    assert out.strip() == "cpu"
    env["NNARRAY_DEVICE"] = "tpu"
    bad = subprocess.run([sys.executable, "-c", "import nnarray"], capture_output=True,
                         text=True, env=env)
    assert bad.returncode != 0 and "NNARRAY_DEVICE='tpu'" in bad.stderr


def test_fast_numpy_namespace_agrees_with_numpy_bit_for_bit():
    fast = backend.numpy_namespace
    assert backend.namespace(np.ones(2)) is fast
    # exact: np.sum is np.add.reduce and np.matrix_transpose is .mT, the same operations
    rng = np.random.default_rng(0)
    for shape in [(3, 5), (1, 400), (7, 1)]:
        a = rng.standard_normal(shape).astype(np.float32)
        for kw in ({}, {"axis": 1, "keepdims": True}, {"axis": 0}):
            got, want = fast.sum(a, **kw), np.sum(a, **kw)
            assert type(got) is type(want) and np.array_equal(got, want)
        np.testing.assert_array_equal(fast.matrix_transpose(a), np.matrix_transpose(a))
    # a whole training step through the fast namespace and through NumPy itself
    X = rng.standard_normal((2, 50))
    Y = (X[:1] > 0).astype(float)
    params = nn.init.initialize_parameters([2, 4, 1], seed=3, dtype="float64")
    a, ca, _ = S.step(params, X, Y, "tanh", "sigmoid", 0.5, True, xp=fast)
    b, cb, _ = S.step(params, X, Y, "tanh", "sigmoid", 0.5, True, xp=np)
    assert ca == cb
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize(("value", "high", "error", "message"), [
    (True, None, TypeError, "n must be an integer >= 1, got True"),
    (np.True_, None, TypeError, "n must be an integer >= 1, got np.True_"),
    (2.0, None, TypeError, "n must be an integer >= 1, got 2.0"),
    ("3", None, TypeError, "n must be an integer >= 1, got '3'"),
    (0, None, ValueError, "n must be an integer >= 1, got 0"),
    (np.int64(4), 3, ValueError, "n must be an integer in 1..3, got np.int64(4)"),
])
def test_check_integer_names_the_argument_and_the_range(value, high, error, message):
    with pytest.raises(error, match=re.escape(message)):
        backend.check_integer("n", value, 1, high)


def test_check_integer_takes_any_integer_as_an_int():
    for value in (1, np.int64(3), np.uint8(3)):
        out = backend.check_integer("n", value, 1, 3)
        assert type(out) is int and out == int(value)


@pytest.mark.parametrize(("value", "bounds", "error", "message"), [
    ("0.1", {}, TypeError, "x must be a finite number, got '0.1'"),
    (True, {"low": 0.0}, TypeError, "x must be a finite number >= 0, got True"),
    (np.True_, {"low": 0.0}, TypeError, "x must be a finite number >= 0, got np.True_"),
    (1j, {}, TypeError, "x must be a finite number, got 1j"),
    (np.complex128(1), {}, TypeError, "x must be a finite number, got np.complex128(1+0j)"),
    (None, {}, TypeError, "x must be a finite number, got None"),
    (np.ones(2), {}, TypeError, "x must be a finite number, got array([1., 1.])"),
    (10**400, {}, ValueError, "x must be a finite number, got 1000"),
    (math.nan, {}, ValueError, "x must be a finite number, got nan"),
    (-math.inf, {"high": 1.0}, ValueError, "x must be a finite number <= 1, got -inf"),
    (0, {"low": 0.0, "open_low": True}, ValueError, "x must be a finite number > 0, got 0"),
    (1.0, {"low": 0.0, "high": 1.0, "open_high": True}, ValueError,
     "x must be a number in [0, 1), got 1.0"),
    (0.0, {"low": 0.0, "high": 1.0, "open_low": True}, ValueError,
     "x must be a number in (0, 1], got 0.0"),
    (1.5, {"high": 1.0, "open_high": True}, ValueError, "x must be a finite number < 1, got 1.5"),
])
def test_check_number_names_the_argument_and_the_range(value, bounds, error, message):
    with pytest.raises(error, match=re.escape(message)):
        backend.check_number("x", value, **bounds)


def test_check_number_takes_real_scalars_as_a_python_float_at_the_ends_it_includes():
    for value in (1, 0.5, np.float32(0.5), np.int64(1), np.array(0.25), 0.0):
        out = backend.check_number("x", value, 0.0, 1.0)
        assert type(out) is float and out == float(value)
    assert backend.check_number("x", -1e300) == -1e300  # unbounded: any finite number


def test_dtype_name_reads_each_librarys_dtypes_and_refuses_others_every_time():
    from nnarray.backend.targets import dtype_name

    for _ in range(2):  # the second time from the names already seen
        assert dtype_name(np.dtype("float32")) == "float32"
        assert dtype_name(np.float64) == "float64"
        assert dtype_name("float64") == "float64"
        for bad in (np.dtype("int8"), np.dtype("float16"), [np.float32], "float"):
            with pytest.raises(ValueError, match="dtype must be one of"):
                dtype_name(bad)
