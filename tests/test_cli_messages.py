"""The command line's own words: option names rather than ``fit``'s
arguments, paths it will write checked against each other before training."""

from __future__ import annotations

import pytest

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
