"""Finite-difference check of :func:`nnarray.propagation.model_backward`.

For every parameter θ_i the two-sided difference
(J(θ + ε e_i) − J(θ − ε e_i)) / 2ε is compared with the analytic gradient by
the relative difference ‖grad − approx‖ / (‖grad‖ + ‖approx‖). Below about
1e-7 the gradient is right. The perturbations are made on the host and copied
to the parameters' device, so this is slow and meant for small networks in
float64.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import backend, propagation, step
from .backend import Array


def check(
    parameters: Mapping[str, Array],
    X: Array,
    Y: Array,
    hidden: str = "relu",
    output: str = "sigmoid",
    epsilon: float = 1e-7,
    *,
    l2: float = 0.0,
    masks: Mapping[int, Array] | None = None,
) -> float:
    """The relative difference between backprop's gradients and finite
    differences, over all of W1, b1, ..., WL, bL. Needs float64 parameters.

    ``epsilon`` is the lecture's 1e-7. Where the gradients are small (~1e-3),
    the differences' own rounding (~1e-16·J/ε a component) approaches 2e-7;
    ``epsilon=1e-5`` balances rounding and truncation in float64 (~1e-9).

    ``l2`` adds the penalty (λ/2m) Σ‖W‖²; ``masks`` are fixed dropout masks
    (D[l] / keep_prob) for the hidden layers they name. Without either, the
    gradients are :func:`~nnarray.propagation.model_backward`'s, by the
    lecture's formulas; with them, the training loop's.
    """
    epsilon = backend.check_number("epsilon", epsilon, 0.0, open_low=True)
    l2 = backend.check_number("l2", l2, 0.0)
    dtypes = {backend.dtype_name(p.dtype) for p in parameters.values()}
    if dtypes != {"float64"}:
        raise ValueError(
            f"gradcheck needs float64 parameters (float32 differences are noise), got {dtypes}"
        )
    xp = backend.namespace(X, Y, *parameters.values())

    def J(params: Mapping[str, Array]) -> float:
        if not l2 and masks is None:
            return backend.to_float(step.cost(params, X, Y, hidden, output))
        _, cost = step.gradients(params, X, Y, hidden, output, xp=xp, l2=l2, masks=masks)
        return backend.to_float(cost)  # type: ignore[arg-type]  # want_cost=True: a cost

    if not l2 and masks is None:
        AL, caches = propagation.model_forward(X, parameters, hidden, output)
        grads = propagation.model_backward(AL, Y, caches, hidden, output)
    else:
        grads, _ = step.gradients(parameters, X, Y, hidden, output, xp=xp, l2=l2,
                                   masks=masks, want_cost=False)
    analytic, numeric = [], []
    for key, value in parameters.items():
        host = backend.to_numpy(value).astype(np.float64)
        analytic.append(backend.to_numpy(grads[f"d{key}"]).ravel())
        approx = np.empty(host.size)
        for i in range(host.size):
            costs = []
            for shift in (epsilon, -epsilon):
                shifted = host.copy()
                shifted.flat[i] += shift
                trial = dict(parameters)
                trial[key] = backend.from_host(shifted, value)
                costs.append(J(trial))
            approx[i] = (costs[0] - costs[1]) / (2 * epsilon)
        numeric.append(approx)
    g, a = np.concatenate(analytic), np.concatenate(numeric)
    denom = np.linalg.norm(g) + np.linalg.norm(a)
    return float(np.linalg.norm(g - a) / denom) if denom > 0 else 0.0
