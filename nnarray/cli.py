"""The ``nnarray`` command: train, evaluate and describe, from the shell.

    nnarray train --dataset cat                      # the course's 4-layer cat classifier
    nnarray train --dataset planar --device gpu --save flower.npz --plot cost.png
    nnarray evaluate flower.npz                      # on the dataset it was trained on
    nnarray train --dataset iris.csv --save iris.npz # your data: scaled, 20 % held out
    nnarray predict iris.npz new.csv                 # a label and its probability a row
    nnarray train --data big.npz --layers 784,64,10 --batch-size 256 --epochs 5
    nnarray info                                     # versions, backends, devices

The built-in datasets (cat, planar, xor) train with the course's settings:
its layers, iterations, learning rate, initialization and seed, drawn as the
course draws them (``generator="legacy"``), in float64, so the course's
figures come out on every machine (float32 trajectories of the cat net depend
on the BLAS kernel: ``--dtype float32`` is faster and ends within a few test
points of them). float64 on JAX turns on ``jax_enable_x64`` in this process:
the command owns its process; the library never flips that flag.

Your own table (``--dataset PATH.csv`` or ``.npz``) is prepared by
:mod:`nnarray.prepare`: the head chosen from its labels, 20 % held out
(seeded, stratified), the features standardized with the training split's
statistics and the scaling folded into the saved network, which then reads
raw features. ``nnarray predict`` reads CSV rows, arrays and pictures.

``--data PATH`` trains on data larger than memory, streamed a mini-batch at
a time (see :func:`open_data` for what the file holds).

Errors are one line on stderr (exit status 2), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import math
import os
import platform
import sys
import threading
import time
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from . import __version__, backend, datasets, distributed, io, prepare
from .engines import CudaContextError, gemm
from .engines.chunks import sticky_error
from .network import Network, load
from .progress import exit_quietly, plain_execution, plural, summary_rows
from .train import CostRoseWarning, DivergenceError

Split = tuple[Any, Any]
T = TypeVar("T")

DESCRIPTION = "Train, evaluate and describe the course's networks from the shell."
EXAMPLES = """\
examples:
  nnarray train --dataset cat                      # the course's 4-layer cat classifier
  nnarray train --dataset planar --device gpu --save flower.npz --plot cost.png
  nnarray evaluate flower.npz                      # on the dataset it was trained on
  nnarray train --dataset iris.csv --save iris.npz # your data: scaled, 20 % held out
  nnarray predict iris.npz new.csv                 # a label and its probability a row
  nnarray predict cat.npz my_cat.jpg               # a picture (needs nnarray[images])
  nnarray train --data big.npz --layers 784,64,10 --batch-size 256 --epochs 5
  nnarray info                                     # versions, backends, devices"""
"""The top-level help: plain text (the module docstring is reStructuredText)."""


@dataclass(frozen=True)
class Recipe:
    """A built-in dataset and the course's hyperparameters for it."""

    layers: tuple[int, ...]
    hidden: str
    iterations: int
    learning_rate: float
    init: str = "xavier"
    seed: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


RECIPES = {
    "cat": Recipe((12288, 20, 7, 5, 1), "relu", 2500, 0.0075),
    "planar": Recipe((2, 4, 1), "tanh", 10000, 1.2, init="random", seed=2),
    "xor": Recipe((4, 8, 8, 1), "tanh", 5000, 0.5, extra={"n_bits": 4}),
}
"""The built-in datasets' settings; streamed data (``--data``) trains with cat's."""

USER = Recipe((), "relu", 500, 0.1, init="he")
"""The settings of a user's table (``--dataset PATH``), standardized: one
hidden layer (:func:`nnarray.prepare.default_hidden_units`), full-batch
gradient descent."""

CAT_INPUT = prepare.picture_input(64, 64, 3, 255)
"""The cat set's pictures: 64×64×3, divided by 255."""

