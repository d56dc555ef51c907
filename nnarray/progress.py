"""Training progress: a tqdm bar with the iteration and the latest cost, on a
terminal only. Without tqdm (an optional extra), a line per recorded cost."""

from __future__ import annotations

import sys
from typing import Any

from .backend import sharding


class Progress:
    """``update()`` after each step, ``record(i, cost)`` at record points."""

    def __init__(self, total: int, enabled: bool = True, stream: Any = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.bar = None
        self.lines = False
        isatty = getattr(self.stream, "isatty", None)
        if not enabled or not (isatty and isatty()) or not sharding.is_main_process():
            return
        try:
            from tqdm import tqdm
        except ImportError:
            self.lines = True
            return
        self.bar = tqdm(total=total, file=self.stream, unit="it", dynamic_ncols=True,
                        desc="training")

    @property
    def counts_steps(self) -> bool:
        """Whether :meth:`update` shows anything (a bar on a terminal)."""
        return self.bar is not None

    def update(self, n: int = 1) -> None:
        """``n`` steps done."""
        if self.bar is not None:
            self.bar.update(n)

    def record(self, iteration: int, cost: float) -> None:
        """Show the latest recorded cost."""
        if self.bar is not None:
            self.bar.set_postfix(cost=f"{cost:.6f}", refresh=False)
        elif self.lines:
            print(f"iteration {iteration:>7d}  cost {cost:.6f}", file=self.stream, flush=True)

    def close(self) -> None:
        """End the bar (also after an error or Ctrl-C)."""
        if self.bar is not None:
            self.bar.close()
