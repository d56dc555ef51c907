"""What a run shows: progress lines timed by a stand-in clock (never by the
wall clock), the command's short summary, its plain words, and quiet stops."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnarray as nn
from nnarray import cli, engines, progress

ROOT = Path(__file__).resolve().parents[1]


class Clock:
    """A stand-in clock: each reading moves it on by ``tick`` seconds."""

    def __init__(self, tick: float) -> None:
        self.now, self.tick = 1000.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


class Stream:
    """stderr as a pipe or a terminal: each line with the clock's time."""

    def __init__(self, clock: Clock, terminal: bool = False) -> None:
        self.clock, self.terminal, self.text, self.lines = clock, terminal, [], []

    def isatty(self) -> bool:
        return self.terminal

    def write(self, s: str) -> int:
        self.text.append(s)
        if s.strip():
            self.lines.append((self.clock.now, s))
        return len(s)

    def flush(self) -> None:
        pass


def assert_never_silent(lines, start, end, most=10.0):
    times = [start, *(t for t, _ in lines), end]
    gaps = np.diff(times)
    assert len(lines) >= 2 and gaps.max() <= most, (gaps, lines)


def test_a_piped_fit_prints_a_line_at_least_every_10_seconds(monkeypatch):
    clock = Clock(0.25)  # a slow machine: a quarter second a step
    monkeypatch.setattr(progress, "clock", clock)
    stream = Stream(clock)
    monkeypatch.setattr("sys.stderr", stream)
    X, Y = nn.datasets.planar_flower(m=50, seed=1)
    start = clock.now
    # record points 1000 steps apart (250 s of this clock): lines come between them
    nn.Network([2, 3, 1], seed=1).fit(X, Y, iterations=400, learning_rate=0.5,
                                      record_every=1000)
    assert_never_silent(stream.lines, start, clock.now)
    assert all("of 400 steps" in s for _, s in stream.lines), stream.lines
    assert all(", cost 0." in s for _, s in stream.lines), stream.lines


def test_a_short_piped_fit_prints_nothing(monkeypatch, capsys):
    monkeypatch.setattr(progress, "clock", Clock(0.0))
    X, Y = nn.datasets.planar_flower(m=50, seed=1)
    nn.Network([2, 3, 1]).fit(X, Y, iterations=50, learning_rate=0.5)
    assert capsys.readouterr().err == ""


