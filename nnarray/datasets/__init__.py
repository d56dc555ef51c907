"""Datasets in the lecture's layout, as host NumPy float64 arrays: X ``(n_x, m)``,
Y ``(n_y, m)``. Nothing is downloaded: data is generated or shipped in the package.

>>> from nnarray import datasets
>>> (X_train, Y_train), (X_test, Y_test) = datasets.load_cat_vs_noncat()
>>> X_train.shape, Y_train.shape, X_test.shape
((12288, 209), (1, 209), (12288, 50))
"""

from __future__ import annotations

import itertools
import os
import warnings
import zipfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import IO

import numpy as np

from ..io import numpy_refusal

Split = tuple[np.ndarray, np.ndarray]

CAT_CLASSES = ("non-cat", "cat")


def load_cat_vs_noncat() -> tuple[Split, Split]:
    """The course's cat / non-cat images: ``(X_train, Y_train), (X_test, Y_test)``.

    X is ``images.reshape(m, -1).T / 255`` of shape ``(12288, m)`` (64×64×3,
    row-major over height, width, channel); Y ``(1, m)`` is 1 for cat. 209
    training and 50 test images; provenance in ``data/PROVENANCE.md``.
    """
    raw = _cat_arrays(("train_x", "train_y", "test_x", "test_y"))

    def split(x: np.ndarray, y: np.ndarray) -> Split:
        m = x.shape[0]
        return x.reshape(m, -1).T / 255, y.reshape(1, m).astype(np.float64)

    return split(raw["train_x"], raw["train_y"]), split(raw["test_x"], raw["test_y"])


def cat_images() -> tuple[np.ndarray, np.ndarray]:
    """The raw uint8 images ``(m, 64, 64, 3)`` of the training and test sets."""
    raw = _cat_arrays(("train_x", "test_x"))
    return raw["train_x"], raw["test_x"]


def _cat_arrays(names: Sequence[str]) -> dict[str, np.ndarray]:
    source = resources.files(__package__).joinpath("data/catvnoncat.npz")
    with source.open("rb") as f:
        return _read_npz(f, "data/catvnoncat.npz", names)


