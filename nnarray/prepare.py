"""A user's own data made ready for the lecture's network, on the host
(NumPy), as ``nnarray train --dataset PATH`` and ``nnarray predict`` use it:

- the head from the labels (:func:`encode_labels`): two distinct values
  give a sigmoid output (the larger value is 1, as scikit-learn's
  ``classes_[1]``), 3 to :data:`MAX_CLASSES` integer or string values a
  softmax output of K units, anything else a linear output;
- a held-out split (:func:`split`): seeded, stratified for classes;
- standardization (:class:`Scaling`), with statistics from the training
  split: ``x′ = (x − μ) / s`` (``s = 1`` for a constant feature), and for a
  linear output the target too;
- afterwards, the scaling folded into the parameters (:func:`fold`):
  ``W1′ = W1 / s`` (column j divided by s_j), ``b1′ = b1 − W1′ μ``, and for a
  standardized target ``W_L′ = σ W_L``, ``b_L′ = σ b_L + μ_y``. The network
  saved is then a plain network on raw features: predicting, evaluating,
  loading and exporting it need to know nothing of the scaling.

:class:`~nnarray.Network` itself never scales anything: this is the
command's preparation, which a Python user may call or not.

:func:`read_inputs` reads what ``nnarray predict`` is given: CSV rows,
``.npy``/``.npz`` arrays, or pictures (PNG, JPEG, ... through Pillow:
``pip install 'nnarray[images]'``).
"""

from __future__ import annotations

import importlib
import math
import os
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import io, losses
from .datasets import read_csv_table

MAX_CLASSES = 20
"""The most distinct integer labels read as classes (softmax); more are values (linear)."""

OUTPUTS = tuple(losses.OUTPUTS)
"""The heads: sigmoid, softmax, linear."""

Label = str | int | float
"""A class label as the user wrote it (kept in the model file, printed by predict)."""


# ---------------------------------------------------------------------- #
# labels and heads


@dataclass(frozen=True)
class Labels:
    """Encoded labels: the ``output`` head, the user's ``classes`` (class
    index i is ``classes[i]``; ``None`` for a linear head) and ``Y``, ``(1,
    m)`` of 0/1 (sigmoid) or class indices (softmax), ``(n_y, m)`` values
    (linear)."""

    output: str
    classes: list[Label] | None
    Y: np.ndarray

    @property
    def units(self) -> int:
        """n[L]: 1 for sigmoid, K for softmax, the rows of Y for linear."""
        if self.output == "softmax":
            return len(self.classes or ())
        return 1 if self.output == "sigmoid" else self.Y.shape[0]


def _python(value: Any) -> Label:
    """A label as JSON keeps it: str, int (for integral numbers) or float."""
    if isinstance(value, str | np.str_):
        return str(value)
    number = float(value)
    return int(number) if number.is_integer() else number


def encode_labels(Y: np.ndarray, output: str | None = None,
                  name: str = "the labels") -> Labels:
    """The head for labels ``Y`` ``(n_y, m)`` (numbers, or strings in one
    row) and the labels encoded for it; ``output`` overrides the choice.

    One row: 2 distinct values -> sigmoid (the larger one is 1); 3 to
    :data:`MAX_CLASSES` integers, or strings -> softmax; other numbers ->
    linear. Several rows: one-hot columns -> softmax, else linear."""
    if output is not None and output not in OUTPUTS:
        raise ValueError(f"--output must be one of {list(OUTPUTS)}, got {output!r}")
    Y = np.asarray(Y)
    if Y.ndim != 2 or Y.shape[1] == 0:
        raise ValueError(f"{name} must be (n_y, m) with m >= 1, got shape {Y.shape}")
    strings = Y.dtype.kind in "US"
    if not strings and not np.all(np.isfinite(Y)):
        raise ValueError(f"{name} hold NaN or inf: every label must be a finite number")
    if Y.shape[0] > 1:
        one_hot = (not strings and bool(np.all((Y == 0) | (Y == 1)))
                   and bool(np.all(Y.sum(axis=0) == 1)))
        chosen = output or ("softmax" if one_hot else "linear")
        if chosen == "softmax" and one_hot:
            return Labels("softmax", list(range(Y.shape[0])),
                          np.argmax(Y, axis=0).reshape(1, -1))
        if chosen != "linear" or strings:
            raise ValueError(f"{name} have {Y.shape[0]} rows: a --output {chosen} head needs "
                             f"one row of labels{' or one-hot columns' * (chosen == 'softmax')}")
        return Labels("linear", None, Y.astype(np.float64))
    values, codes = np.unique(Y[0], return_inverse=True)
    integral = strings or bool(np.all(values == np.round(values)))
    if output is None:
        if len(values) == 2:
            output = "sigmoid"
        elif integral and (strings or len(values) <= MAX_CLASSES) and len(values) > 2:
            output = "softmax"
        else:
            output = "linear"
    if output == "linear":
        if strings:
            raise ValueError(f"{name} are strings ({_few(values)}): a linear head needs "
                             "numbers")
        if len(values) < 2:
            raise ValueError(f"{name} hold one value only ({_few(values)}): nothing to learn")
        return Labels("linear", None, Y.astype(np.float64))
    if len(values) < 2 or (output == "sigmoid" and len(values) != 2):
        want = "exactly 2" if output == "sigmoid" else "at least 2"
        raise ValueError(f"{name} hold {len(values)} distinct values ({_few(values)}): a "
                         f"{output} head needs {want} classes")
    classes = [_python(v) for v in values]
    return Labels(output, classes, codes.reshape(1, -1).astype(np.float64))


