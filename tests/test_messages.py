"""Errors that say what is wrong in the user's terms: a layer too large for
the host draw, a model file's class, a checkpoint's record points; and no
library warning the user can do nothing about."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest

import nnarray as nn
from nnarray import init
from nnarray import io as nnio

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(init.host_memory() is None, reason="the system does not say its memory")
def test_a_layer_too_large_to_draw_is_refused_before_drawing():
    """NumPy's MemoryError for 7.28 TiB named neither the layer nor the draw."""
    with pytest.raises(MemoryError, match=r"^layer 1: W1 \(1,000,000 x 1,000,000\) is drawn on "
                                          r"the host in float64 .*: the draw takes 7\.28 TiB, "
                                          r"more than this machine's .* of memory"):
        nn.Network([10**6, 10**6, 1], dtype="float32")


def test_the_refusal_names_the_layer_that_does_not_fit(monkeypatch):
    """A stand-in machine of 4 KiB: W1 (20 x 2) fits, W2 (30 x 20) does not."""
    draws = []
    monkeypatch.setattr(init, "host_memory", lambda: 4096)
    scaled = init._scaled
    monkeypatch.setattr(init, "_scaled", lambda *a: draws.append(a) or scaled(*a))
    with pytest.raises(MemoryError, match=r"^layer 2: W2 \(30 x 20\) .* the draw takes "
                                          r"4\.69 KiB, more than this machine's 4 KiB"):
        nn.Network([2, 20, 30])
    assert draws == []  # refused before any draw
    assert nn.Network([2, 20, 1]).layer_dims == [2, 20, 1]
    assert len(draws) == 2


def test_a_read_only_array_gives_torch_no_warning(tmp_path):
    """torch warned "The given NumPy array is not writable" for a memmap."""
    pytest.importorskip("torch")
    code = (
        "import numpy as np, nnarray as nn\n"
        "X, Y = nn.datasets.planar_flower(m=60, seed=1)\n"
        f"np.save(r'{tmp_path / 'X.npy'}', X.astype(np.float32))\n"
        f"X = nn.open_memmap(r'{tmp_path / 'X.npy'}')\n"
        "assert not X.flags.writeable\n"
        "net = nn.Network([2, 3, 1], backend='torch')\n"
        "net.fit(X, Y.astype(np.float32), iterations=2, progress=False)\n"
        "net.predict(X)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    out = subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True,
                         text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "not writable" not in out.stderr, out.stderr


def _edited_model(tmp_path, **meta_changes):
    path = tmp_path / "m.npz"
    nn.Network([2, 3, 1]).save(path)
    arrays, meta = nnio.load_arrays(path)
    nnio.save_arrays(path, arrays, dict(meta, **meta_changes))
    return path


@pytest.mark.parametrize("name", ["os.system", "builtins.eval", ["Network"]])
def test_a_model_files_unknown_class_is_named_as_such(tmp_path, name):
    path = _edited_model(tmp_path, **{"class": name})
    with pytest.raises(ValueError, match=r"is not a consistent nnarray model: its metadata's "
                                         r"class is .*, not one of the classes nnarray saves "
                                         r"\(Network, LogisticRegression\)") as err:
        nn.load(path)
    assert repr(name) in str(err.value)


def test_a_model_file_without_a_metadata_entry_names_it(tmp_path):
    path = tmp_path / "m.npz"
    nn.Network([2, 3, 1]).save(path)
    arrays, meta = nnio.load_arrays(path)
    del meta["hidden"]
    nnio.save_arrays(path, arrays, meta)
    with pytest.raises(ValueError, match=r"its metadata has no 'hidden' entry$"):
        nn.load(path)


def test_an_edited_checkpoint_position_says_how_the_record_points_differ(tmp_path):
    """The lists were cut to 8 entries: "[0, 5, ..., 35], not [0, 5, ..., 35]"."""
    X, Y = nn.datasets.planar_flower(m=120, seed=3)
    kw = {"iterations": 300, "learning_rate": 0.5, "record_every": 5, "progress": False}
    nn.Network([2, 4, 1], seed=2).fit(X, Y, checkpoint=tmp_path / "c.npz",
                                      checkpoint_every=75, **kw)
    arrays, meta = nnio.load_arrays(tmp_path / "c.npz")
    assert meta["training"]["position"] == 225
    for edit, message in [
        (lambda t: t.update(position=275), "the History's record points are 45 (0 to 220) "
                                           "where a checkpoint at iteration 275 has 55 (0 to "
                                           "270)"),
        (lambda t: t["history"]["iterations"].__setitem__(30, 151),
         "the History's record points: entry 30 is 151 where a checkpoint at iteration 225 "
         "has 150"),
    ]:
        edited = copy.deepcopy(meta)
        edit(edited["training"])
        nnio.save_arrays(tmp_path / "bad.npz", arrays, edited)
        with pytest.raises(ValueError) as err:
            nn.Network([2, 4, 1], seed=2).fit(X, Y, resume=tmp_path / "bad.npz", **kw)
        assert message in str(err.value), err.value
