"""Fused elementwise kernels: fewer launches for CuPy's training step.

CuPy runs every array operation as its own kernel launch, and a step of a
small network is mostly launches. Three places of the step are elementwise
chains that one kernel can do:

- a layer's forward: ``Z = WA + b`` (``b`` broadcast over the columns) and
  ``A = g(Z)``, with ``Z`` written too where the step keeps it;
- a hidden layer's backward: ``dZ = dA · g'(Z)`` (from ``A`` where it is kept);
- the update of each parameter: ``θ − α dθ``, and Adam's ``v``, ``s`` and ``θ``.

The math of each kernel is written once, below, as a few assignments in the
part of Python that reads the same in C: ``+ − * /``, calls of ``tanh``,
``exp``, ``sqrt``, ``maximum``, ``where``, and ``T(...)``, the cast to the
arrays' dtype, around every constant (a bare ``0.5`` would be a double in C)
and every comparison (a 0/1 of the dtype; ``where``'s condition aside).
From the same text :class:`Kernel` makes the CUDA source of a
``cupy.ElementwiseKernel`` (compiled with ``--fmad=false``: NVRTC would
otherwise contract ``a*b + c`` into one rounding and lose the bit-for-bit
agreement) and a Python evaluation over any namespace, which the CPU tests
use as the reference of the C.

The math modules never see this module: :func:`training_namespace` gives the
training loop, on CuPy, its namespace with one more attribute,
``xp.nnarray_fused`` (a :class:`Fused`), and the fusion points of
``propagation`` and ``optimizers`` use it where it is present. Off CuPy, or
without ``NNARRAY_FUSE=1`` in the environment (an opt-in until the kernels
pass :func:`self_check` on a GPU), the namespace is returned as it is and
the standard path runs: it is the reference, and the fused one is
tested to agree with it (bit for bit in float64; see :func:`self_check` for
the kernels on a GPU).
"""

from __future__ import annotations

import ast
import functools
import os
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import array_api_compat

LEAKY_SLOPE = 0.01
"""Leaky ReLU's slope for z < 0 (``activations.LEAKY_SLOPE``, checked by the tests)."""

FUNCTIONS = ("tanh", "exp", "sqrt", "maximum", "where", "T")
"""The calls a kernel's expressions may make."""

C_FUNCTIONS = {"tanh": "tanh", "exp": "exp", "sqrt": "sqrt",
               "maximum": "nnarray_maximum", "where": "nnarray_where", "T": "T"}
"""Their names in C (the two helpers are defined in :data:`C_PREAMBLE`)."""

C_PREAMBLE = r"""
#ifndef NAN
#define NAN __int_as_float(0x7fffffff)
#endif
// CuPy's maximum for floating types: NaN if either is NaN, else max(a, b)
template <typename U> __device__ U nnarray_maximum(U a, U b) {
    return isnan(a) ? a : (isnan(b) ? b : U(max(a, b)));
}
template <typename U> __device__ U nnarray_where(bool c, U a, U b) { return c ? a : b; }
"""

C_OPTIONS = ("--fmad=false",)
"""NVRTC options: no fused multiply-add, so that each operation rounds as on the standard path."""

_RESERVED = frozenset(
    "T i n max min isnan auto bool break case char const continue default do double else "
    "enum extern float for goto if inline int long new operator register return short "
    "signed sizeof static struct switch template this typedef union unsigned void volatile "
    "while".split())
"""Names a kernel may not use: C++ keywords, CUDA functions the preamble
calls, and CuPy's own (``T``, the index ``i``, the size ``n``)."""

_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_COMPARISONS = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<=", ast.Eq: "==",
                ast.NotEq: "!="}


_ARITY = {"tanh": 1, "exp": 1, "sqrt": 1, "maximum": 2, "where": 3, "T": 1}


