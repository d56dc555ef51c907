"""What a save may replace: a regular file the user may write, nothing else.
A device, a FIFO or a file the user may not write is refused, naming the
path, and left as it was; root replacing another user's file keeps its
owner, group and mode; an empty path is named as such."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

import nnarray as nn
from nnarray import cli
from nnarray import io as nnio

ROOT_ONLY = pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0,
                               reason="needs root (mknod, chown to another user)")
POSIX = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.npz"
    os.mkfifo(path)
    return path


def _device(tmp_path: Path) -> Path:
    """A copy of /dev/null's device node (never /dev/null itself)."""
    path = tmp_path / "null.npz"
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return path


SPECIAL = [pytest.param(_fifo, "FIFO", id="fifo", marks=POSIX),
           pytest.param(_device, "character device", id="device", marks=ROOT_ONLY)]


@pytest.mark.parametrize("make, kind", SPECIAL)
def test_a_file_that_is_no_regular_file_is_never_replaced(tmp_path, make, kind):
    path = make(tmp_path)
    before = os.stat(path)
    with pytest.raises(OSError, match=rf"^cannot write '.*{path.name}': it is a {kind}[^,]*, not "
                                      r"a regular file"):
        nn.Network([2, 1]).save(path)
    with pytest.raises(OSError, match=rf"^--save '.*{path.name}' cannot be written: it is a "
                                      rf"{kind}"):
        nnio.check_writable(path, "--save")
    after = os.stat(path)
    assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode)
    assert after.st_ino == before.st_ino
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary left


@pytest.mark.parametrize("make, kind", SPECIAL)
def test_a_link_to_a_file_that_is_no_regular_file_is_refused_naming_both(tmp_path, make, kind):
    target = make(tmp_path)
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    with pytest.raises(OSError, match=rf"it links to '.*{target.name}', and that is a {kind}"):
        nn.Network([2, 1]).save(link)
    assert link.is_symlink() and not stat.S_ISREG(os.stat(target).st_mode)


@pytest.mark.parametrize("make, kind", SPECIAL)
def test_the_command_line_refuses_to_save_onto_a_device_before_training(tmp_path, make, kind,
                                                                        capsys):
    """``nnarray train --save /dev/null`` run as root replaced the system's
    /dev/null with a regular file."""
    path = make(tmp_path)
    try:
        status = cli.main(["train", "--dataset", "planar", "--iterations", "1", "--save",
                           str(path)])
    except SystemExit as exc:
        status = exc.code
    assert status == 2
    out = capsys.readouterr()
    lines = out.err.splitlines()
    assert len(lines) == 1 and f"--save {str(path)!r}" in lines[0] and kind in lines[0], out.err
    assert "train |" not in out.out and not stat.S_ISREG(os.stat(path).st_mode)


def _unwritable(monkeypatch, path: Path) -> None:
    """``os.access`` says ``path`` is not writable (root's access ignores 0444)."""
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: not (
        os.fspath(p) == os.fspath(path) and mode & os.W_OK) and real(p, mode, **kw))


def test_a_file_the_user_may_not_write_is_refused_as_cp_refuses_it(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    nn.Network([2, 1], seed=1).save(path)
    path.chmod(0o444)
    before = path.read_bytes()
    if os.geteuid() == 0:
        _unwritable(monkeypatch, path)
    with pytest.raises(PermissionError, match=r"^cannot write '.*m\.npz': it is not writable "
                                              r"\(mode -r--r--r--\)"):
        nn.Network([2, 1], seed=2).save(path)
    with pytest.raises(PermissionError, match=r"^--checkpoint '.*m\.npz' cannot be written: "
                                              r"it is not writable"):
        nnio.check_writable(path, "--checkpoint")
    assert path.read_bytes() == before and stat.S_IMODE(path.stat().st_mode) == 0o444


@ROOT_ONLY
def test_root_replacing_another_users_file_keeps_its_owner_group_and_mode(tmp_path):
    path = tmp_path / "m.npz"
    nn.Network([2, 1], seed=1).save(path)
    os.chown(path, 4321, 4322)
    path.chmod(0o640)
    nn.Network([2, 1], seed=2).save(path)
    after = path.stat()
    assert (after.st_uid, after.st_gid, stat.S_IMODE(after.st_mode)) == (4321, 4322, 0o640)
    np.testing.assert_array_equal(nn.load(path).parameters["W1"],
                                  nn.Network([2, 1], seed=2).parameters["W1"])


def test_a_second_hard_link_keeps_the_old_model(tmp_path):
    """As documented: the rename gives the path a new file; another name of
    the old file still holds the old model."""
    path, other = tmp_path / "m.npz", tmp_path / "other.npz"
    nn.Network([2, 1], seed=1).save(path)
    os.link(path, other)
    nn.Network([2, 1], seed=2).save(path)
    np.testing.assert_array_equal(nn.load(other).parameters["W1"],
                                  nn.Network([2, 1], seed=1).parameters["W1"])
    np.testing.assert_array_equal(nn.load(path).parameters["W1"],
                                  nn.Network([2, 1], seed=2).parameters["W1"])


def test_an_empty_path_is_named_as_such(tmp_path, monkeypatch):
    """``Path("")`` is ``"."``: the error said the current folder was a folder."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"^path is empty: give the file to write"):
        nn.Network([2, 1]).save("")
    with pytest.raises(ValueError, match=r"^--save is empty"):
        nnio.check_writable("", "--save")
    assert list(tmp_path.iterdir()) == []
