"""The command line's own words: option names rather than ``fit``'s
arguments, paths it will write checked against each other before training."""

from __future__ import annotations

import numpy as np
import pytest

import nnarray as nn

from .test_cli import fit_spy, main_status, one_error_line


@pytest.mark.parametrize("spelling", ["{d}/ck.npz", "{d}/./ck.npz"])
def test_save_and_checkpoint_naming_one_file_are_refused_before_training(
        tmp_path, monkeypatch, capsys, spelling):
    """The final save used to turn the checkpoint into a model, which
    ``--resume`` then refused."""
    calls = fit_spy(monkeypatch)
    other = spelling.format(d=tmp_path)
    assert main_status(["train", "--dataset", "planar", "--quiet", "--save",
                        str(tmp_path / "ck.npz"), "--checkpoint", other]) == 2
    line = one_error_line(capsys)
    assert "--save" in line and "--checkpoint" in line and "are one file" in line, line
    assert calls == [] and list(tmp_path.iterdir()) == []


def test_save_and_checkpoint_apart_are_accepted(tmp_path, monkeypatch):
    calls = fit_spy(monkeypatch)
    assert main_status(["train", "--dataset", "planar", "--quiet", "--save",
                        str(tmp_path / "m.npz"), "--checkpoint", str(tmp_path / "ck.npz")]) == 0
    assert len(calls) == 1


@pytest.mark.parametrize("argv, message", [
    (["--checkpoint-every", "100"], "--checkpoint-every needs --checkpoint PATH"),
    (["--checkpoint-every", "150", "--checkpoint", "{d}/ck.npz"],
     "--checkpoint-every must be a multiple of --record-every 100"),
])
def test_checkpoint_options_are_named_as_the_command_spells_them(tmp_path, monkeypatch,
                                                                 capsys, argv, message):
    calls = fit_spy(monkeypatch)
    argv = [a.format(d=tmp_path) for a in argv]
    assert main_status(["train", "--dataset", "planar", "--quiet", *argv]) == 2
    line = one_error_line(capsys)
    assert message in line and "checkpoint_every" not in line, line
    assert calls == []


@pytest.mark.parametrize("layout", ["npz", "npz 2-D Y", "npy"])
@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_data_with_examples_as_rows_read_as_columns_hints_at_the_option(
        tmp_path, capsys, layout, command):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    Y = (X[:, 0] > 0) * 1.0
    if layout == "npy":
        data = tmp_path / "rows.npy"
        np.save(data, np.column_stack([X, Y]))
    else:
        data = tmp_path / "rows.npz"
        np.savez(data, X=X, Y=Y if layout == "npz" else Y[:, None])
    if command == "train":
        argv = ["train", "--data", str(data), "--batch-size", "20", "--epochs", "1", "--quiet"]
    else:
        model = tmp_path / "m.npz"
        nn.Network([3, 4, 1]).save(model)
        argv = ["evaluate", str(model), "--data", str(data)]
    assert main_status(argv) == 2
    line = one_error_line(capsys)
    assert line.endswith("if its examples are rows, add --examples-as-rows)"), line
    assert main_status([*argv, "--examples-as-rows"]) == 0


def test_data_as_columns_gets_no_rows_hint(tmp_path, capsys):
    """The hint comes only where the shapes suggest rows."""
    X = np.random.default_rng(0).normal(size=(3, 200))
    data = tmp_path / "cols.npz"
    np.savez(data, X=X, Y=(X[:1] > 0) * 2.0)  # labels 0 and 2: refused
    assert main_status(["train", "--data", str(data), "--batch-size", "20", "--epochs", "1",
                        "--quiet"]) == 2
    assert "--examples-as-rows" not in one_error_line(capsys)