def _c_expression(node: ast.AST, known: set[str], test: bool = False) -> str:
    """C for one expression of the shared subset, fully parenthesized, or
    ``ValueError`` for anything C would read differently from Python. A
    comparison (``test``) stands only inside ``T(...)`` (0 or 1 of the dtype)
    or as the first argument of ``where``, which must be one."""
    if isinstance(node, ast.Compare):
        if not test or len(node.ops) != 1 or type(node.ops[0]) not in _COMPARISONS:
            raise ValueError(f"not in the subset shared by Python and C: {ast.unparse(node)} "
                             "(one comparison, inside T() or as where's condition)")
        return (f"({_c_expression(node.left, known)} {_COMPARISONS[type(node.ops[0])]} "
                f"{_c_expression(node.comparators[0], known)})")
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return (f"({_c_expression(node.left, known)} {_OPERATORS[type(node.op)]} "
                f"{_c_expression(node.right, known)})")
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in C_FUNCTIONS and not node.keywords):
        name, args = node.func.id, node.args
        if len(args) != _ARITY[name]:
            raise ValueError(f"{name}() takes {_ARITY[name]} arguments: {ast.unparse(node)}")
        if name == "T" and isinstance(args[0], ast.Constant):
            value = args[0].value
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"T() of a non-number: {ast.unparse(node)}")
            return f"T({float(value)!r})"
        if name == "where" and not isinstance(args[0], ast.Compare):
            raise ValueError(f"where() needs a comparison first: {ast.unparse(node)}")
        rendered = [_c_expression(a, known, test=(name == "T" or (name == "where" and i == 0)))
                    for i, a in enumerate(args)]
        return f"{C_FUNCTIONS[name]}({', '.join(rendered)})"
    if isinstance(node, ast.Name):
        if node.id not in known:
            raise ValueError(f"unknown name {node.id!r}")
        return node.id
    if isinstance(node, ast.Constant):
        raise ValueError(f"a bare constant {node.value!r} (write T({node.value!r}): in C it "
                         "would be a double)")
    raise ValueError(f"not in the subset shared by Python and C: {ast.unparse(node)}")


