"""ONNX export: a trained network as a graph that runs without Python.

The graph is not written by an exporter. ndonnx, an ONNX-backed library of
the Array API standard, runs the forward pass that prediction runs,
:func:`nnarray.propagation.model_forward`, on a symbolic input ``X`` with the
trained parameters as constants, and records every operation it meets:
the graph computes ``A[l] = g(W[l] A[l-1] + b[l])``, l = 1 .. L, by the
lecture's own code. Labels come from :func:`nnarray.metrics.labels`, the rule
``predict`` uses.

The graph's interface:

- input ``X`` in the network's dtype (float32 or float64), ``(n_x, m)``
  (examples are columns) or, with ``examples_as_rows=True``, ``(m, n_x)``;
  ``m`` is dynamic (any batch size, 1 included);
- output ``probabilities``: ``predict_proba``'s values (a linear head's
  predictions), in the input's layout;
- for a sigmoid or softmax head, output ``labels``: int64 class indices
  (sigmoid: 1 where p > 0.5, else 0; softmax: the most probable row),
  ``(n[L], m)`` with columns (``(1, m)`` for one sigmoid unit or a softmax),
  with rows ``(m,)`` for ``(1, m)`` and ``(m, n[L])`` otherwise;
- ``metadata_props``: ``nnarray_version``, ``layer_dims``, ``hidden``,
  ``output``, ``layout`` (``columns`` or ``rows``), and whatever the caller
  adds (scikit-learn's ``classes_``, say).

The opset and IR version are ndonnx's (ndonnx 0.20 to 0.23: opset 21, IR
version 10, which onnxruntime loads from 1.20 on). Needs the ``onnx`` extra
(``pip install 'nnarray[onnx]'``: ndonnx, onnx, and onnxruntime to run it);
without it :func:`export` raises ``ImportError`` saying so.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from . import activations, backend, io, losses, metrics, propagation
from ._version import __version__

INPUT = "X"
"""The graph's input."""
PROBABILITIES = "probabilities"
"""The output of ``predict_proba``'s values."""
LABELS = "labels"
"""The output of class indices (int64), for sigmoid and softmax heads."""
_OWN_METADATA = ("nnarray_version", "layer_dims", "hidden", "output", "layout",
                 "ndonnx_schema")


def _libraries() -> tuple[Any, Any]:
    """``(ndonnx, onnx)``, or ``ImportError`` saying what to install."""
    try:
        import ndonnx
        import onnx
    except ImportError as exc:
        raise ImportError(
            f"ONNX export needs ndonnx and onnx, which are not installed ({exc}): "
            "pip install 'nnarray[onnx]'"
        ) from exc
    return ndonnx, onnx


def _check(parameters: Mapping[str, Any], hidden: str, output: str, examples_as_rows: Any,
           metadata: Mapping[str, Any] | None) -> tuple[list[int], str]:
    """The layer sizes and dtype of host ``parameters``; ``ValueError`` or
    ``TypeError`` naming what is wrong."""
    if not isinstance(examples_as_rows, bool):
        raise TypeError(f"examples_as_rows must be True or False, got {examples_as_rows!r}")
    for key, value in (metadata or {}).items():
        if not (isinstance(key, str) and isinstance(value, str)):
            raise TypeError(f"metadata must map str to str, got {key!r}: {value!r}")
        if key in _OWN_METADATA:
            raise ValueError(f"metadata key {key!r} is one nnarray writes itself "
                             f"({', '.join(_OWN_METADATA)}): choose another name")
    activations.check_hidden(hidden)
    losses.check_output(output)
    L = propagation.n_layers(parameters)
    dims = [int(parameters["W1"].shape[1])] + [int(parameters[f"W{l}"].shape[0])
                                               for l in range(1, L + 1)]
    dtypes = {np.asarray(a).dtype.name for a in parameters.values()}
    if len(dtypes) != 1 or dtypes & {"float32", "float64"} != dtypes:
        raise ValueError(f"parameters must all be float32 or all float64, got {sorted(dtypes)}")
    return dims, dtypes.pop()


def build(parameters: Mapping[str, Any], hidden: str = "relu", output: str = "sigmoid", *,
          examples_as_rows: bool = False, metadata: Mapping[str, str] | None = None) -> Any:
    """The ``onnx.ModelProto`` of the network with ``parameters``
    ``{"W1", "b1", ..., "WL", "bL"}`` (arrays of any library and device,
    copied to the host): ``model_forward`` run on ndonnx arrays (see the
    module's description for the graph's interface)."""
    parameters = {k: backend.to_numpy(a) for k, a in parameters.items()}  # from any device
    dims, dtype = _check(parameters, hidden, output, examples_as_rows, metadata)
    ndx, onnx = _libraries()
    consts = {k: ndx.asarray(a) for k, a in parameters.items()}
    shape = ("m", dims[0]) if examples_as_rows else (dims[0], "m")
    X = ndx.argument(shape=shape, dtype=getattr(ndx, dtype))
    # the lecture's layout inside: examples are columns
    A0 = ndx.matrix_transpose(X) if examples_as_rows else X
    AL, _ = propagation.model_forward(A0, consts, hidden, output)
    outputs = {PROBABILITIES: ndx.matrix_transpose(AL) if examples_as_rows else AL}
    if output != "linear":
        labels = ndx.astype(metrics.labels(AL, output, dtype=ndx.int64, xp=ndx), ndx.int64)
        if examples_as_rows:
            one_row = output == "softmax" or dims[-1] == 1
            labels = ndx.reshape(labels, (-1,)) if one_row else ndx.matrix_transpose(labels)
        outputs[LABELS] = labels
    model = ndx.build({INPUT: X}, outputs)
    props = {"nnarray_version": __version__, "layer_dims": json.dumps(dims),
             "hidden": hidden, "output": output,
             "layout": "rows" if examples_as_rows else "columns", **(metadata or {})}
    for key, value in props.items():
        model.metadata_props.add(key=key, value=str(value))
    model.producer_name, model.producer_version = "nnarray", __version__
    model.doc_string = (f"nnarray network {dims}, hidden={hidden}, output={output}, {dtype}; "
                        f"input {INPUT} {'(m, n_x)' if examples_as_rows else '(n_x, m)'}")
    onnx.checker.check_model(model)
    return model


def export(parameters: Mapping[str, Any], path: str | os.PathLike[str], hidden: str = "relu",
           output: str = "sigmoid", *, examples_as_rows: bool = False,
           metadata: Mapping[str, str] | None = None) -> Path:
    """Write the graph of :func:`build` to ``path`` (an ``.onnx`` file); returns the path.

    ``path`` is checked before any work (its folder must exist and be
    writable: ``OSError`` naming it), and the file is written whole to a
    temporary file beside it, then renamed over it: a failed export leaves
    no partial file, and any file at ``path`` as it was."""
    parameters = {k: backend.to_numpy(a) for k, a in parameters.items()}
    _check(parameters, hidden, output, examples_as_rows, metadata)
    io.check_writable(path, "path")
    model = build(parameters, hidden, output, examples_as_rows=examples_as_rows,
                  metadata=metadata)
    data = model.SerializeToString()

    def write(f: IO[bytes]) -> None:
        f.write(data)

    return io.write_atomically(path, write)
