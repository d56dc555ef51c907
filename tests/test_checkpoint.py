"""Checkpoints and exact resume: a run killed with SIGKILL continues from its
last checkpoint to the bits of the uninterrupted run; a kill during the
write leaves the previous checkpoint readable; another run's checkpoint is
refused."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import nnarray as nn
from nnarray import io as nnio

MINI = dict(learning_rate=0.01, optimizer="adam", dropout={1: 0.8}, batch_size=32, epochs=7,
            l2=0.05, progress=False)
FULL = dict(learning_rate=0.05, optimizer="momentum", iterations=230, record_every=20,
            decay_rate=0.01, dropout={1: 0.9}, progress=False)


def _data():
    return nn.datasets.planar_flower(m=150, seed=1)


def _net(backend="numpy"):
    return nn.Network([2, 6, 3, 1], dtype="float64", seed=3, backend=backend)


def _params(net):
    return {k: nn.backend.to_numpy(v) for k, v in net.parameters.items()}


def _assert_identical(net, hist, ref, href):
    # exact: the checkpoint holds every state the remaining steps read, so the
    # resumed run makes the uninterrupted run's operations in the same order
    assert hist.iterations == href.iterations and hist.epochs == href.epochs
    assert hist.costs == href.costs and hist.val_costs == href.val_costs
    for k, v in _params(ref).items():
        np.testing.assert_array_equal(_params(net)[k], v, err_msg=k)


@pytest.mark.parametrize("backend_name", ["numpy", "jax"])
@pytest.mark.parametrize("run", ["mini", "full"])
def test_resume_continues_to_the_uninterrupted_bits(tmp_path, backend_name, run):
    pytest.importorskip(backend_name)
    X, Y = _data()
    kw, total, part = (MINI, "epochs", 4) if run == "mini" else (FULL, "iterations", 130)
    every = 2 if run == "mini" else 40
    ref = _net(backend_name)
    href = ref.fit(X, Y, **kw)
    first = _net(backend_name)
    first.fit(X, Y, **dict(kw, **{total: part}), checkpoint=tmp_path / "c.npz",
              checkpoint_every=every)
    training = nnio.load_arrays(tmp_path / "c.npz")[1]["training"]
    assert training["position"] == (2 if run == "mini" else 120)  # the last due before the end
    again = _net(backend_name)  # a fresh network: everything comes from the file
    hist = again.fit(X, Y, **kw, resume=tmp_path / "c.npz")
    _assert_identical(again, hist, ref, href)


def test_early_stopping_state_survives_a_resume(tmp_path):
    X, Y = _data()
    Xv, Yv = nn.datasets.planar_flower(m=60, seed=9)
    kw = dict(FULL, iterations=400, record_every=10, learning_rate=0.3,
              validation=(Xv, Yv), patience=3)
    ref = _net()
    href = ref.fit(X, Y, **kw)
    first = _net()
    first.fit(X, Y, **dict(kw, iterations=100), checkpoint=tmp_path / "c.npz",
              checkpoint_every=30)
    again = _net()
    hist = again.fit(X, Y, **kw, resume=tmp_path / "c.npz")
    _assert_identical(again, hist, ref, href)
    assert hist.stopped_early == href.stopped_early


KILLED = textwrap.dedent("""
    import json, os, signal, sys
    import nnarray as nn
    X, Y = nn.datasets.planar_flower(m=150, seed=1)
    net = nn.Network([2, 6, 3, 1], dtype="float64", seed=3)
    kw = dict(learning_rate=0.01, optimizer="adam", dropout={1: 0.8}, batch_size=32,
              epochs=7, l2=0.05, progress=False)
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "kill-in-epoch":
        def on_epoch(epoch, history):
            if epoch == 4:  # after the checkpoint of epoch 4, in the middle of the run
                os.kill(os.getpid(), signal.SIGKILL)
        net.fit(X, Y, **kw, checkpoint=path, checkpoint_every=2, on_epoch=on_epoch)
    elif mode == "kill-in-write":
        real = os.replace
        writes = []
        def replace(src, dst):
            writes.append(dst)
            if len(writes) == 2:  # the second checkpoint: written, not yet renamed
                os.kill(os.getpid(), signal.SIGKILL)
            real(src, dst)
        os.replace = replace
        net.fit(X, Y, **kw, checkpoint=path, checkpoint_every=2)
    else:
        history = net.fit(X, Y, **kw, resume=path)
        nn.Network.save(net, sys.argv[3])
        print(json.dumps(history.costs))
