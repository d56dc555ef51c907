"""Data larger than memory: mini-batches streamed from memmaps (.npy, stored
.npz members), Dask and zarr arrays onto the device, the next one prefetched;
the chunk-aware shuffle; streamed evaluation; examples as rows; the command."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

import nnarray as nn
from nnarray import backend, cli
from nnarray.backend import streams

from . import reference as ref

ROOT = Path(__file__).resolve().parents[1]
TRAIN = dict(learning_rate=0.05, optimizer="adam", dropout={1: 0.8}, l2=0.01, batch_size=16,
             epochs=3, progress=False)


def _data(m=150, n_x=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_x, m))
    Y = (X[:1] + 0.5 * X[1:2] > 0).astype(np.float64)
    return X, Y


def _net(backend_name="numpy", dims=(3, 5, 1), **kw):
    return nn.Network(list(dims), hidden="tanh", seed=4, dtype="float64",
                      backend=backend_name, **kw)


def _params(net):
    return {k: backend.to_numpy(v) for k, v in net.parameters.items()}


def _assert_same_run(net, hist, ref_net, ref_hist):
    # exact: each streamed batch is gathered into a C-ordered array of the same
    # columns as the in-memory loop's, and goes through the same step
    assert hist.costs == ref_hist.costs and hist.iterations == ref_hist.iterations
    assert hist.val_costs == ref_hist.val_costs
    for k, v in _params(ref_net).items():
        np.testing.assert_array_equal(_params(net)[k], v, err_msg=k)


def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name.startswith(streams.THREAD_NAME)]


class Reads:
    """An array that records each read (its shape and thread): what Dask
    computes of it, chunk by chunk."""

    def __init__(self, a):
        self.a, self.shape, self.dtype, self.ndim = a, a.shape, a.dtype, a.ndim
        self.log = []

    def __getitem__(self, index):
        out = self.a[index]
        if out.size:  # Dask reads an empty corner for its metadata
            self.log.append((out.shape, threading.current_thread().name))
        return out


# --------------------------------------------------------------------------- files


def test_npy_memmap_trains_as_the_in_memory_data_bit_for_bit(tmp_path):
    """One block (the data is smaller than BLOCK_BYTES): the chunk-aware
    shuffle is the in-memory permutation, so Adam, dropout and L2 give the
    same bits; the streamed validation cost too."""
    X, Y = _data()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Y.npy", Y)
    Xm, Ym = nn.open_memmap(tmp_path / "X.npy"), nn.open_memmap(tmp_path / "Y.npy")
    assert isinstance(Xm, np.memmap)
    net, ref_net = _net(), _net()
    hist = net.fit(Xm, Ym, validation=(Xm, Ym), **TRAIN)
    ref_hist = ref_net.fit(X, Y, validation=(X, Y), **TRAIN)
    _assert_same_run(net, hist, ref_net, ref_hist)
    assert len(hist.costs) == 3 and not _prefetch_threads()


def _savez_stored(path, **arrays):
    np.savez(path, **arrays)
    with zipfile.ZipFile(path) as zf:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())


def test_npz_members_are_mapped_at_their_offset(tmp_path):
    X, Y = _data(m=40)
    F = np.asfortranarray(np.arange(12, dtype=np.int16).reshape(3, 4))
    _savez_stored(tmp_path / "d.npz", X=X, Y=Y.astype(np.uint8), F=F)
    arrays = nn.open_arrays(tmp_path / "d.npz")
    assert sorted(arrays) == ["F", "X", "Y"]
    for name, want in {"X": X, "Y": Y.astype(np.uint8), "F": F}.items():
        got = arrays[name]
        assert isinstance(got, np.memmap) and got.dtype == want.dtype, name
        np.testing.assert_array_equal(got, want, err_msg=name)
    assert arrays["F"].flags.f_contiguous
    np.testing.assert_array_equal(nn.io.open_memmap(tmp_path / "d.npz", key="X"), X)
    net, ref_net = _net(), _net()
    _assert_same_run(net, net.fit(arrays["X"], arrays["Y"], **TRAIN),
                     ref_net, ref_net.fit(X, Y, **TRAIN))


def test_npz_refusals_name_the_file_and_the_member(tmp_path):
    X, _ = _data(m=10)
    np.savez_compressed(tmp_path / "c.npz", X=X)
    with pytest.raises(ValueError, match=r"c\.npz' stores 'X' compressed .*np\.savez"):
        nn.open_memmap(tmp_path / "c.npz")
    _savez_stored(tmp_path / "two.npz", X=X, Y=X)
    with pytest.raises(ValueError, match=r"holds the arrays \['X', 'Y'\]: say which with key="):
        nn.open_memmap(tmp_path / "two.npz")
    with pytest.raises(ValueError, match=r"has no array 'Z' \(it holds \['X', 'Y'\]\)"):
        nn.open_memmap(tmp_path / "two.npz", key="Z")
    np.savez(tmp_path / "o.npz", X=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="Python objects .* never unpickles"):
        nn.open_memmap(tmp_path / "o.npz")
    with pytest.raises(FileNotFoundError, match="no data file"):
        nn.open_memmap(tmp_path / "missing.npy")
    with pytest.raises(ValueError, match="for one .npy array use open_memmap"):
        nn.open_arrays(tmp_path / "x.npy")


def _zarr_array(group, name, data=None, **kw):
    """``group.create_array`` (zarr 3), or ``create_dataset`` (zarr 2.18),
    then ``data`` written (zarr 3.0's ``create_array`` takes no data)."""
    if data is not None:
        kw.update(shape=data.shape, dtype=data.dtype)
    create = group.create_array if hasattr(group, "create_array") else group.create_dataset
    a = create(name, **kw)
    if data is not None:
        a[...] = data
    return a


def test_zarr_group_streams_by_its_chunks(tmp_path):
    zarr = pytest.importorskip("zarr")
    X, Y = _data(m=120)
    group = zarr.open_group(str(tmp_path / "d.zarr"), mode="w")
    _zarr_array(group, "X", data=np.ascontiguousarray(X.T), chunks=(120, 3))  # one chunk
    _zarr_array(group, "Y", data=Y[0], chunks=(50,))
    _zarr_array(group, "X7", data=np.ascontiguousarray(X.T), chunks=(7, 3))
    arrays = nn.open_arrays(tmp_path / "d.zarr")
    assert sorted(arrays) == ["X", "X7", "Y"] and not isinstance(arrays["X"], np.ndarray)
    net, ref_net = _net(), _net()
    hist = net.fit(arrays["X"], arrays["Y"], examples_as_rows=True, **TRAIN)
    _assert_same_run(net, hist, ref_net, ref_net.fit(X, Y, **TRAIN))
    data = backend.Stream(arrays["X7"], arrays["Y"], target=backend.resolve("numpy", "cpu"),
                          dtype="float64", examples_as_rows=True)
    assert data.chunk_sizes == (7,) * 17 + (1,)
    assert net.cost(arrays["X7"], arrays["Y"], examples_as_rows=True) == pytest.approx(
        net.cost(X, Y), rel=1e-13)


def _chunk_files(array_folder: Path) -> list[Path]:
    """The chunk files of a zarr array, sorted (zarr 2 or 3 layout: every
    file but the metadata)."""
    meta = {"zarr.json", ".zarray", ".zattrs"}
    return sorted(p for p in array_folder.rglob("*") if p.is_file() and p.name not in meta)


def _lose_chunk_files(array_folder: Path, which: list[int]) -> None:
    """Delete the chunk files ``which`` (in sorted order) of a zarr array."""
    chunks = _chunk_files(array_folder)
    for i in which:
        chunks[i].unlink()


def _zarr_xy(tmp_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """120 examples written to ``tmp_path/d.zarr`` as rows: X in 6 chunks, Y in 2."""
    zarr = pytest.importorskip("zarr")
    X, Y = _data(m=120)
    group = zarr.open_group(str(tmp_path / "d.zarr"), mode="w")
    _zarr_array(group, "X", data=np.ascontiguousarray(X.T), chunks=(20, 3))  # 6 chunks
    _zarr_array(group, "Y", data=Y[0], chunks=(60,))
    return X, Y


def test_a_zarr_array_missing_chunks_warns_once_per_fit(tmp_path):
    _zarr_xy(tmp_path)
    arrays = nn.open_arrays(tmp_path / "d.zarr")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        _net().fit(arrays["X"], arrays["Y"], examples_as_rows=True, **TRAIN)
    assert not [w for w in seen if issubclass(w.category, streams.MissingChunksWarning)]
    _lose_chunk_files(tmp_path / "d.zarr" / "X", [1, 4])
    arrays = nn.open_arrays(tmp_path / "d.zarr")  # "warn", the default, opens it
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        hist = _net().fit(arrays["X"], arrays["Y"], examples_as_rows=True, **TRAIN)
    missing = [w for w in seen if issubclass(w.category, streams.MissingChunksWarning)]
    assert len(missing) == 1 and len(hist.costs) == 3  # once for the fit's three epochs
    assert issubclass(streams.MissingChunksWarning, UserWarning)
    assert re.search(r"^X \(zarr array '/X'.*\) has 2 of 6 chunks not written: they read as "
                     r"its fill value 0\.0\.", str(missing[0].message)), missing[0].message
    with pytest.raises(ValueError, match=r"d\.zarr': zarr array 'X' has 2 of 6 chunks not "
                                         r"written \(they would read as the fill value 0\.0\)"):
        nn.open_arrays(tmp_path / "d.zarr", missing_chunks="error")
    _lose_chunk_files(tmp_path / "d.zarr" / "Y", [0])
    with pytest.raises(ValueError, match=r"zarr array 'X' has 2 of 6"):  # the first, by name
        nn.open_arrays(tmp_path / "d.zarr", missing_chunks="error")
    with pytest.raises(ValueError, match="missing_chunks must be 'warn' or 'error', got 'skip'"):
        nn.open_arrays(tmp_path / "d.zarr", missing_chunks="skip")


@pytest.mark.parametrize("rows", [3000, 2900])  # 2900: the last shard is partly outside
def test_holes_inside_the_shards_of_a_sharded_zarr_array_are_missing_chunks(tmp_path, rows):
    """zarr 3 counts a stored shard as all its inner chunks written; each
    shard's index says which are (an inner chunk never written is marked
    empty there), and only inner chunks inside the array's shape count."""
    zarr = pytest.importorskip("zarr", minversion="3")  # zarr 2 has no sharding
    X = np.random.default_rng(0).normal(size=(rows, 8))
    Y = (X[:, 0] > 0).astype(np.float64)
    group = zarr.open_group(str(tmp_path / "d.zarr"), mode="w")
    a = _zarr_array(group, "X", shape=X.shape, dtype="f8", chunks=(250, 8), shards=(1000, 8))
    a[:250], a[500:] = X[:250], X[500:]  # rows 250..499, one inner chunk, never written
    _zarr_array(group, "Y", data=Y, chunks=(1000,))
    assert streams.uninitialized_chunks(a) == 1
    with pytest.raises(ValueError, match=r"zarr array 'X' has 1 of 12 chunks not written"):
        nn.open_arrays(tmp_path / "d.zarr", missing_chunks="error")
    arrays = nn.open_arrays(tmp_path / "d.zarr")
    with pytest.warns(streams.MissingChunksWarning, match=r"^X \(zarr array '/X'.*\) has 1 "
                                                          r"of 12 chunks not written"):
        _net(dims=(8, 3, 1)).fit(arrays["X"], arrays["Y"], examples_as_rows=True, **TRAIN)
    a[250:500] = X[250:500]  # the hole filled: nothing missing, no warning
    assert streams.uninitialized_chunks(a) == 0
    nn.open_arrays(tmp_path / "d.zarr", missing_chunks="error")
    b = _zarr_array(group, "B", shape=X.shape, dtype="f8", chunks=(250, 8), shards=(1000, 8))
    b[:1000] = X[:1000]  # whole shards never written: their inner chunks inside the shape
    assert streams.uninitialized_chunks(b) == -(-rows // 250) - 4


def test_a_damaged_zarr_chunk_is_an_error_naming_the_array_and_the_chunk(tmp_path):
    _zarr_xy(tmp_path)
    files = _chunk_files(tmp_path / "d.zarr" / "X")
    files[2].write_bytes(b"\x00" * files[2].stat().st_size)  # chunk 2: examples 40..59
    arrays = nn.open_arrays(tmp_path / "d.zarr")
    net = _net()
    before = _params(net)
    with pytest.raises(backend.StreamDataError) as error:
        net.fit(arrays["X"], arrays["Y"], examples_as_rows=True, **TRAIN)
    assert re.match(r"X \(zarr array '/X'.*\): chunk \(2, 0\) of examples 40\.\.59 cannot be "
                    r"read: \w+Error: .+\(a damaged or partly written chunk file\?\)",
                    str(error.value)), error.value
    for k, v in before.items():
        np.testing.assert_array_equal(_params(net)[k], v, err_msg=k)


MANY_MEMBERS = textwrap.dedent("""
    import resource, sys
    import numpy as np
    import nnarray as nn

    resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(
        resource.RLIMIT_NOFILE)[1]))
    arrays = nn.open_arrays(sys.argv[1])
    assert len(arrays) == 2000, len(arrays)
    assert all(isinstance(a, np.memmap) for a in arrays.values())
    assert all(int(a[0, 0]) == i for i, a in enumerate(arrays[f"a{i}"] for i in range(2000)))
    net = nn.Network([3, 2, 1], seed=1, dtype="float64")
    X = arrays["a1999"]
    net.fit(X, (X[:1] > 1999.5), batch_size=2, epochs=1, progress=False)
    print("ok")
""")


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_NOFILE is POSIX")
def test_an_npz_of_more_members_than_open_files_allowed_opens(tmp_path):
    """The archive is mapped once and its members are views of it: 2,000
    members under a limit of 64 open files."""
    arrays = {f"a{i}": np.full((3, 4), float(i)) + np.arange(4) / 4 for i in range(2000)}
    np.savez(tmp_path / "many.npz", **arrays)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    proc = subprocess.run([sys.executable, "-c", MANY_MEMBERS, str(tmp_path / "many.npz")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0 and proc.stdout == "ok\n", proc.stderr[-2000:]


def test_missing_chunks_of_a_complete_npz_are_not_a_question(tmp_path):
    X, Y = _data(m=10)
    _savez_stored(tmp_path / "d.npz", X=X, Y=Y)
    arrays = nn.open_arrays(tmp_path / "d.npz", missing_chunks="error")
    np.testing.assert_array_equal(arrays["X"], X)
    with pytest.raises(ValueError, match="missing_chunks must be 'warn' or 'error', got None"):
        nn.open_arrays(tmp_path / "d.npz", missing_chunks=None)


# --------------------------------------------------------------------------- reads


def _views(tmp_path):
    """Memmaps of several layouts (as nnarray's readers and the command make
    them), each with the in-memory array it holds."""
    rng = np.random.default_rng(3)
    A = rng.normal(size=(300, 5))
    np.save(tmp_path / "c.npy", A)
    np.save(tmp_path / "f.npy", np.asfortranarray(A))
    np.save(tmp_path / "be.npy", A.astype(">f4"))
    _savez_stored(tmp_path / "d.npz", A=A, F=np.asfortranarray(A))
    c, f = nn.open_memmap(tmp_path / "c.npy"), nn.open_memmap(tmp_path / "f.npy")
    be, d = nn.open_memmap(tmp_path / "be.npy"), nn.open_arrays(tmp_path / "d.npz")
    return {
        "rows": (c, A), "fortran": (f, A), "big-endian": (be, A.astype(">f4")),
        "npz": (d["A"], A), "npz fortran": (d["F"], A),
        "features of rows": (c[:, :-1], A[:, :-1]), "label column": (c[:, -1], A[:, -1]),
        "features of columns": (c.T[:-1], A.T[:-1]), "label row": (c.T[-1:], A.T[-1:]),
        "reversed": (f[::-1, ::-2], A[::-1, ::-2]),
    }


def test_a_memmap_is_read_from_its_file_not_through_its_mapping(tmp_path):
    """Every layout's batches, in order and shuffled over many chunks, are
    the in-memory array's bit for bit; what is read is a copy, not a view
    of the mapping (which a file shrinking under it turns into SIGBUS)."""
    target = backend.resolve("numpy", "cpu")
    for name, (mapped, held) in _views(tmp_path).items():
        assert isinstance(mapped, np.memmap), name
        rows = name not in ("features of columns", "label row")
        kw = dict(target=target, dtype="float64", examples_as_rows=rows, block_bytes=400)
        if mapped.ndim == 1:
            streamed = backend.Stream(mapped[:, None] if rows else mapped, mapped, **kw)
            in_memory = backend.Stream(held[:, None] if rows else held, held, **kw)
        else:
            streamed, in_memory = backend.Stream(mapped, **kw), backend.Stream(held, **kw)
        assert len(streamed.chunk_sizes) > 1, name
        part = streamed.Y.part(3, 40) if mapped.ndim == 1 else streamed.X.part(3, 40)
        assert not np.shares_memory(part, mapped), name
        for order in (None, streamed.order(backend.HostRandom(1))):
            with streamed.batches(7, order, device=False) as a, \
                    in_memory.batches(7, order, device=False) as b:
                for (Xa, Ya), (Xb, Yb) in zip(a, b, strict=True):
                    np.testing.assert_array_equal(Xa, Xb, err_msg=name)
                    np.testing.assert_array_equal(Ya, Yb, err_msg=name)


TRUNCATED_RUN = textwrap.dedent("""
    import os, sys
    import numpy as np
    import nnarray as nn

    path, kind, when = sys.argv[1], sys.argv[2], sys.argv[3]
    X = np.random.default_rng(0).normal(size=(4000, 4))
    Y = (X[:, 0] > 0).astype(np.float64)
    if kind == "npy":
        np.save(path, X)
        Xm = nn.open_memmap(path)
    else:
        np.savez(path, X=X)
        Xm = nn.open_memmap(path, key="X")

    def cut(epoch, history):
        os.truncate(path, 1000)  # the file shrinks under the fit

    if when == "before":
        cut(0, None)
    nn.Network([4, 3, 1], seed=1).fit(Xm, Y, learning_rate=0.1, batch_size=100, epochs=3,
                                      examples_as_rows=True, on_epoch=cut, progress=False)
    print("trained on a truncated file")
""")


@pytest.mark.parametrize("kind", ["npy", "npz"])
@pytest.mark.parametrize("when", ["during", "before"])
def test_a_file_truncated_under_a_fit_is_an_error_naming_it_not_a_signal(tmp_path, kind, when):
    path = tmp_path / f"X.{kind}"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    proc = subprocess.run([sys.executable, "-c", TRUNCATED_RUN, str(path), kind, when],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])  # not killed by SIGBUS
    last = proc.stderr.strip().splitlines()[-1]
    if when == "during":
        assert last.startswith("nnarray.backend.streams.StreamDataError: X is streamed from "
                               f"{str(path)!r}, which now ends at byte 1,000"), last
    else:
        assert last.startswith(f"ValueError: X is a memmap of {str(path)!r} up to byte "), last
        assert last.endswith("but the file has 1,000 bytes (truncated?)"), last


def _open_fds():
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
@pytest.mark.parametrize("change", ["float32 of the same size", "same layout", "deleted"])
def test_a_file_replaced_or_deleted_under_a_fit_is_still_the_one_read(tmp_path, change):
    """The file is opened once, when the fit starts: what happens to its
    path afterwards (``os.replace``, ``unlink``) changes nothing, and the
    descriptor is closed when the fit ends."""
    X, Y = _data(m=400, n_x=4)
    path = tmp_path / "X.npy"
    np.save(path, np.ascontiguousarray(X.T))  # float64, examples as rows
    other = np.random.default_rng(9).normal(size=X.T.shape)

    def swap(epoch, history):
        if epoch != 0:
            return
        if change == "deleted":
            path.unlink()
            return
        new = tmp_path / "new.npy"
        if change == "same layout":
            np.save(new, other)
        else:  # the same bytes: float32 with twice the rows
            np.save(new, np.concatenate([other, other]).astype(np.float32))
            assert new.stat().st_size == path.stat().st_size
        os.replace(new, path)

    kw = dict(TRAIN, epochs=3, examples_as_rows=True)
    ref_net = _net(dims=(4, 5, 1))
    ref_hist = ref_net.fit(np.ascontiguousarray(X.T), Y[0], **kw)
    before = _open_fds()
    net = _net(dims=(4, 5, 1))
    hist = net.fit(nn.open_memmap(path), Y[0], on_epoch=swap, **kw)
    _assert_same_run(net, hist, ref_net, ref_hist)
    assert _open_fds() == before  # the descriptor is closed with the fit


def test_a_file_replaced_before_the_fit_starts_is_the_one_read(tmp_path):
    """The documented other side: the fit opens the file by its path."""
    X, Y = _data(m=200, n_x=4)
    path = tmp_path / "X.npy"
    np.save(path, np.ascontiguousarray(X.T))
    Xm = nn.open_memmap(path)
    other = np.random.default_rng(9).normal(size=X.T.shape)
    np.save(tmp_path / "new.npy", other)
    os.replace(tmp_path / "new.npy", path)
    net, ref_net = _net(dims=(4, 5, 1)), _net(dims=(4, 5, 1))
    kw = dict(TRAIN, examples_as_rows=True)
    _assert_same_run(net, net.fit(Xm, Y[0], **kw), ref_net, ref_net.fit(other, Y[0], **kw))


# --------------------------------------------------------------------------- Dask


@pytest.mark.parametrize("batch_size", [None, 20])
def test_nan_in_a_late_chunk_of_a_dask_validation_set_names_it_and_changes_nothing(
        batch_size):
    da = pytest.importorskip("dask.array")
    X, Y = _data(m=200)
    Xv = X.copy()
    Xv[0, 190] = np.nan  # in the last of four chunks, read after an epoch of training
    net = _net()
    before = _params(net)
    kw = dict(learning_rate=0.1, progress=False, batch_size=batch_size,
              validation=(da.from_array(Xv, chunks=(3, 50)), da.from_array(Y, chunks=(1, 50))))
    kw.update(dict(iterations=20, record_every=5) if batch_size is None else dict(epochs=2))
    with pytest.raises(backend.StreamDataError, match=r"^validation \(X_val, Y_val\): X "
                       r"contains NaN or inf values \(in examples 150\.\.199 of the stream\)$"):
        net.fit(X, Y, **kw)
    for k, v in before.items():
        np.testing.assert_array_equal(_params(net)[k], v, err_msg=k)
    assert net.history.costs == [] and net.history.val_costs == []


def test_dask_input_streams_chunk_by_chunk_on_the_prefetch_thread():
    da = pytest.importorskip("dask.array")
    dask = pytest.importorskip("dask")
    X, Y = _data(m=300)
    source = Reads(X)
    Xd = da.from_array(source, chunks=(3, 40), asarray=True)
    Yd = da.from_array(Y, chunks=(1, 40))
    with dask.config.set(scheduler="synchronous"):
        net = _net()
        hist = net.fit(Xd, Yd, **TRAIN)
    reads = [shape for shape, _ in source.log]
    assert max(r[1] for r in reads) == 40  # never more than one chunk at a time
    assert sum(r[1] for r in reads) == 3 * 300  # each chunk read once per epoch
    assert {name for _, name in source.log} == {streams.THREAD_NAME + "_0"}
    assert len(hist.costs) == 3 and all(np.isfinite(hist.costs))
    assert not _prefetch_threads()


def _chunked_reference(X, Y, params, sizes, epochs, batch_size, lr, seed):
    """Mini-batch gradient descent (NumPy float64) over the chunk-aware
    shuffle as documented: chunks in a drawn order, each chunk's examples in
    a drawn order, batches of consecutive examples of that sequence."""
    rng = np.random.default_rng(seed)
    starts = np.cumsum([0, *sizes[:-1]])

    def order() -> np.ndarray:
        chunks = rng.permutation(len(sizes))
        return np.concatenate([starts[c] + rng.permutation(sizes[c]) for c in chunks])

    return ref.minibatch_gd(X, Y, params, (order() for _ in range(epochs)), batch_size, lr)


@pytest.mark.parametrize("backend_name", ["numpy", "torch", "jax", "array_api_strict"])
def test_many_chunks_train_on_the_chunk_aware_shuffle(backend_name):
    """Uneven chunks, batches that cross chunk ends: against an independent
    NumPy float64 reference of the documented order, on several backends."""
    pytest.importorskip(backend_name)
    da = pytest.importorskip("dask.array")
    X, Y = _data(m=97)
    sizes = (30, 25, 30, 12)
    _, _, params = ref.problem([3, 5, 1], m=1, seed=3)
    net = nn.Network([3, 5, 1], hidden="tanh", init=params, seed=9, dtype="float64",
                     backend=backend_name)
    hist = net.fit(da.from_array(X, chunks=(3, sizes)), da.from_array(Y, chunks=(1, sizes)),
                   learning_rate=0.1, batch_size=16, epochs=3, progress=False)
    P, costs = _chunked_reference(X, Y, params, sizes, 3, 16, 0.1, 9)
    np.testing.assert_allclose(hist.costs, costs, rtol=1e-12)
    for k, v in P.items():
        np.testing.assert_allclose(_params(net)[k], v, rtol=1e-10, atol=1e-12, err_msg=k)


def test_a_dask_network_keeps_dask_inputs_lazy_as_before():
    da = pytest.importorskip("dask.array")
    X, Y = _data(m=60)
    net = _net("dask")
    net.fit(da.from_array(X, chunks=(3, 20)), da.from_array(Y, chunks=(1, 20)),
            learning_rate=0.1, batch_size=20, epochs=1, progress=False)
    assert backend.backend_of(net.predict(da.from_array(X))) == "dask"


# --------------------------------------------------------------------------- the order


def test_chunk_aware_order_permutes_chunks_then_examples_from_the_seed():
    sizes = (4, 4, 4, 3)
    target = backend.resolve("numpy", "cpu")
    values = np.arange(15, dtype=np.float64)[None, :]
    data = backend.Stream(values, None, target=target, dtype="float64", block_bytes=4 * 8)
    assert data.chunk_sizes == sizes

    def epoch(seed, batch_size=4):
        order = data.order(backend.HostRandom(seed))
        with data.batches(batch_size, order) as batches:
            parts = [backend.to_numpy(Xb)[0].astype(int) for Xb, _ in batches]
        return order, parts

    order, parts = epoch(5)
    assert sorted(order.chunks.tolist()) == [0, 1, 2, 3]
    rng = np.random.default_rng(5)
    chunks = rng.permutation(4)
    expected = np.concatenate([4 * c + rng.permutation(sizes[c]) for c in chunks])
    np.testing.assert_array_equal(np.concatenate(parts), expected)
    assert [len(p) for p in parts] == [4, 4, 4, 3]
    segments = np.split(expected, np.cumsum([sizes[c] for c in chunks])[:-1])
    for c, seg in zip(chunks, segments, strict=True):  # a chunk's examples stay together
        assert sorted(seg.tolist()) == list(range(4 * c, 4 * c + sizes[c]))
    assert np.array_equal(np.concatenate(epoch(5)[1]), expected)  # the same seed, the same
    assert not np.array_equal(np.concatenate(epoch(6)[1]), expected)
    one = backend.HostRandom(7).chunked_permutation([15])
    np.testing.assert_array_equal(one[1][0], np.random.default_rng(7).permutation(15))


def test_in_order_batches_cross_chunk_ends():
    values = np.arange(10.0)[None, :]
    data = backend.Stream(values, values * 2, target=backend.resolve("numpy", "cpu"),
                          dtype="float32", block_bytes=3 * 8)
    assert data.chunk_sizes == (3, 3, 3, 1)
    with data.batches(4) as batches:
        got = [(backend.to_numpy(Xb), backend.to_numpy(Yb)) for Xb, Yb in batches]
    assert [g[0].tolist() for g in got] == [[[0, 1, 2, 3]], [[4, 5, 6, 7]], [[8, 9]]]
    assert all(g[0].dtype == np.float32 and g[1].dtype == np.float32 for g in got)
    np.testing.assert_array_equal(got[1][1], 2 * got[1][0])


# --------------------------------------------------------------------------- evaluation


def test_predict_on_lazy_input_is_a_host_array_computed_in_batches():
    da = pytest.importorskip("dask.array")
    dask = pytest.importorskip("dask")
    X, Y = _data(m=130)
    net = _net()
    net.fit(X, Y, learning_rate=0.5, iterations=30, progress=False)
    source = Reads(X)
    Xd = da.from_array(source, chunks=(3, 50), asarray=True)
    with dask.config.set(scheduler="synchronous"):
        proba = net.predict_proba(Xd)
        labels = net.predict(Xd, batch_size=32)
    assert type(proba) is np.ndarray and type(labels) is np.ndarray
    # 50 columns at a time against 130 at once: the BLAS may pick other kernels
    # for other widths, so the float64 probabilities agree to rounding, as the
    # streamed costs do; the labels, 0 or 1 on either side of 0.5, exactly
    np.testing.assert_allclose(proba, net.predict_proba(X), rtol=1e-12, atol=0)
    np.testing.assert_array_equal(labels, net.predict(X))
    assert max(shape[1] for shape, _ in source.log) == 50


@pytest.mark.parametrize("output", ["sigmoid", "softmax", "linear"])
def test_score_and_cost_stream_to_the_in_memory_values(tmp_path, output):
    X, Y = _data(m=200)
    n_y = 1
    if output == "softmax":
        Y, n_y = ((X[0] > 0).astype(int) + (X[1] > 0))[None, :], 3  # integer classes
    elif output == "linear":
        Y = X[:1] * 2.0 - X[2:3]
    net = nn.Network([3, 4, n_y], hidden="tanh", output=output, seed=2, dtype="float64")
    net.fit(X, Y, learning_rate=0.05, iterations=20, progress=False)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Y.npy", Y)
    Xm, Ym = nn.open_memmap(tmp_path / "X.npy"), nn.open_memmap(tmp_path / "Y.npy")
    for batch_size in (None, 7, 64):
        assert net.cost(Xm, Ym, batch_size=batch_size) == pytest.approx(net.cost(X, Y),
                                                                        rel=1e-12)
        assert net.score(Xm, Ym, batch_size=batch_size) == pytest.approx(net.score(X, Y),
                                                                         rel=1e-12)
    assert 0.0 < net.score(X, Y) < 1.0


# --------------------------------------------------------------------------- rows


def test_examples_as_rows_is_the_transposed_data(tmp_path):
    X, Y = _data()
    np.save(tmp_path / "rows.npy", np.ascontiguousarray(X.T))
    np.save(tmp_path / "y.npy", Y[0])
    rows, y = nn.open_memmap(tmp_path / "rows.npy"), nn.open_memmap(tmp_path / "y.npy")
    streamed, in_memory, ref_net = _net(), _net(), _net()
    hist = streamed.fit(rows, y, examples_as_rows=True, **TRAIN)
    hist_mem = in_memory.fit(X.T, Y[0], examples_as_rows=True, **TRAIN)
    ref_hist = ref_net.fit(X, Y, **TRAIN)
    _assert_same_run(streamed, hist, ref_net, ref_hist)
    _assert_same_run(in_memory, hist_mem, ref_net, ref_hist)
    # labels: the same network (bits checked above), 0 or 1 on either side of 0.5
    np.testing.assert_array_equal(streamed.predict(rows, examples_as_rows=True),
                                  ref_net.predict(X))
    assert streamed.cost(rows, y, examples_as_rows=True) == pytest.approx(ref_net.cost(X, Y),
                                                                          rel=1e-12)
    with pytest.raises(ValueError, match=r"has 150 features .* n_x=3 \(stored with examples "
                                         r"as rows\? pass examples_as_rows=True\)"):
        _net().fit(rows, y, batch_size=8, epochs=1)
    with pytest.raises(TypeError, match="examples_as_rows must be True or False, got 'yes'"):
        _net().fit(rows, y, batch_size=8, epochs=1, examples_as_rows="yes")


# --------------------------------------------------------------------------- errors, threads


@pytest.mark.parametrize("what", ["X", "Y"])
def test_streamed_float64_beyond_float32s_range_is_an_overflow_not_nan(tmp_path, what):
    X, Y = _data(m=40, n_x=2)
    Y = Y * 3.0  # a linear output's targets
    (X if what == "X" else Y)[0, 33] = 1e39  # finite in float64, inf in float32
    np.save(tmp_path / "X.npy", X)
    net = nn.Network([2, 3, 1], output="linear", seed=1)  # float32
    overflow = (rf"{what} has values beyond float32's range \(\|x\| > 3.403e\+38\): it "
                rf"overflows float32 .*\(in a batch drawn from examples 0\.\.39 of the stream\)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's cast warning stays inside
        with pytest.raises(backend.StreamDataError, match=overflow):
            net.fit(nn.open_memmap(tmp_path / "X.npy"), Y, batch_size=40, epochs=1,
                    progress=False)
        if what == "X":
            with pytest.raises(backend.StreamDataError, match=r"X has values beyond float32's "
                               r"range .*\(in examples 0\.\.39 of the stream\)"):
                net.predict(nn.open_memmap(tmp_path / "X.npy"), batch_size=7)
    (X if what == "X" else Y)[0, 33] = np.inf  # inf in the data itself: named as such
    np.save(tmp_path / "X.npy", X)
    with pytest.raises(backend.StreamDataError, match=f"{what} contains NaN or inf values"):
        net.fit(nn.open_memmap(tmp_path / "X.npy"), Y, batch_size=40, epochs=1, progress=False)


def test_bad_streamed_input_is_refused_naming_it_and_nothing_changes(tmp_path):
    X, Y = _data(m=100)
    bad = X.copy()
    bad[1, 73] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    np.save(tmp_path / "Y.npy", Y)
    np.save(tmp_path / "Y3.npy", Y * 3)
    net = _net()
    before = _params(net)
    Ym = nn.open_memmap(tmp_path / "Y.npy")
    with pytest.raises(backend.StreamDataError,
                       match=r"X contains NaN or inf values \(in a batch drawn from examples "
                             r"0\.\.99 of the stream\)"):
        net.fit(nn.open_memmap(tmp_path / "bad.npy"), Ym, **TRAIN)
    with pytest.raises(ValueError, match="Y must hold only the labels 0 and 1"):
        net.fit(X.view(np.memmap), nn.open_memmap(tmp_path / "Y3.npy"), **TRAIN)
    with pytest.raises(ValueError, match=r"Y has 99 examples but X has 100"):
        net.fit(X.view(np.memmap), Y[:, :99], **TRAIN)
    with pytest.raises(ValueError, match=r"Y \(2, 100\) has 2 values per example but must "
                                         r"have n\[L\]=1"):
        net.fit(X.view(np.memmap), np.vstack([Y, Y]), **TRAIN)
    with pytest.raises(TypeError, match="X must be a real numeric array, got dtype complex"):
        net.fit(X.astype(complex).view(np.memmap), Y, **TRAIN)
    for k, v in before.items():
        np.testing.assert_array_equal(_params(net)[k], v, err_msg=k)
    assert net.history.costs == [] and not _prefetch_threads()


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_the_prefetch_thread_stops_when_training_is_interrupted(error):
    X, Y = _data(m=200)
    seen = []

    def stop(i):
        seen.append(i)
        assert len(_prefetch_threads()) == 1  # reading the next batch meanwhile
        if i == 4:
            raise error("stop")

    net = _net()
    with pytest.raises(error, match="stop"):
        net.fit(X.view(np.memmap), Y, learning_rate=0.1, batch_size=10, epochs=2,
                progress=False, on_iteration=stop)
    assert seen == [0, 1, 2, 3, 4] and not _prefetch_threads()
    assert not np.array_equal(_params(net)["W1"], _params(_net())["W1"])  # kept 5 steps


def test_checkpoint_and_resume_with_streamed_data(tmp_path):
    X, Y = _data()
    np.save(tmp_path / "X.npy", X)
    Xm = nn.open_memmap(tmp_path / "X.npy")
    kw = dict(TRAIN, epochs=4)
    ref_net = _net()
    ref_hist = ref_net.fit(Xm, Y, **kw)
    _net().fit(Xm, Y, **dict(kw, epochs=2), checkpoint=tmp_path / "c.npz", checkpoint_every=1)
    again = _net()
    hist = again.fit(Xm, Y, **kw, resume=tmp_path / "c.npz")
    _assert_same_run(again, hist, ref_net, ref_hist)
    with pytest.raises(ValueError, match="another run; it differs in X"):
        _net().fit((X + 1).view(np.memmap), Y, **kw, resume=tmp_path / "c.npz")


# --------------------------------------------------------------------------- memory


MEMORY_RUN = textwrap.dedent("""
    import json, sys
    import numpy as np
    import nnarray as nn

    def anon():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024

    path, m, n_x = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(m, n_x))
    rng = np.random.default_rng(0)
    for a in range(0, m, 8192):
        out[a:a + 8192] = rng.normal(size=(min(8192, m - a), n_x))
    out.flush()
    del out
    X = nn.open_memmap(path)
    Y = (X[:, 0] > 0).astype(np.float32)  # one label per example: m floats in memory
    net = nn.Network([n_x, 16, 1], seed=1)
    start = peak = anon()

    def sample(i):
        global peak
        peak = max(peak, anon())

    hist = net.fit(X, Y, learning_rate=0.01, batch_size=1024, epochs=1, progress=False,
                   examples_as_rows=True, on_iteration=sample)
    sample(-1)
    print(json.dumps({"grew": peak - start, "bytes": X.nbytes, "cost": hist.costs[0]}))
""")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_training_from_a_memmap_larger_than_what_it_holds(tmp_path):
    """A 256 MB float32 .npy trained for an epoch grows the process's
    anonymous memory (what is not the file's page cache) by a few blocks
    and batches, not by the file (a float64 copy would be twice its size)."""
    m, n_x = 2**18, 256
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, PYTHONPATH=path)
    proc = subprocess.run([sys.executable, "-c", MEMORY_RUN, str(tmp_path / "X.npy"), str(m),
                           str(n_x)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"RssAnon grew by {result['grew'] / 2**20:.1f} MiB while training on "
          f"{result['bytes'] / 2**20:.0f} MiB")
    assert result["bytes"] == m * n_x * 4
    assert np.isfinite(result["cost"])
    assert result["grew"] < result["bytes"] / 4


# --------------------------------------------------------------------------- command


def _run_cli(*args, cwd):
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.run([sys.executable, "-m", "nnarray", *args], capture_output=True,
                          text=True, cwd=cwd, env={"PATH": "", "PYTHONPATH": path})


def test_command_trains_streamed_data(tmp_path):
    X, Y = _data(m=400)
    _savez_stored(tmp_path / "cols.npz", X=X.astype(np.float32), Y=Y[0])
    np.save(tmp_path / "rows.npy", np.column_stack([X.T, Y[0]]))
    common = ["--layers", "3,6,1", "--batch-size", "32", "--epochs", "3", "--device", "cpu",
              "--learning-rate", "0.1", "--quiet"]
    cols = _run_cli("train", "--data", "cols.npz", *common, "--save", "m.npz", cwd=tmp_path)
    assert cols.returncode == 0, cols.stderr
    assert "3 epochs of batches of 32 in" in cols.stdout and "float32" in cols.stdout
    rows = _run_cli("train", "--data", "rows.npy", "--examples-as-rows", *common, cwd=tmp_path)
    assert rows.returncode == 0, rows.stderr
    train_line = [line for line in cols.stdout.splitlines() if line.startswith("train")]
    assert train_line == [line for line in rows.stdout.splitlines() if line.startswith("train")]
    ev = _run_cli("evaluate", "m.npz", "--data", "rows.npy", "--examples-as-rows",
                  cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr
    assert [line for line in ev.stdout.splitlines() if line.startswith("train")] == train_line
    X7, Y7 = cli.open_data(tmp_path / "rows.npy", examples_as_rows=True)
    assert isinstance(X7, np.memmap) and X7.shape == (400, 3) and Y7.shape == (400,)


@pytest.mark.parametrize("extra, message", [
    (["--data", "cols.npz"], "--data is streamed by mini-batches: give --batch-size"),
    (["--data", "comp.npz", "--batch-size", "8", "--epochs", "1"], "stores 'X' compressed"),
    (["--data", "cols.npz", "--batch-size", "8"], "--batch-size and --epochs go together"),
    (["--dataset", "planar", "--examples-as-rows"], "--examples-as-rows applies to --data"),
    (["--data", "only.npz", "--batch-size", "8", "--epochs", "1"],
     r"must hold arrays X and Y, it holds \['A'\]"),
])
def test_command_refuses_bad_data_options(tmp_path, extra, message):
    X, Y = _data(m=20)
    _savez_stored(tmp_path / "cols.npz", X=X, Y=Y)
    _savez_stored(tmp_path / "only.npz", A=X)
    np.savez_compressed(tmp_path / "comp.npz", X=X, Y=Y)
    proc = _run_cli("train", *extra, "--quiet", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("nnarray: error: ")
    assert re.search(message, proc.stderr), proc.stderr


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score", "cost"])
def test_streamed_evaluation_refuses_a_bad_batch_size(tmp_path, method, batch_size):
    """A batch size of 0 used to loop forever, growing memory, on streamed data."""
    path = tmp_path / "d.npz"
    np.savez(path, X=np.ones((3, 100)), Y=np.zeros((1, 100)))
    arrays = nn.io.open_arrays(path)
    net = nn.Network([3, 4, 1], seed=1)
    args = (arrays["X"],) if method.startswith("predict") else (arrays["X"], arrays["Y"])
    with pytest.raises((TypeError, ValueError), match="batch_size must be an integer >= 1"):
        getattr(net, method)(*args, batch_size=batch_size)