@dataclass(frozen=True)
class Kernel:
    """One fused kernel: ``inputs`` (arrays, or scalars given as Python floats
    or 0-d arrays of the arrays' dtype), ``body`` (assignments ``name = expression``
    in order, each name new) and the ``outputs`` it returns (names of the body)."""

    name: str
    inputs: tuple[str, ...]
    body: tuple[tuple[str, str], ...]
    outputs: tuple[str, ...]
    _parsed: tuple[ast.expr, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        bad = [n for n in self.inputs
               if not n.isidentifier() or n in _RESERVED or n in FUNCTIONS or n.startswith("_")]
        if bad or len(set(self.inputs)) != len(self.inputs):
            raise ValueError(f"kernel {self.name}: bad input names {list(self.inputs)}")
        known = set(self.inputs)
        parsed = []
        for name, expression in self.body:
            if (not name.isidentifier() or name in known or name in FUNCTIONS
                    or name in _RESERVED or name.startswith(("out_", "_"))):
                raise ValueError(f"kernel {self.name}: {name!r} is not a new name")
            tree = ast.parse(expression, mode="eval").body
            _c_expression(tree, known)  # checks the subset and the names
            parsed.append(tree)
            known.add(name)
        missing = [o for o in self.outputs if o not in dict(self.body)]
        if missing or not self.outputs:
            raise ValueError(f"kernel {self.name}: outputs {missing} are not assigned")
        object.__setattr__(self, "_parsed", tuple(parsed))

    def c_source(self) -> tuple[str, str, str]:
        """``(in_params, out_params, operation)`` for ``cupy.ElementwiseKernel``:
        every input and output of type ``T``; output ``x`` is the parameter ``out_x``."""
        known = set(self.inputs)
        lines = []
        for (name, _), tree in zip(self.body, self._parsed, strict=True):
            lines.append(f"T {name} = {_c_expression(tree, known)};")
            known.add(name)
        lines += [f"out_{o} = {o};" for o in self.outputs]
        return (", ".join(f"T {i}" for i in self.inputs),
                ", ".join(f"T out_{o}" for o in self.outputs), "\n".join(lines))

    def evaluate(self, xp: Any, *args: Any) -> tuple[Any, ...]:
        """The body run with ``xp``'s functions, operation by operation as the
        kernel runs it: the Python reference of the C."""
        dtype = next(a.dtype for a in args if hasattr(a, "dtype") and a.ndim > 0)
        env: dict[str, Any] = dict(_python_functions(xp, dtype), **dict(zip(self.inputs, args,
                                                                          strict=True)))
        for (name, _), code in zip(self.body, _compiled(self), strict=True):
            env[name] = eval(code, {"__builtins__": {}}, env)  # the checked subset only
        return tuple(env[o] for o in self.outputs)


@functools.cache
def _compiled(kernel: Kernel) -> tuple[types.CodeType, ...]:
    return tuple(compile(ast.Expression(tree), f"<{kernel.name}>", "eval")
                 for tree in kernel._parsed)


def _python_functions(xp: Any, dtype: Any) -> dict[str, Callable[..., Any]]:
    def cast(x: Any) -> Any:
        # a constant stays a Python float, so that it takes the arrays' dtype
        # as it does in the standard path; a comparison becomes 0/1 of the dtype
        return float(x) if isinstance(x, int | float) else xp.astype(x, dtype)

    def maximum(a: Any, b: Any) -> Any:
        return xp.maximum(a, xp.zeros_like(a) + b if isinstance(b, float) else b)

    return {"tanh": xp.tanh, "exp": xp.exp, "sqrt": xp.sqrt, "maximum": maximum,
            "where": xp.where, "T": cast}


@dataclass(frozen=True)
class Activation:
    """An elementwise activation as kernel expressions: ``forward`` is g in
    terms of ``Z``; ``backward`` is dA·g' in terms of ``dA`` and ``A`` (``uses
    = "A"``), or of ``X``, which may be ``A`` or ``Z`` (``uses = "X"``: the test
    x > 0 reads the same on both)."""

    forward: str
    backward: str
    uses: str


ACTIVATIONS = {
    "sigmoid": Activation("T(0.5) * tanh(T(0.5) * Z) + T(0.5)", "dA * (A * (T(1.0) - A))", "A"),
    "tanh": Activation("tanh(Z)", "dA * (T(1.0) - A * A)", "A"),
    "relu": Activation("maximum(Z, T(0.0))", "dA * T(X > T(0.0))", "X"),
    "leaky_relu": Activation(f"where(Z > T(0.0), Z, T({LEAKY_SLOPE!r}) * Z)",
                             f"where(X > T(0.0), dA, T({LEAKY_SLOPE!r}) * dA)", "X"),
    "linear": Activation("Z", "dA", "X"),
}
"""The activations that have fused kernels: every elementwise one (softmax
sums over a column and keeps the standard path)."""


@functools.cache
def forward_kernel(activation: str, keep_Z: bool) -> Kernel:
    """``Z = WA + b; A = g(Z)``, returning ``A`` (and ``Z`` when ``keep_Z``).
    For ``linear`` it returns ``Z`` alone (A is Z)."""
    g = ACTIVATIONS[activation].forward
    if g == "Z":
        return Kernel(f"{activation}_forward", ("WA", "b"), (("Z", "WA + b"),), ("Z",))
    return Kernel(f"{activation}_forward" + ("_keep_z" if keep_Z else ""), ("WA", "b"),
                  (("Z", "WA + b"), ("A", g)), ("A", "Z") if keep_Z else ("A",))


@functools.cache
def backward_kernel(activation: str, source: str) -> Kernel:
    """``dZ = dA · g'`` from ``source`` (``"A"`` or ``"Z"``): the input is
    ``(dA, A)`` or ``(dA, Z)``; from Z, sigmoid and tanh recompute A first."""
    act = ACTIVATIONS[activation]
    if act.uses == "X":
        return Kernel(f"{activation}_backward", ("dA", "X"), (("dZ", act.backward),), ("dZ",))
    if source == "A":
        return Kernel(f"{activation}_backward", ("dA", "A"), (("dZ", act.backward),), ("dZ",))
    return Kernel(f"{activation}_backward_from_z", ("dA", "Z"),
                  (("A", act.forward), ("dZ", act.backward)), ("dZ",))


GRADIENT_DESCENT = Kernel("gradient_descent", ("P", "dP", "lr"),
                          (("P_new", "P - lr * dP"),), ("P_new",))
"""θ := θ − α dθ (``optimizers.apply_gradients``)."""

ADAM = Kernel(
    "adam", ("P", "dP", "v0", "s0", "lr", "b1", "one_minus_b1", "b2", "one_minus_b2",
             "c1", "c2", "eps"),
    (("v", "b1 * v0 + one_minus_b1 * dP"),
     ("s", "b2 * s0 + one_minus_b2 * (dP * dP)"),
     ("P_new", "P - lr * (v / c1) / (sqrt(s / c2) + eps)")),
    ("P_new", "v", "s"),
)
"""Adam's step for one parameter (``optimizers.Adam.update``): dθ² as one
multiplication and √ŝ as ``sqrt``, both correctly rounded, as there. (With
``pow``, CuPy's standard path raised to an exponent known at run time while
NVRTC was free to fold the kernel's constant exponent: 1 ulp apart.)"""


def kernels() -> list[Kernel]:
    """Every kernel the training step can launch."""
    out = [GRADIENT_DESCENT, ADAM]
    for name in ACTIVATIONS:
        out += [forward_kernel(name, False), forward_kernel(name, True)]
        if ACTIVATIONS[name].backward != "dA":
            out += [backward_kernel(name, "A"), backward_kernel(name, "Z")]
    return list(dict.fromkeys(out))


Runner = Callable[..., tuple[Any, ...]]


class Fused:
    """What the fusion points call (``xp.nnarray_fused``): each method is one
    kernel launch (none for ``linear``'s backward, which is dA itself)."""

    activations = frozenset(ACTIVATIONS)
    """The activations with fused kernels."""

    def __init__(self, run: Runner, kind: str) -> None:
        self._run = run
        self.kind = kind

    def __repr__(self) -> str:
        return f"Fused({self.kind!r})"

    def linear_activation(self, activation: str, WA: Any, b: Any,
                          keep_Z: bool) -> tuple[Any, Any]:
        """``(A, Z)`` of a layer from ``WA = W @ A_prev``; ``Z`` is ``None``
        unless ``keep_Z``."""
        kernel = forward_kernel(activation, keep_Z)
        out = self._run(kernel, WA, b)
        if kernel.outputs == ("Z",):
            return out[0], (out[0] if keep_Z else None)
        return out[0], (out[1] if keep_Z else None)

    def activation_backward(self, activation: str, dA: Any, Z: Any, A: Any) -> Any:
        """``dZ = dA · g'``, from ``A`` when given (as the standard backward
        does), else from ``Z``."""
        if ACTIVATIONS[activation].backward == "dA":
            return dA
        source = "Z" if A is None else "A"
        return self._run(backward_kernel(activation, source), dA, Z if A is None else A)[0]

    def gradient_descent(self, P: Any, dP: Any, learning_rate: Any) -> Any:
        """θ − α dθ."""
        return self._run(GRADIENT_DESCENT, P, dP, learning_rate)[0]

    def adam(self, P: Any, dP: Any, v: Any, s: Any, learning_rate: Any, beta1: float,
             beta2: float, c1: Any, c2: Any, epsilon: float) -> tuple[Any, Any, Any]:
        """Adam's ``(θ, v, s)`` for one parameter; ``1 − β`` is formed on the
        host in double precision, as the standard update's Python floats are."""
        return self._run(ADAM, P, dP, v, s, learning_rate, beta1, 1.0 - beta1, beta2,
                         1.0 - beta2, c1, c2, epsilon)


def python_runner(xp: Any) -> Runner:
    """Kernels evaluated with ``xp``'s own functions (:meth:`Kernel.evaluate`)."""

    def run(kernel: Kernel, *args: Any) -> tuple[Any, ...]:
        return kernel.evaluate(xp, *args)

    return run


def cupy_runner() -> Runner:
    """Kernels compiled with CuPy (``cupy.ElementwiseKernel``, :data:`C_OPTIONS`)
    at their first launch, once per process (CuPy caches the binaries on
    disk); outputs come from CuPy's memory pool."""
    compiled: dict[str, Any] = {}

    def run(kernel: Kernel, *args: Any) -> tuple[Any, ...]:
        k = compiled.get(kernel.name)
        if k is None:
            import cupy

            in_params, out_params, operation = kernel.c_source()
            k = compiled[kernel.name] = cupy.ElementwiseKernel(
                in_params, out_params, operation, f"nnarray_{kernel.name}",
                preamble=C_PREAMBLE, options=C_OPTIONS)
        out = k(*args)
        return out if isinstance(out, tuple) else (out,)

    return run


def enabled() -> bool:
    """True only when the environment sets ``NNARRAY_FUSE=1`` (an opt-in until
    the CUDA kernels pass :func:`self_check` on a GPU; ``NNARRAY_NO_FUSE``
    keeps them off)."""
    return bool(os.environ.get("NNARRAY_FUSE")) and not os.environ.get("NNARRAY_NO_FUSE")


def training_namespace(xp: Any, kernels: str | None = None) -> Any:
    """The namespace the training loop computes with: ``xp`` itself, except
    on CuPy where :func:`enabled` (``NNARRAY_FUSE=1``), where it is ``xp``
    with the attribute ``nnarray_fused`` (a :class:`Fused` of CuPy kernels)
    added.

    ``kernels="python"`` builds that namespace over any ``xp`` with the
    kernels evaluated in Python (:meth:`Kernel.evaluate`): the reference the
    tests compare the CUDA kernels' source with. The same ``xp`` gives the
    same namespace object each time (it keys the loop's caches).
    """
    if kernels is None:
        if not enabled() or not array_api_compat.is_cupy_namespace(xp):
            return xp
        kernels = "cupy"
    if kernels not in ("cupy", "python"):
        raise ValueError(f"kernels must be 'cupy' or 'python', got {kernels!r}")
    return _fused_namespace(xp, kernels)


@functools.lru_cache(maxsize=16)
def _fused_namespace(xp: Any, kernels: str) -> Any:
    ns: Any = types.ModuleType(f"{getattr(xp, '__name__', 'xp')}+fused",
                          "an array namespace with nnarray's fused kernels")
    ns.__dict__.update(vars(xp))  # the namespace's own functions, unwrapped
    run = cupy_runner() if kernels == "cupy" else python_runner(xp)
    ns.nnarray_fused = Fused(run, kernels)
    return ns
