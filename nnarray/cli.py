"""The ``nnarray`` command: train, evaluate and describe, from the shell.

    nnarray train --dataset cat                      # the course's 4-layer cat classifier
    nnarray train --dataset planar --device gpu --save flower.npz --plot cost.png
    nnarray evaluate flower.npz --dataset planar
    nnarray train --data big.npz --layers 784,64,10 --batch-size 256 --epochs 5
    nnarray info                                     # versions, backends, devices

The built-in datasets (cat, planar, xor) train with the course's settings:
its layers, iterations, learning rate, initialization and seed, drawn as the
course draws them (``generator="legacy"``), in float64, so the course's
figures come out on every machine (float32 trajectories of the cat net depend
on the BLAS kernel: ``--dtype float32`` is faster and ends within a few test
points of them). float64 on JAX turns on ``jax_enable_x64`` in this process:
the command owns its process; the library never flips that flag.

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
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from . import __version__, backend, datasets, distributed, io
from .engines import CudaContextError, gemm
from .engines.chunks import sticky_error
from .network import Network, load
from .train import DivergenceError

Split = tuple[Any, Any]
T = TypeVar("T")

DESCRIPTION = "Train, evaluate and describe the course's networks from the shell."
EXAMPLES = """\
examples:
  nnarray train --dataset cat                      # the course's 4-layer cat classifier
  nnarray train --dataset planar --device gpu --save flower.npz --plot cost.png
  nnarray evaluate flower.npz --dataset planar
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
"""The built-in datasets' settings; user data (.npz, .csv) trains with cat's."""

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
                        help="array library (default: numpy on cpu, cupy on gpu)")
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


def load_dataset(name: str, n_bits: int = 4) -> tuple[Split, Split | None]:
    """``(train, test)`` for a built-in name or a ``.npz``/``.csv`` path (no test split)."""
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
        return datasets.load_npz(path), None
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


def _check_writable(option: str, path: str) -> None:
    """Refuse, before training, a path ``option`` could not write to: empty, a
    directory, or in a folder that is missing or not writable (the model is
    written after training, where an error would lose it)."""
    if not path:
        raise ValueError(f"{option} needs a file path, got {path!r}")
    io.check_writable(path, option)


