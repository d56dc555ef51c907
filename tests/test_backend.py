"""The boundary: devices, namespaces, conversions and their errors."""

from __future__ import annotations

import importlib.machinery
import math
import os
import re
import subprocess
import sys
import types

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
def test_gpu_without_gpu_says_there_is_none():
    no_gpu = backend.cuda_driver().gpus == 0
    want = "this machine has none" if no_gpu else "CuPy|cupy"
    with pytest.raises(nn.BackendUnavailableError, match=want):
        nn.device("gpu")
    with pytest.raises(nn.BackendUnavailableError, match=want):
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


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, **env), timeout=120)


def test_nnarray_device_env_is_read_when_the_default_device_is_first_needed():
    ok = _run("import nnarray; print(nnarray.get_default_device())", NNARRAY_DEVICE="cpu")
    assert ok.returncode == 0 and ok.stdout.strip() == "cpu"
    for value in ("tpu", "cuda:7"):  # cuda:7: no such GPU, whatever this machine has
        imported = _run("import nnarray", NNARRAY_DEVICE=value)
        assert imported.returncode == 0, imported.stderr
        code = ("import nnarray as nn\n"
                "for call in (nn.get_default_device, lambda: nn.Network([2, 1])):\n"
                "    try:\n        call()\n"
                "    except nn.BackendUnavailableError as exc:\n        print(exc)\n")
        out = _run(code, NNARRAY_DEVICE=value)
        lines = out.stdout.splitlines()
        assert out.returncode == 0 and len(lines) == 2, out.stderr
        assert all(line.startswith(f"NNARRAY_DEVICE={value!r} cannot be used here")
                   for line in lines)
    cli = [sys.executable, "-m", "nnarray"]
    env = dict(os.environ, NNARRAY_DEVICE="cuda:7")
    helped = subprocess.run([*cli, "--help"], capture_output=True, text=True, env=env)
    assert helped.returncode == 0 and "usage" in helped.stdout
    info = subprocess.run([*cli, "info"], capture_output=True, text=True, env=env)
    assert info.returncode == 0, info.stderr
    assert "default device: NNARRAY_DEVICE='cuda:7' cannot be used here" in info.stdout


@pytest.fixture
def fresh_default(monkeypatch):
    """The default device not yet read (as in a new process)."""
    from nnarray.backend import targets

    monkeypatch.setattr(targets, "_default_device", None)
    return targets


def test_the_default_device_setting_is_read_once_and_set_device_wins(fresh_default,
                                                                     monkeypatch):
    monkeypatch.setenv("NNARRAY_DEVICE", "tpu")
    with pytest.raises(nn.BackendUnavailableError, match=r"^NNARRAY_DEVICE='tpu' cannot"):
        nn.get_default_device()
    with pytest.raises(nn.BackendUnavailableError, match="NNARRAY_DEVICE='tpu'"):
        nn.init.initialize_parameters([2, 1])  # any call that needs the default device
    monkeypatch.setenv("NNARRAY_DEVICE", " CPU ")
    assert nn.get_default_device() == "cpu"
    monkeypatch.setenv("NNARRAY_DEVICE", "tpu")  # read once: later changes are not seen
    assert nn.get_default_device() == "cpu"
    fresh_default._default_device = None
    nn.set_default_device("cpu")  # an explicit setting never reads the variable
    assert nn.get_default_device() == "cpu"


class _Libcuda:
    """A stand-in for ``libcuda.so.1``: ``cuInit`` returns ``init``, the
    driver counts ``count`` devices and supports CUDA ``version``."""

    def __init__(self, init: int = 0, count: int = 1, version: int = 13000) -> None:
        self.init, self.count, self.version, self.calls = init, count, version, []

    def cuDriverGetVersion(self, out):
        out.contents.value = self.version
        return 0

    def cuInit(self, flags):
        self.calls.append(("cuInit", flags))
        return self.init

    def cuDeviceGetCount(self, out):
        out.contents.value = self.count
        return 0


def _loader(lib=None):
    def load(name):
        assert name == "libcuda.so.1"
        if lib is None:
            raise OSError(f"{name}: cannot open shared object file")
        return lib
    return load


def test_the_driver_is_asked_without_cupy():
    from nnarray.backend.libraries import _probe_driver

    got = _probe_driver(_loader())
    assert got.gpus == 0 and got.cuda is None and "no NVIDIA driver" in got.why
    lib = _Libcuda(init=100)
    got = _probe_driver(_loader(lib))
    assert got.gpus == 0 and got.cuda == (13, 0) and "CUDA_ERROR_NO_DEVICE" in got.why
    assert lib.calls == [("cuInit", 0)]
    got = _probe_driver(_loader(_Libcuda(count=0, version=12040)))
    assert got.gpus == 0 and got.cuda == (12, 4) and "sees no GPU" in got.why
    assert _probe_driver(_loader(_Libcuda(count=2))) == backend.Driver(2, (13, 0), "")


def _cupy_seeing(count: int) -> types.ModuleType:
    """A stand-in CuPy whose runtime counts ``count`` devices (raises at 0, as CuPy does)."""
    cupy = types.ModuleType("cupy")
    cupy.__spec__ = importlib.machinery.ModuleSpec("cupy", None)

    def getDeviceCount():
        if count == 0:
            raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
        return count

    cupy.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=getDeviceCount))
    return cupy


@pytest.mark.parametrize("cupy", ["missing", "installed"])
def test_no_gpu_is_not_reported_as_a_missing_package(monkeypatch, capsys, cupy):
    from nnarray import cli
    from nnarray.backend import libraries
    from nnarray.engines import gemm

    monkeypatch.setattr(libraries, "cuda_driver",
                        lambda: libraries._probe_driver(_loader(_Libcuda(init=100))))
    monkeypatch.setitem(sys.modules, "cupy", None if cupy == "missing" else _cupy_seeing(0))
    assert cli.main(["train", "--dataset", "planar", "--device", "gpu", "--iterations",
                     "2"]) == 2
    err = capsys.readouterr().err
    assert "device='gpu' needs an NVIDIA GPU, and this machine has none" in err
    assert "CUDA_ERROR_NO_DEVICE" in err and "pip install" not in err
    monkeypatch.setattr(gemm, "available", lambda: (True, ""))  # CuPy and nvmath importable
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "no GPU: device='gpu' needs an NVIDIA GPU" in out
    assert "CuPy CUDA graphs: no, CuPy runs step by step: no GPU here" in out


def test_with_a_gpu_what_is_missing_is_named(monkeypatch):
    from nnarray.backend import libraries

    driver = libraries._probe_driver(_loader(_Libcuda(count=1, version=12040)))
    monkeypatch.setattr(libraries, "cuda_driver", lambda: driver)
    monkeypatch.setitem(sys.modules, "cupy", None)
    why = backend.no_gpu_reason("cuda:0")
    assert why is not None and why.startswith("device='cuda:0' needs CuPy, which is not")
    assert why.endswith("install it with: pip install 'nnarray[cuda12]'")
    monkeypatch.setitem(sys.modules, "cupy", _cupy_seeing(0))
    monkeypatch.setattr(libraries, "cupy_dist", lambda: "cupy-cuda13x 14.0.0")
    why = backend.no_gpu_reason()
    assert why is not None and "driver (CUDA 12.4) sees 1 GPU(s) but cupy-cuda13x 14.0.0 " \
        "sees none" in why and "pip install 'nnarray[cuda12]' in place of it" in why
    monkeypatch.setitem(sys.modules, "cupy", _cupy_seeing(1))
    assert backend.no_gpu_reason() is None


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