def _read_npz(f: IO[bytes], shown: str, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays ``names`` of the ``.npz`` archive open as ``f`` (``shown``
    in errors), read without pickle: a ``ValueError`` in nnarray's words for
    a file that is no archive, a missing member, or one NumPy cannot read
    (never NumPy's advice to allow pickle)."""
    if f.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise ValueError(f"{shown!r} is not a .npz archive (a zip file, as np.savez "
                         "writes): it does not start as one")
    f.seek(0)
    try:
        with np.load(f, allow_pickle=False) as data:
            missing = [k for k in names if k not in data.files]
            if missing:
                raise ValueError(f"{shown!r} has arrays {data.files}, not {missing}")
            arrays = {}
            for k in names:
                try:
                    arrays[k] = data[k]
                except ValueError as exc:
                    raise ValueError(f"{shown!r}: member {k!r} cannot be read: "
                                     f"{numpy_refusal(exc)}") from None
    except (zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"{shown!r} is not a readable .npz archive: {exc}") from None
    return arrays


def planar_flower(m: int = 400, seed: int = 1, noise: float = 0.2) -> Split:
    """The lecture's two-class "flower": X ``(2, m)``, Y ``(1, m)`` of 0/1.

    For class j (m/2 points each) the angle is t = linspace(3.12 j, 3.12 (j+1))
    + noise·N(0, 1), the radius r = 4 sin(4t) + noise·N(0, 1), and the point
    (r sin t, r cos t). Draws come from ``RandomState(seed)`` in the course's
    order, so ``seed=1`` gives the course's data set.
    """
    if isinstance(m, bool) or not isinstance(m, int | np.integer) or m < 2 or m % 2:
        raise ValueError(f"m must be an even integer >= 2 (m/2 points per class), got {m!r}")
    rng = np.random.RandomState(seed)
    n = m // 2
    X = np.zeros((m, 2))
    Y = np.zeros((m, 1))
    for j in range(2):
        t = np.linspace(j * 3.12, (j + 1) * 3.12, n) + rng.randn(n) * noise
        r = 4 * np.sin(4 * t) + rng.randn(n) * noise
        X[n * j:n * (j + 1)] = np.c_[r * np.sin(t), r * np.cos(t)]
        Y[n * j:n * (j + 1)] = j
    return X.T, Y.T


def xor(n_bits: int = 2) -> Split:
    """Parity ("why deep representations?"): every one of the 2^n_bits bit
    patterns as a column of X ``(n_bits, 2^n_bits)``; Y ``(1, 2^n_bits)`` is
    x1 XOR x2 XOR ... XOR xn."""
    if isinstance(n_bits, bool) or not isinstance(n_bits, int | np.integer) or not (
        1 <= n_bits <= 20
    ):
        raise ValueError(f"n_bits must be an integer from 1 to 20, got {n_bits!r}")
    X = np.array(list(itertools.product((0.0, 1.0), repeat=int(n_bits)))).T
    Y = (X.sum(axis=0, keepdims=True) % 2).astype(np.float64)
    return X, Y


def load_npz(path: str | os.PathLike[str], x: str = "X", y: str = "Y",
             examples_as_rows: bool = False) -> Split:
    """X and Y from a ``.npz`` file (no pickle), as float64 in the lecture's
    layout. A 1-D Y becomes a row ``(1, m)``; ``examples_as_rows=True`` reads
    X as ``(m, n_x)`` (scikit-learn's layout) and transposes it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no data file at {str(path)!r}")
    with path.open("rb") as f:
        arrays = _read_npz(f, str(path), (x, y))
    return _layout(path, arrays[x], arrays[y], examples_as_rows)


def load_csv(path: str | os.PathLike[str], label_column: int | str = -1,
             delimiter: str = ",") -> Split:
    """X and Y from a CSV file with one example per row and a header line is
    optional; ``label_column`` (index or header name) holds Y. Returns X
    ``(n_x, m)`` as float64 and Y ``(1, m)``: float64 when every label is a
    number, else the labels as strings (``nnarray train`` encodes them as
    classes). Every feature must be a number."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no data file at {str(path)!r}")
    with path.open() as f:
        first, second = f.readline(), f.readline()
    fields = [v.strip() for v in first.strip().split(delimiter)]
    header = fields if _is_header(fields, second.strip().split(delimiter), label_column) \
        else None
    table = read_csv_table(path, 1 if header else 0, delimiter)
    if table.shape[0] == 0:
        raise ValueError(f"{str(path)!r} holds no examples (no rows of values)")
    if table.shape[1] < 2:
        raise ValueError(f"{str(path)!r} must have 2 columns or more, the features and the "
                         f"label, got {table.shape[1]}")
    if isinstance(label_column, str):
        if header is None or label_column not in header:
            raise ValueError(f"label_column={label_column!r} is not in the header {header}")
        label_column = header.index(label_column)
    if not -table.shape[1] <= label_column < table.shape[1]:
        raise ValueError(f"label_column={label_column} but the file has {table.shape[1]} columns")
    labels = table[:, label_column]
    try:
        X = np.delete(table, label_column, axis=1).astype(np.float64)
    except ValueError as exc:
        raise ValueError(f"{str(path)!r}: every feature value must be numeric (only the label "
                         f"column may hold strings): {exc}") from None
    try:
        Y: np.ndarray = labels.astype(np.float64)
    except ValueError:
        Y = labels
    return _layout(path, X, Y, examples_as_rows=True)


def read_csv_table(path: Path, skip: int, delimiter: str = ",") -> np.ndarray:
    """The values of a CSV file as stripped strings ``(rows, columns)``, after
    ``skip`` header lines; ``ValueError`` naming the file for ragged rows."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": callers
            table = np.loadtxt(path, delimiter=delimiter, skiprows=skip, ndmin=2, dtype=str)
    except ValueError as exc:
        raise ValueError(f"{str(path)!r}: its rows must have the same number of values "
                         f"({exc})") from None
    return np.char.strip(table)


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_header(first: list[str], second: list[str], label_column: int | str) -> bool:
    """Whether a CSV's ``first`` line is a header: a feature that is not a
    number, or a label that is not a number above one that is (labels may be
    strings)."""
    if isinstance(label_column, str):
        return True
    n = len(first)
    label = label_column % n if -n <= label_column < n else None
    if any(not _number(v) for i, v in enumerate(first) if i != label):
        return True
    if label is None or _number(first[label]):
        return False
    return len(second) == n and _number(second[label].strip())


def _layout(path: Path, X: np.ndarray, Y: np.ndarray, examples_as_rows: bool) -> Split:
    if X.ndim != 2:
        raise ValueError(f"{str(path)!r}: X must be 2-D, got shape {X.shape}")
    X = np.asarray(X, dtype=np.float64)
    X = X.T if examples_as_rows else X
    Y = np.asarray(Y)
    Y = Y if Y.dtype.kind == "U" else np.asarray(Y, dtype=np.float64)
    Y = Y.reshape(1, -1) if Y.ndim == 1 else Y
    if Y.shape[1] != X.shape[1]:
        raise ValueError(f"{str(path)!r}: X has m={X.shape[1]} examples but Y has {Y.shape[1]}")
    return X, Y
