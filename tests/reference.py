"""The lecture's formulas in plain NumPy float64: the reference every backend
is compared with. Written independently of nnarray on purpose."""

from __future__ import annotations

import numpy as np

LEAK = 0.01


def g(name: str, Z: np.ndarray) -> np.ndarray:
    if name == "softmax":
        E = np.exp(Z - Z.max(axis=0))
        return E / E.sum(axis=0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-Z))
    if name == "tanh":
        return np.tanh(Z)
    if name == "relu":
        return np.maximum(0.0, Z)
    if name == "leaky_relu":
        return np.where(Z > 0, Z, LEAK * Z)
    return Z.copy()


def g_prime(name: str, Z: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        s = g("sigmoid", Z)
        return s * (1 - s)
    if name == "tanh":
        return 1 - np.tanh(Z) ** 2
    if name == "relu":
        return (Z > 0).astype(np.float64)
    if name == "leaky_relu":
        return np.where(Z > 0, 1.0, LEAK)
    return np.ones_like(Z)


def forward(X, params, hidden, output):
    L = len(params) // 2
    A, caches = X, []
    for l in range(1, L + 1):
        Z = params[f"W{l}"] @ A + params[f"b{l}"]
        caches.append((A, Z))
        A = g(hidden if l < L else output, Z)
    return A, caches


def cost(AL, Y, output):
    m = Y.shape[1]
    if output == "softmax":
        return -np.sum(Y * np.log(AL)) / m
    if output == "linear":
        return np.sum((AL - Y) ** 2) / (2 * m)
    return -np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)) / m


def backward(AL, Y, caches, params, hidden, output):
    L, m = len(caches), Y.shape[1]
    grads = {}
    dA = (AL - Y) if output == "linear" else -(Y / AL - (1 - Y) / (1 - AL))
    for l in range(L, 0, -1):
        A_prev, Z = caches[l - 1]
        if l == L and output == "softmax":
            dZ = AL - Y  # the softmax Jacobian applied to -Y/A
        else:
            dZ = dA * g_prime(output if l == L else hidden, Z)
        grads[f"dW{l}"] = dZ @ A_prev.T / m
        grads[f"db{l}"] = dZ.sum(axis=1, keepdims=True) / m
        dA = params[f"W{l}"].T @ dZ
        grads[f"dA{l - 1}"] = dA
    return grads


def problem(dims, m=7, seed=0, output="sigmoid"):
    """Random X (n_x, m), labels Y (n_y, m) and parameters (float64, host)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((dims[0], m))
    if output == "linear":
        Y = rng.standard_normal((dims[-1], m))
    elif output == "softmax":
        Y = np.eye(dims[-1])[:, rng.integers(0, dims[-1], m)]
    else:
        Y = (rng.random((dims[-1], m)) > 0.5).astype(np.float64)
    params = {}
    for l in range(1, len(dims)):
        params[f"W{l}"] = rng.standard_normal((dims[l], dims[l - 1])) / np.sqrt(dims[l - 1])
        params[f"b{l}"] = 0.1 * rng.standard_normal((dims[l], 1))
    return X, Y, params


def minibatch_gd(X, Y, params, orders, batch_size, lr, hidden="tanh", output="sigmoid"):
    """Mini-batch gradient descent: for each epoch's order of the columns,
    batches of ``batch_size`` consecutive examples of it (the last partial).
    Returns the parameters and each epoch's cost, every batch's J weighted by
    its share of m."""
    P = {k: v.copy() for k, v in params.items()}
    m, costs = X.shape[1], []
    for order in orders:
        total = 0.0
        for a in range(0, m, batch_size):
            idx = order[a:a + batch_size]
            AL, caches = forward(X[:, idx], P, hidden, output)
            total += cost(AL, Y[:, idx], output) * len(idx) / m
            g = backward(AL, Y[:, idx], caches, P, hidden, output)
            P = {k: v - lr * g[f"d{k}"] for k, v in P.items()}
        costs.append(total)
    return P, costs
