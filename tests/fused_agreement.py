"""The fused CuPy kernels checked on a GPU: every kernel against the
standard path on CuPy and against NumPy float64, whole training steps fused
against standard, and the memory pool over repeated fused steps.

Test code, not library code: ``tests/test_fused.py`` runs :func:`agreement`
on NumPy (with the kernels' Python evaluation) and :func:`self_check` on a
GPU; ``scripts/gpu_smoke.py`` runs :func:`self_check` on a GPU too
(``python tests/fused_agreement.py`` prints its summary).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import array_api_compat
import numpy as np

if __package__ in (None, ""):  # run as a script: the project root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nnarray import activations, optimizers, step
from nnarray.engines import fused as kernels_module


@dataclass(frozen=True)
class Device:
    """What :func:`agreement` needs of the library it checks: copies to and
    from the host, a sync, and the memory pool's size."""

    asarray: Callable[[Any], Any]
    asnumpy: Callable[[Any], Any]
    synchronize: Callable[[], None]
    pool_bytes: Callable[[], int]


def self_check(seed: int = 0, verbose: bool = False) -> dict[str, Any]:
    """On a CUDA machine: every CuPy kernel against the standard path on CuPy
    and against NumPy float64, then whole training steps fused against
    standard and the memory pool over repeated fused steps (:func:`agreement`).
    Raises ``AssertionError`` at the first disagreement; returns the summary."""
    import cupy

    xp = array_api_compat.array_namespace(cupy.empty(0))
    device = Device(cupy.asarray, cupy.asnumpy, lambda: cupy.cuda.Device().synchronize(),
                    lambda: int(cupy.get_default_memory_pool().total_bytes()))
    return agreement(device, xp, kernels_module._fused_namespace(xp, "cupy"), seed, verbose)


