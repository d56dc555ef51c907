"""Parameter updates, as pure functions: they return new dicts and never
modify arrays in place (JAX and array_api_strict arrays are immutable).

``gradient_descent`` is the lecture's update. The optimizers of the follow-up
course — momentum, RMSprop, Adam — are small objects whose state is a dict of
arrays: ``state = opt.init(params)``, then
``params, state = opt.update(params, grads, state, learning_rate)``.
``state["t"]`` is the step count, kept on the host; ``opt.apply`` updates the
state's arrays alone. What a step needs from the host besides the rate
(Adam's bias corrections) is ``opt.hyper(t)``; a compiled chunk computes it
on the host for each of its steps and passes it in as ``hyper=`` (the rate
and these may then be 0-d device arrays), so that one program serves every
step. ``xp=`` is the training loop's namespace: with a fused one
(``backend.fused``, on CuPy) gradient descent and Adam update each parameter
in one kernel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .backend import Array, check_number, namespace

State = dict[str, Any]


def check_learning_rate(learning_rate: Any) -> float:
    """``learning_rate`` as a Python float > 0 (a NumPy scalar would promote
    float32 parameters to float64)."""
    return check_number("learning_rate", learning_rate, 0.0, open_low=True)


def gradient_descent(
    parameters: Mapping[str, Array], grads: Mapping[str, Array], learning_rate: float
) -> dict[str, Array]:
    """W[l] := W[l] − α dW[l],  b[l] := b[l] − α db[l], for every layer."""
    lr = check_learning_rate(learning_rate)
    missing = [f"d{k}" for k in parameters if f"d{k}" not in grads]
    if missing:
        raise ValueError(f"grads is missing {missing} for the parameters {sorted(parameters)}")
    for k, p in parameters.items():
        shape = getattr(grads[f"d{k}"], "shape", None)
        if shape is None or tuple(shape) != tuple(p.shape):
            raise ValueError(f"grads['d{k}'] must have the shape of parameters['{k}'], "
                             f"{tuple(p.shape)}, got {shape if shape is None else tuple(shape)}")
    return apply_gradients(parameters, grads, lr)


def apply_gradients(
    parameters: Mapping[str, Array], grads: Mapping[str, Array], learning_rate: float,
    xp: Any = None,
) -> dict[str, Array]:
    """θ := θ − α dθ without the checks of :func:`gradient_descent`: for the
    training loop, whose ``learning_rate`` is already a checked Python float
    (or a 0-d array of the parameters' dtype). With a namespace from
    ``backend.fused.training_namespace`` (CuPy) each parameter is one fused
    kernel, the same operations."""
    fused = getattr(xp, "nnarray_fused", None)
    if fused is not None:
        return {k: fused.gradient_descent(p, grads["d" + k], learning_rate)
                for k, p in parameters.items()}
    return {k: p - learning_rate * grads["d" + k] for k, p in parameters.items()}


def opt_arrays(opt_state: Mapping[str, Any]) -> dict[str, Any]:
    """The optimizer state without its step count ``t`` (kept on the host)."""
    return {k: v for k, v in opt_state.items() if k != "t"}


def _zeros_like(parameters: Mapping[str, Array]) -> dict[str, Array]:
    return {k: namespace(p).zeros_like(p) for k, p in parameters.items()}


def _sqrt(parameters: Mapping[str, Array], xp: Any) -> Any:
    """The namespace's ``sqrt`` (``xp``'s, else the parameters').

    RMSprop and Adam square dθ as one multiplication and take √s with
    ``sqrt``, both correctly rounded everywhere; not ``** 2`` and ``** 0.5``:
    on CuPy those call ``pow``, which is not, and which a compiled kernel may
    turn into a multiplication, so the two would differ by an ulp."""
    return (namespace(*parameters.values()) if xp is None else xp).sqrt


def _beta(name: str, value: Any) -> float:
    return check_number(name, value, 0.0, 1.0, open_high=True)


def _epsilon(value: Any) -> float:
    return check_number("epsilon", value, 0.0, open_low=True)


class _Optimizer:
    """What every optimizer shares. Its state is the step count ``t`` (kept
    on the host) beside its arrays; :meth:`apply` is the update of the
    arrays alone, given the step's host values (what the training loop and
    its compiled chunks run), :meth:`update` the whole step."""

    def hyper(self, t: int) -> dict[str, float]:
        """The host values step ``t`` (1, 2, ...) needs besides the rate: none."""
        return {}

    def apply(self, parameters: Mapping[str, Array], grads: Mapping[str, Array],
              arrays: State, learning_rate: Any, hyper: Mapping[str, Any],
              xp: Any = None) -> tuple[dict[str, Array], State]:
        """One step on the state's arrays (``state`` without ``t``), with
        ``hyper`` the step's :meth:`hyper` values: ``(new parameters, new
        arrays)``."""
        raise NotImplementedError

    def update(self, parameters: Mapping[str, Array], grads: Mapping[str, Array],
               state: State, learning_rate: float, hyper: Mapping[str, Any] | None = None,
               xp: Any = None) -> tuple[dict[str, Array], State]:
        """One step: ``(new parameters, new state)``; nothing is changed in place.
        ``hyper`` defaults to :meth:`hyper` of the step ``state["t"] + 1``;
        ``xp`` is the loop's namespace (a fused one runs one kernel per parameter)."""
        t = state["t"] + 1
        new, arrays = self.apply(parameters, grads, opt_arrays(state), learning_rate,
                                 self.hyper(t) if hyper is None else hyper, xp)
        return new, {"t": t, **arrays}