def test_a_terminal_without_tqdm_gets_a_few_live_lines(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    clock = Clock(0.001)  # 10 s over the 10000 steps
    monkeypatch.setattr(progress, "clock", clock)
    term = Stream(clock, terminal=True)
    monkeypatch.setattr("sys.stderr", term)
    X, Y = nn.datasets.planar_flower(m=50, seed=1)
    nn.Network([2, 3, 1]).fit(X, Y, iterations=10000, learning_rate=0.5, record_every=10)
    # the first at once, then one each TERMINAL_EVERY seconds: not one per record
    assert 2 <= len(term.lines) <= 10 / progress.TERMINAL_EVERY + 2, term.lines
    assert term.lines[0][1].startswith("training: 0 of 10000 steps (0%), cost 0.747934, 0 s")


def test_the_command_line_piped_prints_a_line_at_least_every_10_seconds(monkeypatch, capsys):
    clock = Clock(0.01)
    monkeypatch.setattr(progress, "clock", clock)
    start = clock.now
    assert cli.main(["train", "--dataset", "planar", "--iterations", "3000",
                     "--device", "cpu", "--record-every", "3000"]) == 0
    err = capsys.readouterr().err
    # 30 s of this clock; the lines' times are read back from their seconds
    lines = [line for line in err.splitlines() if line.startswith("training:")]
    seconds = [float(line.rsplit(", ", 1)[1].removesuffix(" s")) for line in lines]
    assert_never_silent([(start + s, line) for s, line in zip(seconds, lines, strict=True)],
                        start, clock.now)


def _lines(monkeypatch, capsys, *argv, terminal=False, tqdm=True):
    """stdout and stderr lines of ``nnarray train *argv``."""
    clock = Clock(1e-4)  # about a second for planar's 10000 steps
    monkeypatch.setattr(progress, "clock", clock)
    if not tqdm:
        monkeypatch.setitem(sys.modules, "tqdm", None)
    elif terminal:
        pytest.importorskip("tqdm")
    term = Stream(clock, terminal=True)
    if terminal:
        monkeypatch.setattr("sys.stderr", term)
    assert cli.main(["train", *argv]) == 0
    captured = capsys.readouterr()
    err = "".join(term.text) if terminal else captured.err
    return captured.out.splitlines(), err.count("\n")


@pytest.mark.parametrize(("terminal", "tqdm"), [(True, True), (True, False), (False, True),
                                                (False, False)])
def test_train_planar_prints_at_most_40_lines(monkeypatch, capsys, terminal, tqdm):
    out, err = _lines(monkeypatch, capsys, "--dataset", "planar", "--device", "cpu",
                      terminal=terminal, tqdm=tqdm)
    assert len(out) + err <= 40, (out, err)
    assert out[-1].startswith("10000 iterations in ") and "train | 0.217904 |    0.905" in out


def test_the_summary_has_about_ten_costs_and_verbose_has_all(monkeypatch, capsys):
    out, _ = _lines(monkeypatch, capsys, "--dataset", "planar", "--device", "cpu",
                    "--iterations", "2000")
    costs = [line.split("|")[0].strip() for line in out if line.split("|")[0].strip().isdigit()]
    assert costs == ["0", "200", "400", "600", "800", "1000", "1200", "1400", "1600", "1800",
                     "1999"]
    out, _ = _lines(monkeypatch, capsys, "--dataset", "planar", "--device", "cpu",
                    "--iterations", "2000", "--verbose")
    costs = [line.split("|")[0].strip() for line in out if line.split("|")[0].strip().isdigit()]
    assert costs == [*map(str, range(0, 2000, 100)), "1999"]


@pytest.mark.parametrize(("n", "about", "picked"), [
    (0, 10, []), (1, 10, [0]), (2, 10, [0, 1]), (11, 10, list(range(11))),
    (26, 10, [0, 3, 6, 9, 12, 15, 18, 21, 24, 25]), (101, 10, list(range(0, 101, 10))),
    (5, 2, [0, 2, 4])])
def test_summary_rows_spread_evenly_with_first_and_last(n, about, picked):
    rows = progress.summary_rows(list(range(n)), [float(i) for i in range(n)], about)
    assert [r[0] for r in rows] == picked


def test_one_iteration_is_singular(monkeypatch, capsys):
    out, _ = _lines(monkeypatch, capsys, "--dataset", "planar", "--device", "cpu",
                    "--iterations", "1")
    assert out[-1].startswith("1 iteration in "), out
    assert progress.plural(2, "epoch") == "2 epochs" and progress.plural(1, "epoch") == "1 epoch"


@pytest.mark.parametrize(("terms", "words"), [
    ("cpu (numpy, step by step)", "the CPU with NumPy"),
    ("cpu (jax, jitted steps)", "the CPU with JAX, each iteration compiled"),
    ("cuda:0 (jax, compiled chunks of 100)",
     "the GPU cuda:0 with JAX, compiled 100 iterations at a time"),
    ("cuda:0 (torch, CUDA graph, chunks of 50)",
     "the GPU cuda:0 with PyTorch, 50 iterations at a time, replayed as one CUDA graph"),
    ("cuda:1 (cupy, step by step: nvmath-python is not installed, pip install x)",
     "the GPU cuda:1 with CuPy, one operation at a time (nvmath-python is not installed, "
     "pip install x)"),
    ("cuda:0,cuda:1 (jax, compiled chunks of 100, data parallel over 2 devices)",
     "cuda:0,cuda:1 with JAX, compiled 100 iterations at a time, the examples split over "
     "2 devices"),
    ("something new", "something new"),
])
def test_plain_words_for_the_engines_terms(terms, words):
    assert progress.plain_execution(terms) == words


def test_the_command_says_what_runs_in_plain_words(monkeypatch, capsys):
    out, _ = _lines(monkeypatch, capsys, "--dataset", "planar", "--device", "cpu",
                    "--iterations", "3")
    assert out[-1].endswith(" s on the CPU with NumPy, float64"), out
    assert not any("step by step" in line for line in out)
    # the library keeps its terms
    assert engines.describe("numpy", "cpu", 100) == "cpu (numpy, step by step)"


def test_hidden_in_any_case(monkeypatch, capsys):
    out, _ = _lines(monkeypatch, capsys, "--dataset", "planar", "--device", "cpu",
                    "--iterations", "2", "--hidden", "ReLU")
    assert "hidden='relu'" in out[0]


def test_examples_as_rows_with_a_dataset_file(monkeypatch, capsys, tmp_path):
    X, Y = nn.datasets.planar_flower(m=60, seed=1)
    np.savez(tmp_path / "cols.npz", X=X, Y=Y)
    np.savez(tmp_path / "rows.npz", X=X.T, Y=Y.ravel())
    common = ["--device", "cpu", "--iterations", "20", "--quiet", "--layers", "2,3,1"]
    cols, _ = _lines(monkeypatch, capsys, "--dataset", str(tmp_path / "cols.npz"), *common)
    rows, _ = _lines(monkeypatch, capsys, "--dataset", str(tmp_path / "rows.npz"),
                     "--examples-as-rows", *common)
    assert [r for r in rows if r.startswith("train |")] == \
        [c for c in cols if c.startswith("train |")] != []
    model = str(tmp_path / "m.npz")
    assert cli.main(["train", "--dataset", str(tmp_path / "rows.npz"), "--examples-as-rows",
                     *common, "--save", model]) == 0
    capsys.readouterr()
    assert cli.main(["evaluate", model, "--dataset", str(tmp_path / "rows.npz"),
                     "--examples-as-rows", "--device", "cpu"]) == 0
    assert [r for r in capsys.readouterr().out.splitlines() if r.startswith("train |")] == \
        [c for c in cols if c.startswith("train |")]
    # without --dataset, the recorded dataset is read as it was trained: as rows
    assert cli.main(["evaluate", model, "--device", "cpu"]) == 0
    assert [r for r in capsys.readouterr().out.splitlines() if r.startswith("train |")] == \
        [c for c in cols if c.startswith("train |")]
    assert cli.main(["train", "--dataset", "planar", "--examples-as-rows"]) == 2
    assert "--examples-as-rows applies to --data and --dataset FILE.npz, got --dataset " \
           "planar" in capsys.readouterr().err


def _closed_reader(*argv):
    """Run ``argv`` with its stdout's reader gone at once (``| head -0``)."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    proc = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT,
                            env={"PATH": "", "PYTHONPATH": path, "MPLBACKEND": "Agg"})
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    return proc.wait(), err


def test_the_command_stops_quietly_when_its_reader_goes_away():
    rc, err = _closed_reader("-m", "nnarray", "train", "--dataset", "planar", "--device",
                             "cpu", "--iterations", "10")
    assert (rc, err) == (141, "")


def test_an_example_stops_quietly_when_its_reader_goes_away(tmp_path):
    rc, err = _closed_reader("examples/planar.py", "--iterations", "5", "--device", "cpu",
                             "--plots", str(tmp_path))
    assert (rc, err) == (141, "")