def _check_not_input(option: str, path: str, source: Any) -> None:
    """Refuse an output ``path`` that is the training data's own file (a
    built-in dataset's name is no file): the save would destroy the user's data."""
    source = os.fspath(source)
    if source in RECIPES:
        return
    if os.path.exists(source) and os.path.exists(path) and os.path.samefile(source, path):
        raise ValueError(f"{option} {path} is the training data's file: writing there would "
                         f"overwrite the data; choose another path")


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
    data.add_argument("--dataset", default="cat", help="cat | planar | xor | PATH.npz | PATH.csv")
    data.add_argument("--data", metavar="PATH",
                      help="data larger than memory, streamed by mini-batches (needs "
                      "--batch-size): PATH.npz with X and Y stored uncompressed, a zarr group "
                      "with X and Y, or PATH.npy with the labels as its last row")
    t.add_argument("--examples-as-rows", action="store_true",
                   help="--data holds X as (m, n_x) (one contiguous read per batch)")
    t.add_argument("--batch-size", type=_integer(1), metavar="N",
                   help="mini-batches of N examples (needs --epochs)")
    t.add_argument("--epochs", type=_integer(0), metavar="N", help="passes over the data")
    t.add_argument("--layers", type=_layers, help="n_x,n1,...,nL (default: the dataset's)")
    t.add_argument("--hidden", help="relu | leaky_relu | tanh | sigmoid")
    t.add_argument("--init", help="zeros | random | xavier | he")
    t.add_argument("--iterations", type=_integer(0), metavar="N",
                   help="gradient descent steps (default: the dataset's)")
    t.add_argument("--learning-rate", type=_rate, metavar="ALPHA",
                   help="a number > 0 (default: the dataset's)")
    t.add_argument("--record-every", type=_integer(1), default=100, metavar="N",
                   help="iterations between recorded costs (default: 100)")
    t.add_argument("--seed", type=int, help="default: the course's (1; planar 2)")
    t.add_argument("--generator", default="legacy", choices=["legacy", "default"],
                   help="legacy: the course's RandomState stream (default)")
    device_arguments(t, dtype=None)
    t.add_argument("--save", metavar="PATH", help="save the trained model (.npz)")
    t.add_argument("--checkpoint", metavar="PATH",
                   help="write a checkpoint every --checkpoint-every iterations (.npz)")
    t.add_argument("--checkpoint-every", type=_integer(1), metavar="N",
                   help="iterations between checkpoints (a multiple of --record-every)")
    t.add_argument("--resume", metavar="PATH", help="continue the run of this checkpoint")
    t.add_argument("--plot", metavar="PNG", help="save the cost curve (needs matplotlib)")
    t.add_argument("--quiet", action="store_true", help="no progress bar or cost table")
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

    e = sub.add_parser("evaluate", help="cost and accuracy of a saved model")
    e.add_argument("model")
    data = e.add_mutually_exclusive_group()
    data.add_argument("--dataset", default="cat")
    data.add_argument("--data", metavar="PATH", help="streamed data, as for train")
    e.add_argument("--examples-as-rows", action="store_true",
                   help="--data holds X as (m, n_x)")
    e.add_argument("--device", default="cpu")
    e.add_argument("--backend", default=None, choices=backend.BACKENDS)

    sub.add_parser("info", help="versions, installed backends and devices")
    return parser


def _evaluate(net: Network, train: Split, test: Split | None,
              examples_as_rows: bool = False) -> list[list[Any]]:
    kw = {"examples_as_rows": examples_as_rows}
    rows = [["train", net.cost(*train, **kw), net.score(*train, **kw)]]
    if test is not None:
        rows.append(["test", net.cost(*test), net.score(*test)])
    return rows


def _data_options(args: argparse.Namespace) -> None:
    """Refuse option combinations ``--data`` and mini-batches do not allow."""
    if args.examples_as_rows and args.data is None:
        raise ValueError("--examples-as-rows applies to --data")
    if getattr(args, "command", "train") != "train":
        return
    if args.data is not None and args.batch_size is None:
        raise ValueError("--data is streamed by mini-batches: give --batch-size and --epochs")
    if (args.batch_size is None) != (args.epochs is None):
        raise ValueError("--batch-size and --epochs go together (mini-batches of N examples, "
                         "for N passes over the data)")


def build_network(args: argparse.Namespace, n_x: int) -> Network:
    """The network ``nnarray train`` starts from: the dataset's recipe (cat's
    for user data, with ``n_x`` inputs) unless the options say otherwise;
    initial parameters drawn with ``--generator`` (the course's stream by default)."""
    recipe = RECIPES.get(args.dataset, RECIPES["cat"])
    layers = args.layers
    if layers is None:
        layers = list(recipe.layers) if args.dataset in RECIPES else [n_x, 8, 1]
    dtype = run_dtype(args.dataset, args.dtype)
    enable_jax_x64(backend.resolve(args.backend, args.device), dtype)
    return Network(layers, hidden=recipe.hidden if args.hidden is None else args.hidden,
                   init=recipe.init if args.init is None else args.init,
                   seed=recipe.seed if args.seed is None else args.seed,
                   generator=args.generator, device=args.device, backend=args.backend,
                   dtype=dtype)