def agreement(device: Device, xp: Any, fused_xp: Any, seed: int = 0, verbose: bool = False,
              pool_steps: int = 200) -> dict[str, Any]:
    """Check the kernels of ``fused_xp.nnarray_fused`` against the standard
    path computed with ``xp`` (arrays made by ``device``) and against NumPy
    float64 (the kernels' bodies evaluated in Python); raise
    ``AssertionError`` at the first disagreement.

    Float64 must agree bit for bit with the standard path; float32 within
    float32 rounding (the summary lists which agree bit for bit). Against
    NumPy float64: 1e-12 relative in float64 (a device's ``tanh`` may differ
    from the host's in the last bits), 1e-5 of the largest value in float32.
    Then three training steps of a small net for every hidden activation,
    head and optimizer, with L2 and dropout: float64 bit for bit (parameters
    and costs), float32 within rounding. Last, ``pool_steps`` fused steps must
    not grow the memory pool. Returns ``{"kernels": n, "float32_bit_exact": [...],
    "float32_rounding": [...], "steps": n, "pool_bytes": (before, after)}``.
    """
    rng = np.random.default_rng(seed)
    fused = fused_xp.nnarray_fused
    reference = kernels_module._fused_namespace(np, "python").nnarray_fused  # NumPy, float64
    report: dict[str, Any] = {"kernels": 0, "float32_bit_exact": [], "float32_rounding": [],
                              "steps": 0}

    def say(msg: str) -> None:
        if verbose:
            print(msg, flush=True)

    def host(shape: tuple[int, ...], scale: float = 3.0) -> np.ndarray:
        a = rng.standard_normal(shape) * scale
        special = [0.0, -0.0, np.inf, -np.inf, 1e-30, -1e-30, 40.0, -40.0]
        flat = a.reshape(-1)
        flat[: len(special)] = special[: flat.size]
        return a

    def agree(what: str, dtype: str, fused_out: Any, standard: Any,
              ref: np.ndarray) -> None:
        f, s = np.asarray(device.asnumpy(fused_out)), np.asarray(device.asnumpy(standard))
        if f.shape != s.shape or f.dtype != s.dtype:
            raise AssertionError(f"{what} [{dtype}]: fused {f.shape} {f.dtype} against "
                                 f"standard {s.shape} {s.dtype}")
        same = ((f == s) & (np.signbit(f) == np.signbit(s))) | (np.isnan(f) & np.isnan(s))
        bits = bool(same.all())
        if dtype == "float64" and not bits:
            bad = np.argwhere(~same)
            first = tuple(bad[0])
            raise AssertionError(
                f"{what} [float64]: the fused kernel differs from the standard path (bit for "
                f"bit) at {len(bad)} places, first at {list(first)}: {f[first]!r} != "
                f"{s[first]!r}")
        if dtype == "float32":
            if bits:
                report["float32_bit_exact"].append(what)
            else:
                scale = float(np.max(np.abs(s[np.isfinite(s)]), initial=1.0))
                np.testing.assert_allclose(f, s, rtol=4e-7, atol=4e-7 * scale,
                                           err_msg=f"{what} [float32]: fused vs standard")
                report["float32_rounding"].append(what)
        finite = np.isfinite(ref)
        scale = float(np.max(np.abs(ref[finite]), initial=1.0))
        # CUDA's tanh/exp and glibc's differ by an ulp: where a result cancels to
        # ~0 (σ(z)(1 − σ(z)) with σ(z) ≈ 1), the difference is an ulp of the scale.
        rtol, atol = (1e-12, 4 * 2.0**-52 * scale) if dtype == "float64" else (1e-5,
                                                                              1e-5 * scale)
        np.testing.assert_allclose(f.astype(np.float64)[finite], ref[finite], rtol=rtol,
                                   atol=atol, err_msg=f"{what} [{dtype}]: fused vs NumPy float64")
        report["kernels"] += 1
        say(f"ok {what} [{dtype}]" + ("" if dtype == "float64" or bits else " (rounding)"))

    with np.errstate(all="ignore"):
        for dtype in ("float64", "float32"):

            def both(shape: tuple[int, ...], scale: float = 3.0,
                     dtype: str = dtype) -> tuple[Any, np.ndarray]:
                h = host(shape, scale).astype(dtype)
                return device.asarray(h), h.astype(np.float64)

            (WA, WA_h), (b, b_h), (dA, dA_h) = both((7, 33)), both((7, 1)), both((7, 33))
            for name in kernels_module.ACTIVATIONS:
                g, g_backward = activations.get(name)
                A_ref, Z_ref = reference.linear_activation(name, WA_h, b_h, True)
                for keep in (False, True):
                    A_f, Z_f = fused.linear_activation(name, WA, b, keep)
                    Z_s = WA + b
                    agree(f"{name} forward A", dtype, A_f, g(Z_s, xp), A_ref)
                    if keep:
                        agree(f"{name} forward Z", dtype, Z_f, Z_s, Z_ref)
                    elif Z_f is not None:
                        raise AssertionError(f"{name} forward returned Z without keep_Z")
                Z = WA + b
                A = g(Z, xp)
                for source in ("A", "Z"):
                    given, given_h = (A, A_ref) if source == "A" else (None, None)
                    agree(f"{name} backward from {source}", dtype,
                          fused.activation_backward(name, dA, Z, given),
                          g_backward(dA, Z, given, xp),
                          reference.activation_backward(name, dA_h, Z_ref, given_h))
            (P, P_h), (dP, dP_h), (v, v_h) = both((7, 33)), both((7, 33)), both((7, 33), 0.1)
            s_host = np.abs(host((7, 33), 0.1)).astype(dtype)
            s, s_h = device.asarray(s_host), s_host.astype(np.float64)
            rate = float(np.asarray(0.0075, dtype=dtype))  # the same value in both dtypes
            adam = optimizers.Adam()
            h = adam.hyper(3)
            for lr in (rate, device.asarray(np.asarray(rate, dtype=dtype))):
                kind = "float" if isinstance(lr, float) else "0-d"
                agree(f"gradient descent ({kind} rate)", dtype,
                      fused.gradient_descent(P, dP, lr),
                      optimizers.apply_gradients({"W": P}, {"dW": dP}, lr)["W"],
                      reference.gradient_descent(P_h, dP_h, rate))
                zero_d = {k: device.asarray(np.asarray(c, dtype=dtype)) for k, c in h.items()}
                for hyper in (h, zero_d):
                    state = {"t": 2, "v": {"W": v}, "s": {"W": s}}
                    new_s, st_s = adam.update({"W": P}, {"dW": dP}, state, lr, hyper)
                    out_f = fused.adam(P, dP, v, s, lr, adam.beta1, adam.beta2, hyper["c1"],
                                       hyper["c2"], adam.epsilon)
                    out_r = reference.adam(P_h, dP_h, v_h, s_h, rate, adam.beta1, adam.beta2,
                                           h["c1"], h["c2"], adam.epsilon)
                    for i, (label, standard) in enumerate(
                            (("θ", new_s["W"]), ("v", st_s["v"]["W"]), ("s", st_s["s"]["W"]))):
                        agree(f"adam {label} ({kind} rate and hyper)", dtype, out_f[i],
                              standard, out_r[i])
        report["steps"] = _agreeing_steps(device, xp, fused_xp, rng, say)
    report["pool_bytes"] = _steady_pool(device, fused_xp, say, pool_steps)
    return report


