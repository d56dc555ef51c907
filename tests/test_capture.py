"""The training step makes no host tensor on PyTorch when its inputs are on CUDA.

A host (CPU) tensor made inside the step is copied to the GPU at every step,
and a CUDA graph cannot capture the copy ("Cannot copy between CPU and CUDA
tensors during CUDA graph capture"). ``xp.maximum(Z, 0.0)`` is such a case:
array_api_compat turns the Python scalar into a CPU tensor (``lift_fresh``)
and copies it (``_to_copy`` to cuda).

No GPU is needed: the step runs on fake CUDA tensors
(``torch._subclasses.fake_tensor.FakeTensorMode``, shapes and devices only),
and a dispatch mode records the device of every tensor each operation takes
and makes. A dispatch mode over CPU or ``meta`` tensors would not show the
problem: there every tensor is on that one device.
"""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

from torch._subclasses.fake_tensor import FakeTensorMode  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from torch.utils._pytree import tree_leaves  # noqa: E402

from nnarray import optimizers  # noqa: E402
from nnarray import step as S  # noqa: E402
from nnarray.backend import namespace  # noqa: E402

HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu"]
OUTPUTS = ["sigmoid", "softmax", "linear"]
OPTIMIZERS = ["gd", "momentum", "rmsprop", "adam"]
DIMS = [3, 5, 4, 2]
M = 6


class HostTensors(TorchDispatchMode):
    """Records every operation that takes or makes a tensor off CUDA, and every
    copy from the CPU to CUDA."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []
        self.offenders: list[str] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        ins = [t.device.type for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        outs = [t.device.type for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        name = str(func)
        self.ops.append(name)
        if any(d != "cuda" for d in ins + outs):
            self.offenders.append(f"{name}: takes {ins}, makes {outs}")
        elif "lift_fresh" in name:  # a tensor made from Python data, copied below the dispatcher
            self.offenders.append(f"{name}: makes a tensor from Python data on {outs}")
        if "_to_copy" in name and "cpu" in ins and "cuda" in outs:
            self.offenders.append(f"{name}: copies the CPU to CUDA")
        return out


def cuda_inputs(output: str, opt_name: str, dtype: Any = None) -> dict[str, Any]:
    """Parameters, data, a dropout mask, the optimizer's state and 0-d rate
    and hyper values, all fake CUDA tensors (call inside the FakeTensorMode)."""
    dtype = dtype or torch.float32
    cuda = {"device": "cuda", "dtype": dtype}
    params = {}
    for l in range(1, len(DIMS)):
        params[f"W{l}"] = torch.randn(DIMS[l], DIMS[l - 1], **cuda)
        params[f"b{l}"] = torch.zeros(DIMS[l], 1, **cuda)
    X = torch.randn(DIMS[0], M, **cuda)
    Y = torch.rand(DIMS[-1], M, **cuda)
    masks = {1: torch.rand(DIMS[1], M, **cuda)}
    opt = optimizers.get(opt_name)
    hyper = {k: torch.full((), v, **cuda) for k, v in opt.hyper(1).items()}
    return {"params": params, "X": X, "Y": Y, "masks": masks, "opt": opt,
            "state": opt.init(params), "rate": torch.full((), 0.05, **cuda), "hyper": hyper}


def run_on_fake_cuda(fn: Any, *setup_args: Any) -> HostTensors:
    """``fn(inputs)`` on fake CUDA tensors made by :func:`cuda_inputs`; the
    recorder sees only what ``fn`` does, not the setup."""
    with FakeTensorMode(allow_non_fake_inputs=False):
        inputs = cuda_inputs(*setup_args)
        for v in tree_leaves(inputs):
            assert not isinstance(v, torch.Tensor) or v.device.type == "cuda"
        with HostTensors() as recorder:
            fn(inputs)
    assert recorder.ops, "nothing was recorded"
    return recorder


def assert_no_host_tensor(recorder: HostTensors) -> None:
    assert not recorder.offenders, "host tensors in the step:\n" + "\n".join(
        dict.fromkeys(recorder.offenders))


def test_fake_cuda_shows_a_host_scalar():
    """The check can fail: ``maximum(Z, 0.0)`` makes a CPU tensor and copies it."""

    def old_relu(inputs: dict[str, Any]) -> None:
        Z = inputs["X"]
        namespace(Z).maximum(Z, 0.0)

    recorder = run_on_fake_cuda(old_relu, "sigmoid", "gd")
    assert any("lift_fresh" in o for o in recorder.offenders), recorder.offenders
    if not torch.cuda.is_available():
        # With a real CUDA device torch copies the Python scalar to it below the
        # dispatcher, so only the lift_fresh shows (on cuda).
        assert any("copies the CPU to CUDA" in o for o in recorder.offenders), recorder.offenders


@pytest.mark.parametrize("opt_name", OPTIMIZERS)
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("rate", ["float", "0-d cuda"])
def test_step_makes_no_host_tensor(hidden, output, opt_name, rate):
    """step.step with L2 and a dropout mask, the cost wanted, as the loop calls it."""

    def step(inputs: dict[str, Any]) -> None:
        p = inputs["params"]
        xp = namespace(inputs["X"], inputs["Y"], *p.values())
        settings = S.Settings(hidden, output, 0.05, inputs["opt"], l2=0.1)
        lr = 0.05 if rate == "float" else inputs["rate"]
        new, J, _ = S.step(p, inputs["X"], inputs["Y"], hidden, output, lr, True, xp,
                               settings=settings, opt_state=inputs["state"],
                               masks=inputs["masks"])
        assert J.device.type == "cuda" and all(v.device.type == "cuda" for v in new.values())

    assert_no_host_tensor(run_on_fake_cuda(step, output, opt_name))


@pytest.mark.parametrize("opt_name", OPTIMIZERS)
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_device_scalar_step_makes_no_host_tensor(hidden, output, opt_name):
    """What a CUDA graph replays: the gradients, then the update with the rate
    and the optimizer's ``hyper`` values as 0-d CUDA tensors."""

    def step(inputs: dict[str, Any]) -> None:
        p = inputs["params"]
        xp = namespace(inputs["X"], inputs["Y"], *p.values())
        grads, J = S.gradients(p, inputs["X"], inputs["Y"], hidden, output, xp=xp,
                                   l2=0.1, masks=inputs["masks"])
        assert J.device.type == "cuda"
        new, _ = inputs["opt"].update(p, grads, inputs["state"], inputs["rate"],
                                      hyper=inputs["hyper"])
        assert all(v.device.type == "cuda" for v in new.values())

    assert_no_host_tensor(run_on_fake_cuda(step, output, opt_name))


@pytest.mark.parametrize("hidden", HIDDEN)
def test_float64_step_makes_no_host_tensor(hidden):
    def step(inputs: dict[str, Any]) -> None:
        p = inputs["params"]
        xp = namespace(inputs["X"], *p.values())
        S.step(p, inputs["X"], inputs["Y"], hidden, "sigmoid", inputs["rate"], True, xp,
                   opt_state=inputs["state"], masks=inputs["masks"])

    assert_no_host_tensor(run_on_fake_cuda(step, "sigmoid", "gd", torch.float64))