def shown_classes(classes: Sequence[Label] | None, n: int = 5) -> str:
    """The first ``n`` classes, as a user reads them."""
    if classes is None:
        return ""
    shown = ", ".join(map(str, classes[:n]))
    return shown + (", ..." if len(classes) > n else "")


def predictions(A: np.ndarray, output: str, classes: Sequence[Label] | None) -> list[str]:
    """One line an example of the outputs ``A`` ``(n[L], m)``: the label
    (``classes[i]``, or the class index i without classes) and its
    probability to 6 decimals; for a linear output the value(s)."""
    A = np.asarray(A, dtype=np.float64)
    if output == "linear":
        return [" ".join(f"{v:.6g}" for v in column) for column in A.T]
    if output == "softmax":
        index = np.argmax(A, axis=0)
        prob = A[index, np.arange(A.shape[1])]
    else:
        index = (A[0] > 0.5).astype(int)
        prob = np.where(index == 1, A[0], 1 - A[0])
    names = [classes[i] if classes is not None else int(i) for i in index]
    return [f"{name} {p:.6f}" for name, p in zip(names, prob, strict=True)]


def _few(values: np.ndarray, n: int = 5) -> str:
    shown = ", ".join(repr(_python(v)) for v in values[:n])
    return shown + (f", ... ({len(values)} in all)" if len(values) > n else "")


def default_hidden_units(n_x: int, units: int) -> int:
    """The default single hidden layer: twice the larger of the input's
    width and the head's units, from 8 to 64."""
    return int(min(64, max(8, 2 * max(n_x, units))))


# ---------------------------------------------------------------------- #
# the held-out split


def split(m: int, test_size: float, seed: int, classes: np.ndarray | None = None
          ) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices ``(train, test)`` of ``m`` examples, ``ceil(test_size
    · m)`` of them held out, drawn from ``default_rng(seed)``. With
    ``classes`` (one class index per example) the split is stratified: each
    class gives its share (largest remainders, then the larger classes, to
    make up the total), at most all of its examples."""
    if not 0 <= test_size < 1:
        raise ValueError(f"--test-size must be a fraction in [0, 1), got {test_size!r}")
    if seed < 0:
        raise ValueError(f"--seed must be an integer >= 0 to draw the split, got {seed}")
    n_test = math.ceil(test_size * m - 1e-9)
    if m - n_test < 1:
        raise ValueError(f"--test-size {test_size} of {m} examples leaves none to train on")
    rng = np.random.default_rng(seed)
    if n_test == 0:
        return np.arange(m), np.arange(0)
    if classes is None:
        test = rng.permutation(m)[:n_test]
    else:
        labels, counts = np.unique(classes, return_counts=True)
        quota = test_size * counts
        take = np.minimum(np.floor(quota).astype(int), counts)
        order = sorted(range(len(labels)), key=lambda i: (-(quota[i] - take[i]), -counts[i], i))
        left = n_test - int(take.sum())
        while left > 0:
            for i in order:
                if left > 0 and take[i] < counts[i]:
                    take[i] += 1
                    left -= 1
        test = np.concatenate([rng.permutation(np.flatnonzero(classes == c))[:k]
                               for c, k in zip(labels, take, strict=True)])
    mask = np.zeros(m, dtype=bool)
    mask[test] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


# ---------------------------------------------------------------------- #
# standardization, and folding it into the parameters


@dataclass(frozen=True)
class Scaling:
    """``x′ = (x − mean) / scale`` per row; ``mean`` and ``scale`` are ``(n, 1)``."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def of(cls, X: np.ndarray) -> Scaling:
        """The rows' means and standard deviations (1 for a constant row)."""
        X = np.asarray(X, dtype=np.float64)
        mean = X.mean(axis=1, keepdims=True)
        scale = X.std(axis=1, keepdims=True)
        constant = X.max(axis=1, keepdims=True) == X.min(axis=1, keepdims=True)
        return cls(mean, np.where(constant | (scale == 0), 1.0, scale))

    def apply(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=np.float64) - self.mean) / self.scale


