"""How training steps run: the engines above the math.

The math (``propagation``, ``losses``, ``optimizers``) and :mod:`nnarray.step`
know nothing of this package; an engine is handed the step, a pure function
of arrays, and runs it:

- ``eager``: one step at a time (NumPy, CuPy, array_api_strict, torch on
  the CPU), jitted (JAX), persisted (Dask): :func:`compile_step`;
- ``chunks``: the interface of several steps as one unit;
  ``jax_chunks``: ``jax.jit`` of ``lax.fori_loop``; ``torch_graphs``: the
  step captured once in a CUDA graph and replayed; ``cupy_graphs``: the same
  for CuPy, its products through ``gemm`` (cuBLAS with nvmath-python's
  bindings, a handle of its own, bound to the capture stream);
- ``fused``: CuPy's elementwise chains as single kernels
  (:func:`training_namespace`);
- ``runner``: :class:`Runner`, what the training loop asks for: a step or a
  chunk of steps with their per-step host values; an engine not yet
  verified on its hardware (CuPy's graphs) falls back to the per-step path
  when it fails (:class:`FallbackWarning`), but for a sticky CUDA error
  (:class:`CudaContextError`).
"""

from __future__ import annotations

from .chunks import MASK_BYTES, Chunks, CudaContextError, FallbackWarning
from .eager import compile_step, jit_enabled
from .fused import training_namespace
from .runner import Runner, chunk_runner, chunks_enabled, describe

__all__ = [
    "MASK_BYTES",
    "Chunks",
    "CudaContextError",
    "FallbackWarning",
    "Runner",
    "chunk_runner",
    "chunks_enabled",
    "compile_step",
    "describe",
    "jit_enabled",
    "training_namespace",
]
