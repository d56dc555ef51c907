"""What every example shares: its command line, its networks and plots."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import Any

import nnarray as nn
from nnarray.cli import device_arguments, table
from nnarray.progress import plain_execution, run_quietly

__all__ = ["network", "parse", "run_quietly", "save_plot", "say_where", "table"]


def parse(doc: str, argv: list[str] | None, dtype: str = "float64",
          **defaults: Any) -> argparse.Namespace:
    """``--device --backend --dtype`` (float64 by default: the course's numbers),
    ``--iterations`` and ``--plots DIR``."""
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    device_arguments(parser, dtype=dtype)
    parser.add_argument("--iterations", type=int, default=defaults.get("iterations"),
                        help="iterations per training (default: the course's)")
    parser.add_argument("--plots", default="plots", help="folder for the PNG plots")
    return parser.parse_args(argv)


def network(args: argparse.Namespace, dims: list[int], **kwargs: Any) -> nn.Network:
    """A network on the device, backend and dtype the command line asked for
    (``generator="legacy"`` among ``kwargs``: the course's initial parameters)."""
    net = nn.Network(dims, device=args.device, backend=args.backend, dtype=args.dtype,
                     **kwargs)
    say_where(net)
    return net


_said: set[str] = set()


def say_where(net: nn.Network) -> None:
    """Print how the network trains here (once per example and path)."""
    where = plain_execution(net.execution())
    if where not in _said:
        _said.add(where)
        print(f"training on {where}", flush=True)


def save_plot(args: argparse.Namespace, name: str, draw: Any, *draw_args: Any,
              **draw_kwargs: Any) -> None:
    """``draw(*draw_args, path=...)`` from ``nnarray.plot`` when matplotlib is installed."""
    if importlib.util.find_spec("matplotlib") is None:
        print(f"(plot {name} skipped: pip install 'nnarray[plot]')")
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(args.plots)
    folder.mkdir(parents=True, exist_ok=True)
    draw(*draw_args, path=folder / name, **draw_kwargs)
    plt.close("all")
    print(f"saved {folder / name}")