""")


def _child(*args):
    return subprocess.run([sys.executable, "-c", KILLED, *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def test_sigkill_mid_run_then_resume_is_bit_exact(tmp_path):
    ckpt, out = tmp_path / "run.ckpt.npz", tmp_path / "final.npz"
    killed = _child("kill-in-epoch", ckpt)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    training = nnio.load_arrays(ckpt)[1]["training"]
    assert training["position"] == 4  # at most checkpoint_every=2 epochs lost (1 here)
    resumed = _child("resume", ckpt, out)
    assert resumed.returncode == 0, resumed.stderr
    X, Y = _data()
    ref = _net()
    href = ref.fit(X, Y, **MINI)
    # exact: the same steps on the same backend (JSON keeps a float's every bit)
    assert json.loads(resumed.stdout) == href.costs
    final = nn.load(out)
    for k, v in _params(ref).items():
        np.testing.assert_array_equal(nn.backend.to_numpy(final.parameters[k]), v)


def test_a_kill_during_the_write_leaves_the_previous_checkpoint(tmp_path):
    ckpt = tmp_path / "run.ckpt.npz"
    killed = _child("kill-in-write", ckpt)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert nnio.load_arrays(ckpt)[1]["training"]["position"] == 2  # the first, whole
    stale = list(tmp_path.glob(".run.ckpt.npz.*.tmp"))
    assert len(stale) == 1  # the second, written but never renamed
    assert isinstance(nn.load(ckpt), nn.Network)
    _net().save(ckpt)  # the next save removes the dead writer's file
    assert not list(tmp_path.glob(".run.ckpt.npz.*.tmp"))


def test_a_live_writers_temporary_file_is_left_alone(tmp_path):
    live = tmp_path / f".m.npz.{1}.abc.tmp"  # pid 1 always exists
    live.write_bytes(b"partial")
    _net().save(tmp_path / "m.npz")
    assert live.exists()


def test_another_runs_checkpoint_is_refused_naming_the_difference(tmp_path):
    X, Y = _data()
    _net().fit(X, Y, **dict(FULL, iterations=50), checkpoint=tmp_path / "c.npz",
               checkpoint_every=20)
    cases = [
        (dict(FULL, learning_rate=0.06), X, Y, "learning_rate: the checkpoint has 0.05"),
        (dict(FULL, optimizer="adam"), X, Y, "optimizer: the checkpoint has 'Momentum"),
        (FULL, X * 2, Y, "X: the checkpoint has"),
        (dict(FULL, record_every=10), X, Y, "record_every"),
        (MINI, X, Y, "counts iterations, this call epochs"),
    ]
    for kw, Xc, Yc, message in cases:
        with pytest.raises(ValueError, match=message):
            _net().fit(Xc, Yc, **kw, resume=tmp_path / "c.npz")
    other = nn.Network([2, 5, 3, 1], dtype="float64", seed=3)
    with pytest.raises(ValueError, match="layer_dims"):
        other.fit(X, Y, **FULL, resume=tmp_path / "c.npz")
    _net().save(tmp_path / "model.npz")
    with pytest.raises(ValueError, match="is a model file, not a checkpoint"):
        _net().fit(X, Y, **FULL, resume=tmp_path / "model.npz")


def test_checkpoint_arguments_are_checked(tmp_path):
    X, Y = _data()
    with pytest.raises(ValueError, match="multiple of record_every=20"):
        _net().fit(X, Y, **FULL, checkpoint=tmp_path / "c.npz", checkpoint_every=30)
    with pytest.raises(ValueError, match="checkpoint_every needs checkpoint"):
        _net().fit(X, Y, **FULL, checkpoint_every=20)
    assert not (tmp_path / "c.npz").exists()


def test_a_checkpoint_opens_as_a_model(tmp_path):
    X, Y = _data()
    net = _net()
    net.fit(X, Y, **dict(MINI, epochs=3), checkpoint=tmp_path / "c.npz", checkpoint_every=1)
    arrays, meta = nnio.load_arrays(tmp_path / "c.npz")
    assert {"v.W1", "s.W1"} <= set(arrays) and meta["state_prefixes"] == ["v", "s"]
    model = nn.load(tmp_path / "c.npz")
    assert sorted(model.parameters) == sorted(net.parameters)


def test_crafted_state_prefixes_are_refused(tmp_path):
    path = tmp_path / "c.npz"
    arrays = {k: nn.backend.to_numpy(v) for k, v in _net().parameters.items()}
    meta = dict(_net()._meta(), state_prefixes=["v", "v"])
    nnio.save_arrays(path, arrays | {f"v.{k}": a for k, a in arrays.items()}, meta)
    with pytest.raises(ValueError, match="state_prefixes must be distinct names"):
        nn.load(path)
    nnio.save_arrays(path, arrays, dict(meta, state_prefixes=["v"]))  # entries missing
    with pytest.raises(ValueError, match="missing"):
        nn.load(path)
    assert Path(path).exists()


def test_the_command_line_resumes_to_the_same_figures(tmp_path):
    run = [sys.executable, "-m", "nnarray", "train", "--dataset", "planar", "--device", "cpu",
           "--record-every", "100", "--quiet"]
    whole = subprocess.run([*run, "--iterations", "500"], capture_output=True, text=True,
                           timeout=300, check=True).stdout
    ckpt = tmp_path / "run.ckpt.npz"
    subprocess.run([*run, "--iterations", "300", "--checkpoint", str(ckpt),
                    "--checkpoint-every", "200"], capture_output=True, text=True, timeout=300,
                   check=True)
    resumed = subprocess.run([*run, "--iterations", "500", "--resume", str(ckpt)],
                             capture_output=True, text=True, timeout=300, check=True).stdout

    def figures(out):
        return [line for line in out.splitlines() if "accuracy" in line or "cost" in line]

    assert figures(resumed) == figures(whole) and figures(whole)