def _join(args: argparse.Namespace) -> Any:
    """With ``--distributed``: join the run and train on every process's devices
    with JAX. Returns the ``print`` of this process: process 0's, a no-op elsewhere."""
    given = [args.coordinator, args.num_processes, args.process_id, args.timeout]
    if not args.distributed:
        if any(v is not None for v in given):
            raise ValueError("--coordinator, --num-processes, --process-id and --timeout need "
                             "--distributed")
        return print
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
    try:
        distributed.initialize(args.coordinator, args.num_processes, args.process_id,
                               timeout=args.timeout)
    except RuntimeError as exc:
        raise ConnectionError(f"--distributed: JAX could not join the run: {exc}") from exc
    args.backend, args.device = "jax", "all"
    return print if distributed.is_main_process() else (lambda *a, **k: None)


def cmd_train(args: argparse.Namespace) -> None:
    """``nnarray train``: build, train, report, and optionally save and plot."""
    _data_options(args)
    say = _join(args)
    if not args.distributed or distributed.is_main_process():  # the process that writes
        for option, path in (("--save", args.save), ("--checkpoint", args.checkpoint),
                             ("--plot", args.plot)):
            if path is not None:
                _check_writable(option, path)
                _check_not_input(option, path, args.data or args.dataset)
        if args.plot is not None:  # its format too; no suffix: matplotlib's default added
            args.plot = importlib.import_module("nnarray.plot").check_path(args.plot)
    rows = args.examples_as_rows
    if args.data is not None:
        train, test = _read("--data", args.data, lambda: open_data(args.data, rows)), None
        args.dataset = str(args.data)  # user data: its layers and dtype
    recipe = RECIPES.get(args.dataset, RECIPES["cat"])
    if args.data is None:
        train, test = _read("--dataset", args.dataset, lambda: load_dataset(
            args.dataset, recipe.extra.get("n_bits", 4)))
    net = build_network(args, train[0].shape[1 if rows else 0])
    say(f"{net} on {args.dataset}: X {train[0].shape}, Y {train[1].shape}")
    if args.distributed:  # this process's columns only
        train = distributed.shard(*train)
        test = None if test is None else distributed.shard(*test)
        say(f"process {distributed.process_index()} of {distributed.process_count()}: "
            f"{train[0].shape[1]} of the training examples")
    iterations = recipe.iterations if args.iterations is None else args.iterations
    start = time.perf_counter()
    learning_rate = recipe.learning_rate if args.learning_rate is None else args.learning_rate
    hist = net.fit(*train, iterations=iterations, learning_rate=learning_rate,
                   progress=not args.quiet, record_every=args.record_every,
                   checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every,
                   resume=args.resume, batch_size=args.batch_size, epochs=args.epochs,
                   examples_as_rows=rows)
    seconds = time.perf_counter() - start
    if not args.quiet:
        say(table(["iteration", "cost"], list(zip(hist.iterations, hist.costs, strict=True))))
    say(table(["set", "cost", "accuracy"], _evaluate(net, train, test, rows)))
    done = (f"{iterations} iterations" if args.batch_size is None else
            f"{args.epochs} epochs of batches of {args.batch_size}")
    say(f"{done} in {seconds:.2f} s on {net.execution(args.record_every)}, {net.dtype}")
    if args.save is not None:
        net.save(args.save)  # of several processes, the first writes
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
    if args.data is not None:
        train, test = _read("--data", args.data,
                            lambda: open_data(args.data, args.examples_as_rows)), None
    else:
        train, test = _read("--dataset", args.dataset, lambda: load_dataset(args.dataset))
    print(net)
    print(table(["set", "cost", "accuracy"], _evaluate(net, train, test,
                                                       args.examples_as_rows)))


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
    args = _parser().parse_args(argv)
    command = {"train": cmd_train, "evaluate": cmd_evaluate, "info": cmd_info}[args.command]
    try:
        command(args)
    except KeyboardInterrupt:
        print("nnarray: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, ImportError, zipfile.BadZipFile, DivergenceError,
            backend.BackendUnavailableError, CudaContextError) as exc:
        print(f"nnarray: error: {_one_line(str(exc))}", file=sys.stderr)
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