COURSE_DTYPE = "float64"
"""The default dtype of the built-in datasets: the course's figures, bit for bit."""
USER_DTYPE = "float32"
"""The default dtype for user data (.npz, .csv)."""


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table; floats get 6 significant digits."""
    def cell(v: Any) -> str:
        return f"{v:.6g}" if isinstance(v, float) else str(v)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], int | float) for row in rows) for i in range(len(headers))]

    def fmt(values: Sequence[str]) -> str:
        return " | ".join(v.rjust(w) if num else v.ljust(w)
                          for v, w, num in zip(values, widths, numeric, strict=True)).rstrip()

    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([fmt([str(h) for h in headers]), rule, *map(fmt, cells)])


def device_arguments(parser: argparse.ArgumentParser, dtype: str | None = "float32") -> None:
    """``--device``, ``--backend`` and ``--dtype``, shared by the command and the examples.
    ``dtype=None`` leaves ``--dtype`` unset: :func:`run_dtype` decides."""
    parser.add_argument("--device", default="auto",
                        help="cpu | gpu | cuda:N | auto (default); on JAX also all (every "
                             "device, data parallel), a list cuda:0,cuda:1, or cpu:N")
    parser.add_argument("--backend", default=None, choices=backend.BACKENDS,
                        help="array library (default: the device's: numpy on cpu, cupy on gpu)")
    parser.add_argument("--dtype", default=dtype, choices=backend.DTYPES,
                        help=f"default: {dtype}" if dtype else
                        f"default: {COURSE_DTYPE} for cat, planar and xor (the course's "
                        f"figures), {USER_DTYPE} for your data")


def run_dtype(dataset: str, dtype: str | None) -> str:
    """The dtype a run uses: the one asked for, else float64 for the built-in
    datasets (the course's figures on every machine) and float32 for user data."""
    if dtype is not None:
        return backend.dtype_name(dtype)
    return COURSE_DTYPE if dataset in RECIPES else USER_DTYPE


def enable_jax_x64(target: backend.Target, dtype: str) -> None:
    """Turn on JAX's 64-bit mode when ``target`` is JAX and ``dtype`` float64.

    Only the command does this (it owns its process, and does it before any
    array is made); the library never flips global flags."""
    if target.backend == "jax" and backend.dtype_name(dtype) == "float64":
        importlib.import_module("jax").config.update("jax_enable_x64", True)


def load_dataset(name: str, n_bits: int = 4,
                 examples_as_rows: bool = False) -> tuple[Split, Split | None]:
    """``(train, test)`` for a built-in name or a ``.npz``/``.csv`` path (no test
    split), in the lecture's layout (a ``.npz`` stored ``(m, n_x)`` with
    ``examples_as_rows``)."""
    if name == "cat":
        return datasets.load_cat_vs_noncat()
    if name == "planar":
        return datasets.planar_flower(), None
    if name == "xor":
        return datasets.xor(n_bits), None
    path = Path(name)
    if path.suffix == ".npz":
        if path.is_file() and not zipfile.is_zipfile(path):  # NumPy would call it a pickle
            raise ValueError(f"--dataset {name!r} is not a .npz archive (not a zip file)")
        return datasets.load_npz(path, examples_as_rows=examples_as_rows), None
    if path.suffix == ".csv":
        return datasets.load_csv(path), None
    raise ValueError(
        f"--dataset must be cat, planar, xor or a .npz/.csv file, got {name!r}"
    )


def open_data(path: str | Path, examples_as_rows: bool = False) -> Split:
    """X and Y of ``--data PATH``, opened without reading them (streamed by
    ``fit(..., batch_size=)``):

    - a ``.npz`` archive with members ``X`` and ``Y``, stored uncompressed
      (``np.savez``), memory-mapped;
    - a zarr group (a directory) with arrays ``X`` and ``Y`` (needs zarr);
    - a ``.npy`` array, memory-mapped, whose last row holds the labels (its
      last column with ``examples_as_rows``), as a CSV's last column does.

    X is ``(n_x, m)``, or ``(m, n_x)`` with ``examples_as_rows``; Y
    ``(n_y, m)`` / ``(m, n_y)``, or one label per example ``(m,)``."""
    path = Path(path)
    if path.suffix == ".npy":
        a = io.open_memmap(path)
        if a.ndim != 2 or a.shape[1 if examples_as_rows else 0] < 2:
            what = "(m, n_x + 1), labels last" if examples_as_rows else "(n_x + 1, m), labels last"
            raise ValueError(f"--data {str(path)!r} must be 2-D {what}, got shape {a.shape}")
        return (a[:, :-1], a[:, -1]) if examples_as_rows else (a[:-1], a[-1:])
    if path.suffix != ".npz" and not path.is_dir():
        if not path.exists():
            raise FileNotFoundError(f"no data at --data {str(path)!r}")
        raise ValueError(f"--data must be a .npz, a .npy or a zarr group (a directory), "
                         f"got {str(path)!r}")
    arrays = io.open_arrays(path)
    if "X" not in arrays or "Y" not in arrays:
        raise ValueError(f"--data {str(path)!r} must hold arrays X and Y, it holds "
                         f"{sorted(arrays)}")
    return arrays["X"], arrays["Y"]


def _read(option: str, name: str | Path, read: Callable[[], T]) -> T:
    """``read()``, with its errors as one :class:`ValueError` naming ``option``
    and the user's path (a file that is no archive, unreadable, malformed)."""
    try:
        return read()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        message = str(exc)
        if str(name) not in message:
            message = f"cannot read {option} {str(name)!r}: {message}"
        raise ValueError(message) from exc


def _check_not_input(option: str, path: str, source: Any) -> None:
    """Refuse an output ``path`` that is the training data's own file (a
    built-in dataset's name is no file): the save would destroy the user's data."""
    source = os.fspath(source)
    if source in RECIPES:
        return
    if os.path.exists(source) and os.path.exists(path) and os.path.samefile(source, path):
        raise ValueError(f"{option} {path} is the training data's file: writing there would "
                         f"overwrite the data; choose another path")


@contextmanager
def _warnings_apart(category: type[Warning]) -> Iterator[list[warnings.WarningMessage]]:
    """Collect the warnings of ``category`` raised inside (the list yielded);
    the others are shown as they would be, also when an error ends the block."""
    kept: list[warnings.WarningMessage] = []
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            try:
                yield kept
            finally:
                caught += seen or []
    finally:  # the filters restored: the others shown as they would have been
        for w in caught:
            if issubclass(w.category, category):
                kept.append(w)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _note_rows(args: argparse.Namespace, data: Split) -> None:
    """Note, for an error's hint, when ``--data`` read without
    ``--examples-as-rows`` looks like one example per row: more features
    than examples, or Y's examples along X's rows."""
    X, Y = data
    if args.examples_as_rows or len(X.shape) != 2:
        return
    along_rows = len(Y.shape) >= 1 and Y.shape[0] == X.shape[0] != X.shape[1]
    if along_rows or X.shape[0] > X.shape[1]:
        args.rows_hint = (f"--data {args.data} read as one example per column gives X "
                          f"{tuple(X.shape)}, Y {tuple(Y.shape)}: if its examples are rows, "
                          "add --examples-as-rows")


def _check_apart(save: str | None, checkpoint: str | None) -> None:
    """Refuse ``--save`` and ``--checkpoint`` naming one file: the final save
    would turn the checkpoint into a model, which ``--resume`` refuses."""
    if save is None or checkpoint is None:
        return
    same = (os.path.samefile(save, checkpoint)
            if os.path.exists(save) and os.path.exists(checkpoint)
            else os.path.realpath(save) == os.path.realpath(checkpoint))
    if same:
        raise ValueError(f"--save {save} and --checkpoint {checkpoint} are one file: the "
                         "model saved at the end would replace the checkpoint, and "
                         "--resume could not continue from it; choose two paths")


def _integer(low: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}")
        return value

    return parse


def _rate(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def _fraction(text: str) -> float:
    """An argparse type: a number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in [0, 1), got {text!r}")
    return value


def _layers(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--layers must be comma-separated integers such as 12288,20,7,5,1, got {text!r}"
        ) from None


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line on stderr, exit status 2 (``--help`` shows the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nnarray", description=DESCRIPTION, epilog=EXAMPLES,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"nnarray {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a network and print cost and accuracy")
    data = t.add_mutually_exclusive_group()
    data.add_argument("--dataset", default="cat",
                      help="cat | planar | xor | PATH.csv | PATH.npz (default: cat, the course's "
                           "cat pictures); your file is standardized and 20 %% held out")
    data.add_argument("--data", metavar="PATH",
                      help="data larger than memory, streamed by mini-batches (needs "
                      "--batch-size): PATH.npz with X and Y stored uncompressed, a zarr group "
                      "with X and Y, or PATH.npy with the labels as its last row")
    t.add_argument("--examples-as-rows", action="store_true",
                   help="--data or --dataset FILE.npz holds X as (m, n_x), one example a "
                        "row (--data: one contiguous read per batch)")
    t.add_argument("--batch-size", type=_integer(1), metavar="N",
                   help="mini-batches of N examples (needs --epochs)")
    t.add_argument("--epochs", type=_integer(0), metavar="N", help="passes over the data")
    t.add_argument("--layers", type=_layers,
                   help="n_x,n1,...,nL (default: the dataset's; your data: one hidden layer of "
                        "twice the larger of its columns and the head's units, 8 to 64)")
    t.add_argument("--hidden", type=str.lower,
                   help="relu | leaky_relu | tanh | sigmoid (any case; default: the "
                        "dataset's: tanh for planar and xor, else relu)")
    t.add_argument("--init", help="zeros | random | xavier | he (default: the dataset's: "
                                  "random for planar, he for your data, else xavier)")
    t.add_argument("--iterations", type=_integer(0), metavar="N",
                   help="gradient descent steps (default: the dataset's: cat 2500, planar "
                        "10000, xor 5000, your data 500)")
    t.add_argument("--learning-rate", type=_rate, metavar="ALPHA",
                   help="a number > 0 (default: the dataset's: cat 0.0075, planar 1.2, xor "
                        "0.5, your data 0.1)")
    t.add_argument("--output", choices=prepare.OUTPUTS,
                   help="the head, for your data (default: from the labels: 2 values "
                        "sigmoid, 3 to 20 integers or strings softmax, else linear)")
    t.add_argument("--test-size", type=_fraction, metavar="FRACTION",
                   help="the part of your data held out, stratified by class (default: 0.2; "
                        "0 trains on everything)")
    t.add_argument("--no-scale", action="store_true",
                   help="do not standardize your data (default: standardized with the "
                        "training split's mean and deviation, folded into the saved model)")
    t.add_argument("--record-every", type=_integer(1), default=100, metavar="N",
                   help="iterations between recorded costs (default: 100)")
    t.add_argument("--seed", type=int, help="of the initial parameters and your data's "
                                            "split (default: the course's: 1; planar 2)")
    t.add_argument("--generator", default="legacy", choices=["legacy", "default"],
                   help="legacy: the course's RandomState stream (default)")
    device_arguments(t, dtype=None)
    t.add_argument("--save", metavar="PATH", help="save the trained model (.npz; default: "
                                                  "not saved)")
    t.add_argument("--checkpoint", metavar="PATH",
                   help="write a checkpoint every --checkpoint-every iterations (.npz)")
    t.add_argument("--checkpoint-every", type=_integer(1), metavar="N",
                   help="iterations between checkpoints (a multiple of --record-every; "
                        "default: --record-every)")
    t.add_argument("--resume", metavar="PATH", help="continue the run of this checkpoint")
    t.add_argument("--plot", metavar="PNG", help="save the cost curve (needs matplotlib)")
    shown = t.add_mutually_exclusive_group()
    shown.add_argument("--quiet", action="store_true", help="no progress and no cost table")
    shown.add_argument("--verbose", action="store_true",
                       help="every recorded cost (default: about ten of them)")
    d = t.add_argument_group("several processes (JAX)", "one process per host or GPU, each "
                             "with the same command and its own --process-id; without "
                             "--coordinator JAX reads the cluster's environment (SLURM, ...)")
    d.add_argument("--distributed", action="store_true",
                   help="join a multi-process run and train data parallel on every "
                        "process's devices (--device all, backend jax)")
    d.add_argument("--coordinator", metavar="HOST:PORT", help="process 0's address")
    d.add_argument("--num-processes", type=_integer(1), metavar="N")
    d.add_argument("--process-id", type=_integer(0), metavar="I", help="0..N-1")
    d.add_argument("--timeout", type=_integer(1), metavar="SECONDS",
                   help="how long to wait for every process to join before giving up "
                        "(default: JAX's, 300)")

    e = sub.add_parser("evaluate", help="cost and accuracy (or R²) of a saved model")
    e.add_argument("model")
    data = e.add_mutually_exclusive_group()
    data.add_argument("--dataset", help="cat | planar | xor | PATH.csv | PATH.npz (default: "
                                        "the dataset recorded in the model, with its split)")
    data.add_argument("--data", metavar="PATH", help="streamed data, as for train")
    e.add_argument("--examples-as-rows", action="store_true",
                   help="--data or --dataset FILE.npz holds X as (m, n_x)")
    e.add_argument("--device", default="cpu", help="default: cpu")
    e.add_argument("--backend", default=None, choices=backend.BACKENDS,
                   help="default: the device's")

    pr = sub.add_parser("predict", help="a label and its probability (or a value) for each "
                                        "example of CSV rows, arrays or pictures")
    pr.add_argument("model")
    pr.add_argument("inputs", nargs="+", metavar="INPUT",
                    help="PATH.csv (the training columns without the label, header "
                         "optional), PATH.npy / PATH.npz (examples as rows), or a picture "
                         "(PNG, JPEG, ...; needs nnarray[images]) for a model trained on "
                         "pictures")
    pr.add_argument("--device", default="cpu", help="default: cpu")
    pr.add_argument("--backend", default=None, choices=backend.BACKENDS,
                    help="default: the device's")

    sub.add_parser("info", help="versions, installed backends and devices")

    x = sub.add_parser("export", help="write a saved model as an ONNX graph (needs the "
                       "onnx extra: pip install 'nnarray[onnx]')")
    x.add_argument("model", help="the model (.npz) saved by nnarray")
    x.add_argument("out", help="the ONNX file to write (.onnx)")
    x.add_argument("--examples-as-rows", action="store_true",
                   help="input X as (m, n_x), the layout most ONNX consumers expect "
                        "(default: (n_x, m), examples are columns)")
    return parser


def _evaluate(net: Network, train: Split, test: Split | None,
              examples_as_rows: bool = False) -> list[list[Any]]:
    kw = {"examples_as_rows": examples_as_rows}
    rows = [["train", net.cost(*train, **kw), net.score(*train, **kw)]]
    if test is not None:
        rows.append(["test", net.cost(*test), net.score(*test)])
    return rows


def _scores(net: Network, rows: list[list[Any]]) -> str:
    """The table of ``rows`` (set, cost, score): accuracy, or R² for a linear head."""
    return table(["set", "cost", "R²" if net.output == "linear" else "accuracy"], rows)


def _user_table(args: argparse.Namespace) -> bool:
    """Whether ``nnarray train`` reads the user's own table (``--dataset PATH``)."""
    return args.data is None and args.dataset not in RECIPES


def _recipe(args: argparse.Namespace) -> Recipe:
    if args.dataset in RECIPES:
        return RECIPES[args.dataset]
    return USER if _user_table(args) else RECIPES["cat"]


def _seed(args: argparse.Namespace) -> int:
    return _recipe(args).seed if args.seed is None else args.seed


def _prepare(args: argparse.Namespace, X: Any, Y: Any) -> prepare.Prepared:
    """The user's table prepared (:func:`nnarray.prepare.prepare`) as the options say."""
    for option, given in (("--output", args.output), ("--test-size", args.test_size),
                          ("--no-scale", args.no_scale or None)):
        if given is not None and not _user_table(args):
            raise ValueError(f"{option} applies to your own data (--dataset PATH.csv or "
                             f"PATH.npz), not to {args.data or args.dataset}")
    return prepare.prepare(X, Y, output=args.output,
                           test_size=0.2 if args.test_size is None else args.test_size,
                           seed=_seed(args), scale=not args.no_scale,
                           name=f"the labels of {args.dataset!r}")


def _prepared_line(args: argparse.Namespace, p: prepare.Prepared) -> str:
    """What was done to the user's table, in one line."""
    labels = p.labels
    head = (f"{labels.output} head ({len(labels.classes or ())} classes: "
            f"{prepare.shown_classes(labels.classes)})" if labels.classes is not None
            else f"linear head, {labels.units} value{'s' * (labels.units > 1)}")
    scaled = "standardized" if p.x_scaling is not None else "not scaled"
    held = (f"{len(p.indices[1])} held out (seed {_seed(args)})" if len(p.indices[1])
            else "none held out")
    return (f"{args.dataset}: {p.raw_train[0].shape[0]} features, {scaled}; {head}; "
            f"{len(p.indices[0])} examples to train on, {held}")


def _folded(args: argparse.Namespace, net: Network, p: prepare.Prepared) -> Network:
    """The trained network with the scaling folded in: it reads raw features."""
    return Network(net.layer_dims, hidden=net.hidden, output=net.output,
                   init=p.fold(net.parameters), device=args.device, backend=args.backend,
                   dtype=net.dtype)


def _description(args: argparse.Namespace, net: Network,
                 p: prepare.Prepared | None) -> dict[str, Any]:
    """What the saved model remembers of its data (:data:`nnarray.io.DESCRIPTION_KEYS`)."""
    n_x = net.layer_dims[0]
    if args.data is not None:  # streamed: evaluate asks for it again
        return {io.INPUT: prepare.table_input(n_x)}
    dataset: dict[str, Any] = {"name": str(args.dataset)}
    if args.examples_as_rows:  # a .npz --dataset of one example per row
        dataset["examples_as_rows"] = True
    if args.dataset == "cat":
        return {io.CLASSES: list(datasets.CAT_CLASSES), io.INPUT: CAT_INPUT, io.DATASET: dataset}
    if p is None:
        return {io.CLASSES: [0, 1], io.INPUT: prepare.table_input(n_x), io.DATASET: dataset}
    dataset |= {"test_size": 0.2 if args.test_size is None else args.test_size,
                "seed": _seed(args)}
    meta: dict[str, Any] = {io.INPUT: prepare.table_input(n_x), io.DATASET: dataset}
    if p.labels.classes is not None:
        meta[io.CLASSES] = p.labels.classes
    return meta


def _data_options(args: argparse.Namespace) -> None:
    """Refuse option combinations ``--data`` and mini-batches do not allow."""
    if args.examples_as_rows and args.data is None and Path(args.dataset).suffix != ".npz":
        raise ValueError(f"--examples-as-rows applies to --data and --dataset FILE.npz, "
                         f"got --dataset {args.dataset}")
    if getattr(args, "command", "train") != "train":
        return
    if args.data is not None and args.batch_size is None:
        raise ValueError("--data is streamed by mini-batches: give --batch-size and --epochs")
    if (args.batch_size is None) != (args.epochs is None):
        raise ValueError("--batch-size and --epochs go together (mini-batches of N examples, "
                         "for N passes over the data)")


def build_network(args: argparse.Namespace, n_x: int,
                  labels: prepare.Labels | None = None) -> Network:
    """The network ``nnarray train`` starts from: the dataset's recipe unless
    the options say otherwise; for a user's table (``--dataset PATH``) one
    hidden layer and the head of its ``labels``, for streamed data
    (``--data``) cat's with ``[n_x, 8, 1]``; initial parameters drawn with
    ``--generator`` (the course's stream by default)."""
    recipe = _recipe(args)
    layers = args.layers
    units, output = (1, "sigmoid") if labels is None else (labels.units, labels.output)
    if layers is None:
        layers = (list(recipe.layers) if args.dataset in RECIPES else [n_x, 8, 1]
                  if labels is None else [n_x, prepare.default_hidden_units(n_x, units), units])
    elif labels is not None and layers[-1] != units:
        raise ValueError(
            f"--layers {','.join(map(str, layers))} ends with {layers[-1]} units, but the "
            f"labels of {args.dataset!r} make a {output} head of {units} unit"
            f"{'s' * (units > 1)}: end --layers with {units}, or choose the head with --output")
    dtype = run_dtype(args.dataset, args.dtype)
    enable_jax_x64(backend.resolve(args.backend, args.device), dtype)
    return Network(layers, hidden=recipe.hidden if args.hidden is None else args.hidden,
                   output=output,
                   init=recipe.init if args.init is None else args.init,
                   seed=recipe.seed if args.seed is None else args.seed,
                   generator=args.generator, device=args.device, backend=args.backend,
                   dtype=dtype)


def _say(*values: Any) -> None:
    """``print``, flushed: a line shows when it is said, also through a pipe."""
    print(*values, flush=True)


def _join(args: argparse.Namespace) -> Any:
    """With ``--distributed``: join the run and train on every process's devices
    with JAX. Returns the ``print`` of this process: process 0's, a no-op elsewhere."""
    given = [args.coordinator, args.num_processes, args.process_id, args.timeout]
    if not args.distributed:
        if any(v is not None for v in given):
            raise ValueError("--coordinator, --num-processes, --process-id and --timeout need "
                             "--distributed")
        return _say
    if args.data is not None:
        raise ValueError("--distributed trains on data in memory; --data is streamed to "
                         "one device")
    if args.backend not in (None, "jax"):
        raise ValueError(f"--distributed runs on JAX, not --backend {args.backend}")
    if args.device not in ("auto", "all"):
        raise ValueError(f"--distributed trains on every process's devices (--device all), "
                         f"not --device {args.device}")
    if args.coordinator is not None:
        distributed.check_coordinator(args.coordinator, "--coordinator")
    if (args.process_id is not None and args.num_processes is not None
            and args.process_id >= args.num_processes):
        raise ValueError(f"--process-id must be in 0..{args.num_processes - 1} "
                         f"(--num-processes {args.num_processes}), got {args.process_id}")
    distributed.check_run(args.coordinator, args.num_processes, args.process_id,
                          ("--coordinator", "--num-processes", "--process-id"))
    if args.timeout is not None:
        backend.check_integer("--timeout", args.timeout, 1, distributed.MAX_TIMEOUT)
    seconds = distributed.DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    where = ("the coordinator from the cluster's environment" if args.coordinator is None
             else f"the coordinator at {args.coordinator}")
    who = ("this process" if args.process_id is None
           else f"process {args.process_id} of {args.num_processes}")
    if args.timeout is None:
        print(f"nnarray: {who} waits up to {seconds} s for {where} and every process to "
              "join (--timeout SECONDS to change it)", file=sys.stderr, flush=True)
    # JAX ends the process (SIGABRT) when its deadline passes: the watchdog ends it
    # first, with one line; JAX's own deadline is set past the watchdog's
    done = _watchdog(seconds + JOIN_GRACE, f"--distributed: {who} waited {seconds} s "
                     f"({'--timeout' if args.timeout is not None else 'the default'}) for "
                     f"{where} and every process to join; they did not come (start every "
                     "process with the same --coordinator and --num-processes)")
    try:
        distributed.join(args.coordinator, args.num_processes, args.process_id,
                         timeout=seconds, jax_timeout=seconds + JOIN_GRACE + 60)
    except RuntimeError as exc:
        raise ConnectionError(f"--distributed: JAX could not join the run: {exc}") from exc
    finally:
        done.set()
    args.backend, args.device = "jax", "all"
    return _say if distributed.is_main_process() else (lambda *a, **k: None)


JOIN_GRACE = 2
"""Seconds the command's watchdog gives the join past ``--timeout`` (so that
the library's own ``TimeoutError`` at ``--timeout`` comes first)."""


def _watchdog(seconds: float, message: str) -> threading.Event:
    """An event to set within ``seconds``; if it is not, the process ends
    (:func:`_give_up` with ``message``)."""
    done = threading.Event()

    def watch() -> None:
        if not _wait(done, seconds):
            _give_up(message)

    threading.Thread(target=watch, name="nnarray-watchdog", daemon=True).start()
    return done


def _wait(event: threading.Event, seconds: float) -> bool:
    """``event.wait(seconds)`` (a stand-in clock in tests)."""
    return event.wait(seconds)


def _give_up(message: str) -> None:
    """One error line and exit status 2, now, from any thread: the main
    thread may be blocked in JAX, which would end the process itself."""
    try:
        sys.stdout.flush()
    finally:
        print(f"nnarray: error: {message}", file=sys.stderr, flush=True)
        os._exit(2)


def cmd_train(args: argparse.Namespace) -> None:
    """``nnarray train``: build, train, report, and optionally save and plot."""
    _data_options(args)
    say = _join(args)
    if args.checkpoint_every is not None and args.checkpoint is None:
        raise ValueError("--checkpoint-every needs --checkpoint PATH (where to write them)")
    if (args.checkpoint_every is not None and args.batch_size is None
            and args.checkpoint_every % args.record_every):
        raise ValueError(f"--checkpoint-every must be a multiple of --record-every "
                         f"{args.record_every} (checkpoints fall on record points), got "
                         f"{args.checkpoint_every}")
    if not args.distributed or distributed.is_main_process():  # the process that writes
        for option, path in (("--save", args.save), ("--checkpoint", args.checkpoint),
                             ("--plot", args.plot)):
            if path is not None:
                io.check_writable(path, option)  # before training: an error after loses it
                _check_not_input(option, path, args.data or args.dataset)
        _check_apart(args.save, args.checkpoint)
        if args.plot is not None:  # its format too; no suffix: matplotlib's default added
            args.plot = importlib.import_module("nnarray.plot").check_path(args.plot)
    rows = args.examples_as_rows and args.data is not None  # a .npz --dataset: read as columns
    if args.data is not None:
        train, test = _read("--data", args.data, lambda: open_data(args.data, rows)), None
        _note_rows(args, train)
        args.dataset = str(args.data)  # user data: its layers and dtype
    recipe = _recipe(args)
    prepared = None
    if args.data is None:
        train, test = _read("--dataset", args.dataset, lambda: load_dataset(
            args.dataset, recipe.extra.get("n_bits", 4), args.examples_as_rows))
    if _user_table(args) or args.output or args.test_size is not None or args.no_scale:
        prepared = _prepare(args, *train)
        train, test = prepared.train, prepared.test
        say(_prepared_line(args, prepared))
    net = build_network(args, train[0].shape[1 if rows else 0],
                        None if prepared is None else prepared.labels)
    say(f"{net} on {args.dataset}: X {train[0].shape}, Y {train[1].shape}")
    raw = None if prepared is None else (prepared.raw_train, prepared.raw_test)
    if args.distributed:  # this process's columns only
        train = distributed.shard(*train)
        test = None if test is None else distributed.shard(*test)
        if raw is not None:
            raw = (distributed.shard(*raw[0]),
                   None if raw[1] is None else distributed.shard(*raw[1]))
        say(f"process {distributed.process_index()} of {distributed.process_count()}: "
            f"{train[0].shape[1]} of the training examples")
    iterations = recipe.iterations if args.iterations is None else args.iterations
    start = time.perf_counter()
    learning_rate = recipe.learning_rate if args.learning_rate is None else args.learning_rate
    with _warnings_apart(CostRoseWarning) as rose:  # said below, in the command's words
        hist = net.fit(*train, iterations=iterations, learning_rate=learning_rate,
                       progress=not args.quiet, record_every=args.record_every,
                       checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every,
                       resume=args.resume, batch_size=args.batch_size, epochs=args.epochs,
                       examples_as_rows=rows)
    seconds = time.perf_counter() - start
    if not args.quiet:
        costs = (list(zip(hist.iterations, hist.costs, strict=True)) if args.verbose
                 else summary_rows(hist.iterations, hist.costs))
        say(table(["iteration", "cost"], costs))
    model = net
    if prepared is not None and raw is not None:  # the saved model reads raw features
        model = _folded(args, net, prepared)
        train, test = raw
    model.metadata = _description(args, model, prepared)
    say(_scores(model, _evaluate(model, train, test, rows)))
    done = (plural(iterations, "iteration") if args.batch_size is None else
            f"{plural(args.epochs, 'epoch')} of batches of {args.batch_size}")
    say(f"{done} in {seconds:.2f} s on {plain_execution(net.execution(args.record_every))}, "
        f"{net.dtype}")
    if rose and (not args.distributed or distributed.is_main_process()):
        said = str(rose[-1].message).replace("learning_rate=", "--learning-rate ")
        print(f"nnarray: warning: {said}", file=sys.stderr)
    if args.save is not None:
        model.save(args.save)  # of several processes, the first writes
        say(f"saved {args.save}")
    if args.plot is not None and distributed.is_main_process():
        from . import plot

        ax = plot.cost_curve(hist, path=args.plot, title=f"{args.dataset} {net.layer_dims}")
        importlib.import_module("matplotlib.pyplot").close(ax.figure)
        print(f"saved {args.plot}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    """``nnarray evaluate``: cost and accuracy of a saved model on a dataset."""
    target = backend.resolve(args.backend, args.device)
    net = _read("model", args.model, lambda: load(args.model, device="cpu"))
    enable_jax_x64(target, net.dtype)
    net.to(args.device, args.backend)
    _data_options(args)
    rows = args.examples_as_rows and args.data is not None  # a .npz --dataset: read as columns
    if args.data is not None:
        data = _read("--data", args.data, lambda: open_data(args.data, args.examples_as_rows))
        _note_rows(args, data)
        rows = _evaluate(net, data, None, args.examples_as_rows)
    else:
        rows = [[name, net.cost(*split), net.score(*split)]
                for name, split in _evaluation_sets(args, net)]
    print(net)
    print(_scores(net, rows))


def _evaluation_sets(args: argparse.Namespace, net: Network) -> list[tuple[str, Split]]:
    """The named sets ``nnarray evaluate`` scores: ``--dataset``'s, else the
    dataset recorded in the model; a user's table with its labels encoded as
    the model's classes, split as in training when it is the recorded one."""
    recorded = net.metadata.get(io.DATASET)
    name = args.dataset
    if name is None:
        if recorded is None:
            raise ValueError(f"{args.model!r} does not record the dataset it was trained on: "
                             "give --dataset (cat, planar, xor or your file) or --data")
        name = recorded["name"]
        if name not in RECIPES and not Path(name).is_file():
            raise FileNotFoundError(f"{args.model!r} was trained on {name!r}, which is not "
                                    "there (from this folder): give --dataset")
    n_bits = net.layer_dims[0] if name == "xor" else 4
    rows = args.examples_as_rows or (recorded is not None and recorded["name"] == name
                                     and recorded.get("examples_as_rows", False))
    train, test = _read("--dataset", name, lambda: load_dataset(name, n_bits, rows))
    if name in RECIPES:
        return [("train", train)] + ([] if test is None else [("test", test)])
    X, Y = train
    Y = prepare.encode_with(net.metadata.get(io.CLASSES), Y, f"the labels of {name!r}")
    if recorded is None or recorded["name"] != name or not recorded.get("test_size"):
        return [("all", (X, Y))]
    codes = None if net.output == "linear" else Y[0] if Y.shape[0] == 1 else Y.argmax(axis=0)
    tr, te = prepare.split(X.shape[1], recorded["test_size"], recorded.get("seed", 0), codes)
    return [("train", (X[:, tr], Y[:, tr])), ("test", (X[:, te], Y[:, te]))]


def cmd_predict(args: argparse.Namespace) -> None:
    """``nnarray predict``: one line an example: its label (in the training
    labels' values) and that label's probability, or the predicted value."""
    target = backend.resolve(args.backend, args.device)
    net = _read("model", args.model, lambda: load(args.model, device="cpu"))
    enable_jax_x64(target, net.dtype)
    net.to(args.device, args.backend)
    kind, classes = net.metadata.get(io.INPUT), net.metadata.get(io.CLASSES)
    # every input read first: one that cannot be is refused before a line is printed
    inputs = [prepare.read_inputs(path, net.layer_dims[0], kind, repr(args.model))
              for path in args.inputs]
    for names, X in inputs:
        A = backend.to_numpy(net.predict_proba(X))
        for name, line in zip(names, prepare.predictions(A, net.output, classes), strict=True):
            print(f"{name}: {line}")


def cmd_export(args: argparse.Namespace) -> None:
    """``nnarray export``: a saved model as an ONNX file (see :mod:`nnarray.onnx`)."""
    io.check_writable(args.out, "OUT")
    if os.path.exists(args.model) and os.path.exists(args.out) and os.path.samefile(
            args.model, args.out):
        raise ValueError(f"OUT {args.out} is the model's own file: writing there would "
                         "overwrite the model; choose another path")
    net = _read("model", args.model, lambda: load(args.model, device="cpu"))
    path = net.to_onnx(args.out, examples_as_rows=args.examples_as_rows)
    shape = "(m, n_x)" if args.examples_as_rows else "(n_x, m)"
    print(f"saved {path}: {net.layer_dims}, hidden={net.hidden}, output={net.output}, "
          f"{net.dtype}, input X {shape}")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def cmd_info(args: argparse.Namespace) -> None:
    """``nnarray info``: versions, installed backends, devices and why a GPU is missing."""
    rows: list[list[str | None]] = [
        ["python", platform.python_version()], ["nnarray", __version__],
        ["numpy", _version("numpy")], ["array-api-compat", _version("array-api-compat")]]
    print(table(["package", "version"], rows))
    dists = {"cupy": ("cupy-cuda13x", "cupy-cuda12x", "cupy"), "torch": ("torch",),
             "jax": ("jax",), "dask": ("dask",), "array_api_strict": ("array-api-strict",)}
    backends = [["numpy", _version("numpy"), "yes"]]
    for name, names in dists.items():
        version = next((v for v in map(_version, names) if v), None)
        found = importlib.util.find_spec(name) is not None
        backends.append([name, version or "-", "yes" if found else
                         f"no: {backend._INSTALL.get(name, 'pip install ' + name)}"])
    print()
    print(table(["backend", "version", "installed"], backends))
    devices = backend.available_devices()
    print(f"\ndevices: {', '.join(devices)}")
    no_gpu = backend.no_gpu_reason()  # the driver first, then CuPy
    if no_gpu is not None:
        print(f"no GPU: {no_gpu}")
    graphs, why = gemm.available()
    if no_gpu is not None:  # whatever is installed: no GPU is not a missing package
        graphs, why = False, "no GPU here"
    print("CuPy CUDA graphs: " + ("yes (cuBLAS through nvmath-python)" if graphs else
                                  f"no, CuPy runs step by step: {why}"))
    setting = os.environ.get(backend.ENV_DEVICE, "").strip()
    try:
        default = backend.get_default_device()
    except backend.BackendUnavailableError as exc:
        print(f"default device: {_one_line(str(exc))}")
    else:
        print(f"default device: {default}"
              + (f" ({backend.ENV_DEVICE}={setting!r})" if setting else ""))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``nnarray`` and ``python -m nnarray``; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
        command = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict,
                   "export": cmd_export, "info": cmd_info}[args.command]
        command(args)
        sys.stdout.flush()  # what is left in the buffer: a closed pipe shows here
    except KeyboardInterrupt:
        print("nnarray: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (| head): stop quietly
        return exit_quietly()
    except (ValueError, TypeError, OSError, ImportError, zipfile.BadZipFile, DivergenceError,
            backend.BackendUnavailableError, CudaContextError) as exc:
        hint = getattr(args, "rows_hint", None)
        hint = f" ({hint})" if hint and isinstance(exc, ValueError | TypeError) else ""
        print(f"nnarray: error: {_one_line(str(exc))}{hint}", file=sys.stderr)
        return 2
    except MemoryError as exc:  # NumPy's and CuPy's say what they could not allocate
        print(f"nnarray: error: out of memory: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # a sticky CUDA error outside a graph: one line too
        name = sticky_error(exc)
        if name is None:
            raise
        print(f"nnarray: error: {name}: the CUDA context is broken: {_one_line(str(exc))}",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