@dataclass(frozen=True)
class GradientDescent(_Optimizer):
    """θ := θ − α dθ (the lecture's update), stateless."""

    def init(self, parameters: Mapping[str, Array]) -> State:
        """The state before the first step (zeros shaped like the parameters)."""
        return {"t": 0}

    def apply(self, parameters: Mapping[str, Array], grads: Mapping[str, Array],
              arrays: State, learning_rate: Any, hyper: Mapping[str, Any],
              xp: Any = None) -> tuple[dict[str, Array], State]:
        """θ := θ − α dθ for every parameter; no arrays of its own."""
        return apply_gradients(parameters, grads, learning_rate, xp), arrays


@dataclass(frozen=True)
class Momentum(_Optimizer):
    """v := β v + (1 − β) dθ;  θ := θ − α v."""

    beta: float = 0.9

    def __post_init__(self) -> None:
        _beta("beta", self.beta)

    def init(self, parameters: Mapping[str, Array]) -> State:
        """The state before the first step (zeros shaped like the parameters)."""
        return {"t": 0, "v": _zeros_like(parameters)}

    def apply(self, parameters: Mapping[str, Array], grads: Mapping[str, Array],
              arrays: State, learning_rate: Any, hyper: Mapping[str, Any],
              xp: Any = None) -> tuple[dict[str, Array], State]:
        """v := β v + (1 − β) dθ;  θ := θ − α v."""
        b = float(self.beta)
        v = {k: b * arrays["v"][k] + (1.0 - b) * grads[f"d{k}"] for k in parameters}
        new = {k: p - learning_rate * v[k] for k, p in parameters.items()}
        return new, {"v": v}


@dataclass(frozen=True)
class RMSprop(_Optimizer):
    """s := β s + (1 − β) dθ²;  θ := θ − α dθ / (√s + ε)."""

    beta: float = 0.999
    epsilon: float = 1e-8

    def __post_init__(self) -> None:
        _beta("beta", self.beta)
        _epsilon(self.epsilon)

    def init(self, parameters: Mapping[str, Array]) -> State:
        """The state before the first step (zeros shaped like the parameters)."""
        return {"t": 0, "s": _zeros_like(parameters)}

    def apply(self, parameters: Mapping[str, Array], grads: Mapping[str, Array],
              arrays: State, learning_rate: Any, hyper: Mapping[str, Any],
              xp: Any = None) -> tuple[dict[str, Array], State]:
        """s := β s + (1 − β) dθ²;  θ := θ − α dθ / (√s + ε)."""
        b, eps, sqrt = float(self.beta), float(self.epsilon), _sqrt(parameters, xp)
        g = {k: grads[f"d{k}"] for k in parameters}
        s = {k: b * arrays["s"][k] + (1.0 - b) * (g[k] * g[k]) for k in parameters}
        new = {k: p - learning_rate * g[k] / (sqrt(s[k]) + eps) for k, p in parameters.items()}
        return new, {"s": s}