def _net(device: Device, rng: Any, dims: list[int], m: int, dtype: str,
         output: str) -> tuple[dict[str, Any], Any, Any, dict[int, Any]]:
    """Parameters, X, Y (as the head expects) and a dropout mask for layer 1."""
    P = {}
    for l in range(1, len(dims)):
        P[f"W{l}"] = device.asarray(rng.standard_normal((dims[l], dims[l - 1])).astype(dtype))
        P[f"b{l}"] = device.asarray((0.1 * rng.standard_normal((dims[l], 1))).astype(dtype))
    X = device.asarray(rng.standard_normal((dims[0], m)).astype(dtype))
    R = rng.random((dims[-1], m))
    Y = {"sigmoid": R > 0.5, "softmax": R == R.max(axis=0), "linear": R}[output]
    masks = {1: device.asarray(((rng.random((dims[1], m)) < 0.8) / 0.8).astype(dtype))}
    return P, X, device.asarray(Y.astype(dtype)), masks


def _agreeing_steps(device: Device, xp: Any, fused_xp: Any, rng: Any,
                    say: Callable[[str], None]) -> int:
    """Three training steps, fused against standard, for every hidden
    activation, head and optimizer, with L2 and dropout."""
    count = 0
    for dtype in ("float64", "float32"):
        for output in ("sigmoid", "softmax", "linear"):
            for hidden in kernels_module.ACTIVATIONS:
                for opt_name in ("gd", "momentum", "rmsprop", "adam"):
                    opt = optimizers.get(opt_name)
                    P0, X, Y, masks = _net(device, rng, [3, 6, 5, 4], 16, dtype, output)
                    runs = []
                    for ns in (xp, fused_xp):
                        P, state, costs = P0, opt.init(P0), []
                        for _ in range(3):
                            grads, J = step.gradients(P, X, Y, hidden, output, xp=ns, l2=0.1,
                                                       masks=masks)
                            P, state = opt.update(P, grads, state, 0.05, xp=ns)
                            costs.append(J)
                        runs.append({**P, **{f"J{i}": J for i, J in enumerate(costs)}})
                    what = f"{hidden}/{output}/{opt_name} steps"
                    for k in runs[0]:
                        f = np.asarray(device.asnumpy(runs[1][k]))
                        s = np.asarray(device.asnumpy(runs[0][k]))
                        if dtype == "float64" and not np.array_equal(f, s, equal_nan=True):
                            raise AssertionError(f"{what} [float64]: {k} differs from the "
                                                 f"standard path by {np.abs(f - s).max()}")
                        np.testing.assert_allclose(f, s, rtol=1e-4, atol=1e-6,
                                                   err_msg=f"{what} [{dtype}]: {k}")
                    count += 1
                    say(f"ok {what} [{dtype}]")
    return count


def _steady_pool(device: Device, fused_xp: Any, say: Callable[[str], None],
                 steps: int = 200) -> tuple[int, int]:
    """Repeated fused steps (relu, sigmoid head, Adam) allocate nothing the
    memory pool cannot reuse: its size after ``steps`` more is what it was."""
    P, X, Y, _ = _net(device, np.random.default_rng(1), [3, 16, 8, 1], 256, "float32",
                      "sigmoid")
    opt = optimizers.Adam()
    state = opt.init(P)

    def run(P: Any, state: Any, n: int) -> Any:
        for _ in range(n):
            grads, _ = step.gradients(P, X, Y, "relu", "sigmoid", xp=fused_xp,
                                       want_cost=False)
            P, state = opt.update(P, grads, state, 0.01, xp=fused_xp)
        return P, state

    P, state = run(P, state, 5)
    device.synchronize()
    before = device.pool_bytes()
    P, state = run(P, state, steps)
    device.synchronize()
    after = device.pool_bytes()
    if after > before:
        raise AssertionError(f"the memory pool grew over {steps} fused steps: {before} -> "
                             f"{after} bytes")
    say(f"ok memory pool {before} -> {after} bytes over {steps} fused steps")
    return before, after


def _main() -> None:
    report = self_check(verbose=True)
    print(f"fused kernels agree: {report['kernels']} kernel checks, {report['steps']} step "
          f"checks; float32 bit for bit: {len(report['float32_bit_exact'])}, within "
          f"rounding: {len(report['float32_rounding'])} {report['float32_rounding']}")


if __name__ == "__main__":
    _main()