def fold(parameters: Mapping[str, Any], x: Scaling | None = None,
         y: Scaling | None = None) -> dict[str, np.ndarray]:
    """Parameters of a network trained on ``x.apply(X)`` (and targets
    ``y.apply(Y)``) that compute the same on raw X (and give raw Y), in
    float64 on the host:

    ``W1′ = W1 / sᵀ``, ``b1′ = b1 − W1′ μ``; ``W_L′ = σ W_L``, ``b_L′ = σ b_L + μ_y``.
    """
    from .backend import to_numpy

    params = {k: np.asarray(to_numpy(v), dtype=np.float64) for k, v in parameters.items()}
    L = len(params) // 2
    if x is not None:
        W = params["W1"] / x.scale.T
        params["W1"], params["b1"] = W, params["b1"] - W @ x.mean
    if y is not None:
        params[f"W{L}"] = y.scale * params[f"W{L}"]
        params[f"b{L}"] = y.scale * params[f"b{L}"] + y.mean
    return params


# ---------------------------------------------------------------------- #
# the whole preparation


@dataclass(frozen=True)
class Prepared:
    """User data made ready: ``train``/``test`` are what the network is fit
    and scored on while training (scaled); ``raw_train``/``raw_test`` the
    same examples unscaled, labels encoded (for the folded network)."""

    labels: Labels
    train: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray] | None
    raw_train: tuple[np.ndarray, np.ndarray]
    raw_test: tuple[np.ndarray, np.ndarray] | None
    x_scaling: Scaling | None
    y_scaling: Scaling | None
    indices: tuple[np.ndarray, np.ndarray]

    def fold(self, parameters: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """The trained ``parameters`` with the scaling folded in (:func:`fold`)."""
        return fold(parameters, self.x_scaling, self.y_scaling)


def prepare(X: np.ndarray, Y: np.ndarray, *, output: str | None = None,
            test_size: float = 0.2, seed: int = 1, scale: bool = True,
            name: str = "the labels") -> Prepared:
    """Labels encoded (:func:`encode_labels`), ``test_size`` of the examples
    held out (:func:`split`, stratified for classes), and with ``scale`` the
    features (and a linear head's targets) standardized with the training
    split's statistics."""
    X = np.asarray(X, dtype=np.float64)
    labels = encode_labels(Y, output, name)
    classes = None if labels.output == "linear" else labels.Y[0]
    train, test = split(X.shape[1], test_size, seed, classes)
    Yc = labels.Y
    raw_train = (X[:, train], Yc[:, train])
    raw_test = (X[:, test], Yc[:, test]) if len(test) else None
    xs = Scaling.of(raw_train[0]) if scale else None
    ys = Scaling.of(raw_train[1]) if scale and labels.output == "linear" else None

    def scaled(part: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        Xp, Yp = part
        return (Xp if xs is None else xs.apply(Xp)), (Yp if ys is None else ys.apply(Yp))

    return Prepared(labels, scaled(raw_train), None if raw_test is None else scaled(raw_test),
                    raw_train, raw_test, xs, ys, (train, test))


def encode_with(classes: Sequence[Label] | None, Y: np.ndarray, name: str) -> np.ndarray:
    """``Y`` (the user's labels) as the class indices of ``classes`` (a saved
    model's); unchanged (as float) without classes (a linear head)."""
    Y = np.asarray(Y)
    if classes is None:
        if Y.dtype.kind in "US":
            raise ValueError(f"{name} are strings, but the model records no classes to "
                             "read them as")
        return Y.astype(np.float64)
    if Y.shape[0] != 1:
        if Y.dtype.kind not in "US" and len(classes) == Y.shape[0]:
            return Y.astype(np.float64)  # already one-hot
        raise ValueError(f"{name} must be one row of labels, got shape {Y.shape}")
    index = {c: i for i, c in enumerate(classes)}
    try:
        codes = [index[_python(v)] for v in Y[0]]
    except (KeyError, ValueError):
        unknown = sorted({str(v) for v in Y[0]} - {str(c) for c in classes})
        raise ValueError(f"{name} hold labels the model was not trained on: "
                         f"{', '.join(unknown[:5])} (its classes: "
                         f"{', '.join(map(str, classes))})") from None
    return np.asarray(codes, dtype=np.float64).reshape(1, -1)


# ---------------------------------------------------------------------- #
# what predict reads

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def table_input(n_x: int) -> dict[str, Any]:
    """The ``input`` of a model trained on a table of ``n_x`` columns."""
    return {"kind": "table", "columns": int(n_x)}


def picture_input(height: int, width: int, channels: int, scale: float) -> dict[str, Any]:
    """The ``input`` of a model trained on pictures, flattened row-major over
    height, width, channel and divided by ``scale``."""
    return {"kind": "picture", "height": int(height), "width": int(width),
            "channels": int(channels), "scale": scale}


def read_inputs(path: str | os.PathLike[str], n_x: int, kind: Mapping[str, Any] | None,
                model: str = "the model") -> tuple[list[str], np.ndarray]:
    """The examples of one ``nnarray predict`` input as X ``(n_x, m)`` and a
    name for each (``file``, or ``file:row`` for tables): a ``.csv`` (header
    optional), a ``.npy``/``.npz`` (rows are examples, or one example of
    ``n_x`` values; a picture model also takes ``(m, h, w, c)`` pixels), or
    a picture (any other file, read by Pillow). ``kind`` is the model's
    ``input`` metadata (``None`` for a file without it)."""
    path = Path(path)
    shown = str(path)
    if not path.is_file():
        raise FileNotFoundError(f"no input file at {shown!r}")
    suffix = path.suffix.lower()
    picture = kind is not None and kind.get("kind") == "picture"
    if suffix == ".csv":
        rows = _read_csv_rows(path, n_x, model)
        return ([f"{shown}:{i + 1}" for i in range(rows.shape[0])],
                _columns(rows, n_x, shown, model, kind))
    if suffix in (".npy", ".npz"):
        a = _read_array(path)
        if picture and kind is not None and a.ndim >= 3:
            a = _pixels(a.reshape(-1, *a.shape[-3:]) if a.ndim == 4 else a[None], kind, shown)
        if a.ndim == 1:
            a = a.reshape(1, -1)
        if a.ndim != 2:
            raise ValueError(f"{shown!r} holds an array of shape {a.shape}: expected examples "
                             f"as rows (m, {n_x})")
        if a.dtype.kind not in "biuf":
            raise ValueError(f"{shown!r} holds {a.dtype} values, not numbers")
        names = [shown] if a.shape[0] == 1 else [f"{shown}:{i + 1}" for i in range(a.shape[0])]
        return names, _columns(a.astype(np.float64), n_x, shown, model, kind)
    if not picture:
        trained = ("a table" if kind is None else
                   f"a table of {kind.get('columns', n_x)} columns")
        if suffix in PICTURE_SUFFIXES:
            raise ValueError(f"{shown!r} is a picture, but {model} was trained on {trained}, "
                             "not on pictures: give it .csv, .npy or .npz rows")
        raise ValueError(f"{shown!r} is not a .csv, .npy or .npz file, and {model} was "
                         f"trained on {trained}, not on pictures")
    assert kind is not None
    return [shown], _pixels(read_picture(path, kind)[None], kind, shown).T


def _columns(rows: np.ndarray, n_x: int, shown: str, model: str,
             kind: Mapping[str, Any] | None) -> np.ndarray:
    """Rows ``(m, n_x)`` as X ``(n_x, m)``; a wrong column count is one clear error."""
    _check_width(rows.shape[1], n_x, shown, model, kind)
    if not np.all(np.isfinite(rows)):
        raise ValueError(f"{shown!r} holds NaN or inf values")
    return rows.T


def _check_width(columns: int, n_x: int, shown: str, model: str,
                 kind: Mapping[str, Any] | None) -> None:
    """Refuse rows of other than ``n_x`` values, in one line."""
    if columns != n_x:
        what = "columns" if kind is None or kind.get("kind") != "picture" else "values a row"
        hint = (" (the label's column too? leave it out)" if columns == n_x + 1 else "")
        raise ValueError(f"{shown!r} has {columns} {what}, but {model} takes {n_x}: "
                         f"the training columns without the label{hint}")


def _read_csv_rows(path: Path, n_x: int, model: str) -> np.ndarray:
    """The numbers of a CSV, one example a row, ``n_x`` of them; a first
    line that is not all numbers is a header."""
    with path.open() as f:
        first = f.readline()
    try:
        [float(v) for v in first.strip().split(",")]
        skip = 0
    except ValueError:
        skip = 1
    rows = read_csv_table(path, skip)
    if rows.shape[0] == 0:
        raise ValueError(f"{str(path)!r} holds no rows of values")
    _check_width(rows.shape[1], n_x, str(path), model, None)
    try:
        return rows.astype(np.float64)
    except ValueError as exc:
        raise ValueError(f"{str(path)!r}: every value must be a number ({exc})") from None


def _read_array(path: Path) -> np.ndarray:
    """A ``.npy`` array, or a ``.npz``'s ``X`` (or its only array); no pickle."""
    shown = str(path)
    npz = path.suffix.lower() == ".npz"
    with path.open("rb") as f:
        start = f.read(6)
    if not start.startswith(b"PK") if npz else start != np.lib.format.MAGIC_PREFIX:
        raise ValueError(f"{shown!r} is not a {path.suffix} file: it does not start as "
                         f"{'a zip archive' if npz else 'a NumPy array'} does")
    try:
        if not npz:
            return np.asarray(np.load(path, allow_pickle=False))
        with np.load(path, allow_pickle=False) as data:
            if "X" not in data.files and len(data.files) != 1:
                raise ValueError(f"{shown!r} holds the arrays {data.files}: name the inputs X")
            return np.asarray(data["X" if "X" in data.files else data.files[0]])
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{shown!r} is not a readable {path.suffix} file: {exc}") from None
    except ValueError as exc:
        if shown in str(exc):
            raise
        raise ValueError(f"{shown!r} cannot be read: {io.numpy_refusal(exc)}") from None


def _pixels(images: np.ndarray, kind: Mapping[str, Any], shown: str) -> np.ndarray:
    """Pictures ``(m, h, w, c)`` as rows ``(m, h·w·c)``, divided by the model's scale."""
    want = (kind["height"], kind["width"], kind["channels"])
    if images.shape[1:] != want:
        raise ValueError(f"{shown!r} holds pictures of shape {images.shape[1:]}, the model "
                         f"takes {want} (height, width, channels)")
    return images.reshape(images.shape[0], -1).astype(np.float64) / float(kind["scale"])


def read_picture(path: str | os.PathLike[str], kind: Mapping[str, Any]) -> np.ndarray:
    """A picture file as ``(height, width, channels)`` pixels of the model's
    ``input`` ``kind``: converted (grayscale, RGBA, palette...) to its
    channels and resized to its size. Needs Pillow."""
    shown = str(path)
    try:
        Image = importlib.import_module("PIL.Image")
    except ImportError:
        raise ImportError(f"reading the picture {shown!r} needs Pillow: pip install "
                          "'nnarray[images]'") from None
    mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(int(kind["channels"]))
    if mode is None:
        raise ValueError(f"the model takes pictures of {kind['channels']} channels; "
                         "only 1, 3 and 4 can be read")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
                picture = img.convert(mode)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError(f"{shown!r} is a picture over Pillow's decompression-bomb limit "
                         f"({Image.MAX_IMAGE_PIXELS:,} pixels): refused") from None
    except Image.UnidentifiedImageError:
        raise ValueError(f"{shown!r} is not a picture Pillow can read (nor a .csv, .npy or "
                         ".npz file)") from None
    except OSError as exc:
        raise ValueError(f"{shown!r} is not a readable picture: {exc}") from None
    size = (int(kind["width"]), int(kind["height"]))
    if picture.size != size:
        picture = picture.resize(size)
    pixels = np.asarray(picture)
    return pixels.reshape(size[1], size[0], -1)