@dataclass(frozen=True)
class Adam(_Optimizer):
    """v := β1 v + (1 − β1) dθ;  s := β2 s + (1 − β2) dθ²;  with the bias
    corrections v̂ = v / (1 − β1^t), ŝ = s / (1 − β2^t):  θ := θ − α v̂ / (√ŝ + ε)."""

    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8

    def __post_init__(self) -> None:
        _beta("beta1", self.beta1)
        _beta("beta2", self.beta2)
        _epsilon(self.epsilon)

    def init(self, parameters: Mapping[str, Array]) -> State:
        """The state before the first step (zeros shaped like the parameters)."""
        return {"t": 0, "v": _zeros_like(parameters), "s": _zeros_like(parameters)}

    def hyper(self, t: int) -> dict[str, float]:
        """The bias corrections of step ``t`` (1, 2, ...), computed on the host:
        ``c1 = 1 − β1^t``, ``c2 = 1 − β2^t``."""
        return {"c1": 1.0 - float(self.beta1) ** t, "c2": 1.0 - float(self.beta2) ** t}

    def apply(self, parameters: Mapping[str, Array], grads: Mapping[str, Array],
              arrays: State, learning_rate: Any, hyper: Mapping[str, Any],
              xp: Any = None) -> tuple[dict[str, Array], State]:
        """v, s and θ of one step, with ``hyper``'s bias corrections ``c1``, ``c2``."""
        b1, b2, eps = float(self.beta1), float(self.beta2), float(self.epsilon)
        c1, c2 = hyper["c1"], hyper["c2"]
        fused = getattr(xp, "nnarray_fused", None)
        if fused is not None:  # one kernel per parameter for v, s and θ, the same operations
            out = {k: fused.adam(p, grads[f"d{k}"], arrays["v"][k], arrays["s"][k],
                                 learning_rate, b1, b2, c1, c2, eps)
                   for k, p in parameters.items()}
            return ({k: o[0] for k, o in out.items()},
                    {"v": {k: o[1] for k, o in out.items()},
                     "s": {k: o[2] for k, o in out.items()}})
        g, sqrt = {k: grads[f"d{k}"] for k in parameters}, _sqrt(parameters, xp)
        v = {k: b1 * arrays["v"][k] + (1.0 - b1) * g[k] for k in parameters}
        s = {k: b2 * arrays["s"][k] + (1.0 - b2) * (g[k] * g[k]) for k in parameters}
        new = {k: p - learning_rate * (v[k] / c1) / (sqrt(s[k] / c2) + eps)
               for k, p in parameters.items()}
        return new, {"v": v, "s": s}


Optimizer = GradientDescent | Momentum | RMSprop | Adam
OPTIMIZERS: dict[str, type[Optimizer]] = {
    "gd": GradientDescent, "momentum": Momentum, "rmsprop": RMSprop, "adam": Adam}


def get(optimizer: str | Optimizer) -> Optimizer:
    """An optimizer from its name (``gd``, ``momentum``, ``rmsprop``, ``adam``) or itself."""
    if isinstance(optimizer, GradientDescent | Momentum | RMSprop | Adam):
        return optimizer
    if isinstance(optimizer, str) and optimizer in OPTIMIZERS:
        return OPTIMIZERS[optimizer]()
    raise ValueError(
        f"optimizer must be one of {sorted(OPTIMIZERS)} or an optimizer object such as "
        f"nnarray.optimizers.Adam(), got {optimizer!r}"
    )
