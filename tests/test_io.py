"""Model files as untrusted input: bounded, metadata-first loading, no
unpickling ever, and saves that readers never see half-written.

``build_zip`` writes zip files byte by byte, so that the tests (and the
fuzzing in test_reliability) can make what ``np.savez`` never would:
deflated entries, zip64 size fields that lie, headers with no data behind them.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import signal
import stat
import struct
import subprocess
import sys
import textwrap
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import nnarray as nn
from nnarray import io as nnio

# ---------------------------------------------------------------------- #
# Writing zips by hand
# ---------------------------------------------------------------------- #


@dataclass
class Entry:
    """One zip entry as it will be written: ``stored`` is the bytes in the
    file (deflated when ``method`` is 8); ``size`` and ``crc`` describe the
    data after inflating. ``zip64`` puts the sizes in zip64 extra fields (in
    the local header and the central directory); ``claimed`` overrides the
    sizes the directory gives (a lie), ``local_claimed`` the local header's."""

    name: str
    stored: bytes
    size: int
    crc: int
    method: int = 0
    zip64: bool = False
    claimed: tuple[int, int] | None = None  # (compressed, uncompressed)
    local_claimed: tuple[int, int] | None = None


def stored(name: str, data: bytes, **kwargs) -> Entry:
    return Entry(name, data, len(data), zlib.crc32(data), **kwargs)


def deflated(name: str, data: bytes, **kwargs) -> Entry:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return Entry(name, c.compress(data) + c.flush(), len(data), zlib.crc32(data), method=8,
                 **kwargs)


def _sizes_fields(csize: int, usize: int, zip64: bool) -> tuple[int, int, bytes]:
    """The 32-bit size fields and the extra field; zip64 when asked or needed."""
    if zip64 or max(csize, usize) >= 0xFFFFFFFF:
        return 0xFFFFFFFF, 0xFFFFFFFF, struct.pack("<2H2Q", 1, 16, usize, csize)
    return csize, usize, b""


def local_record(e: Entry) -> bytes:
    """The entry's local header, name, extra field and stored bytes."""
    name = e.name.encode()
    csize, usize = e.local_claimed or e.claimed or (len(e.stored), e.size)
    lcs, lus, extra = _sizes_fields(csize, usize, e.zip64)
    return struct.pack("<4s5H3L2H", b"PK\x03\x04", 45, 0, e.method, 0, 33, e.crc, lcs, lus,
                       len(name), len(extra)) + name + extra + e.stored


def central_record(e: Entry, offset: int) -> bytes:
    """The entry's central directory record, pointing at ``offset``."""
    name = e.name.encode()
    csize, usize = e.claimed or (len(e.stored), e.size)
    ccs, cus, extra = _sizes_fields(csize, usize, e.zip64)
    if extra:  # the header offset in the zip64 field too, as a zip64 writer may
        extra = struct.pack("<2H3Q", 1, 24, usize, csize, offset)
    return struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 45, 45, 0, e.method, 0, 33, e.crc,
                       ccs, cus, len(name), len(extra), 0, 0, 0, 0x1800000,
                       0xFFFFFFFF if extra else offset) + name + extra


def end_record(count: int, central: bytes, start: int) -> bytes:
    return struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), start, 0)


def build_zip(entries: list[Entry]) -> bytes:
    """A zip archive of ``entries`` in order, exactly as described."""
    out, central = bytearray(), bytearray()
    for e in entries:
        central += central_record(e, len(out))
        out += local_record(e)
    return bytes(out + central + end_record(len(entries), central, len(out)))


def npy_header(shape: tuple[int, ...], dtype: str = "<f4", fortran: bool = False) -> bytes:
    """The bytes of a .npy 1.0 header (no data)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": fortran, "shape": shape})
    return buf.getvalue()


def npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=a.dtype.hasobject)
    return buf.getvalue()


def meta_bytes(layer_dims=(3, 2, 1), dtype="float32", **extra) -> bytes:
    meta = {"class": "Network", "layer_dims": list(layer_dims), "hidden": "relu",
            "output": "sigmoid", "dtype": dtype, "format": nnio.FORMAT,
            "format_version": nnio.FORMAT_VERSION, **extra}
    return npy(np.frombuffer(json.dumps(meta).encode(), np.uint8))


def model_entries(layer_dims=(3, 2, 1), dtype="float32", seed=1,
                  headers_only=()) -> dict[str, bytes]:
    """A valid model's entries as .npy bytes, by entry name (only the .npy
    header for the entries named in ``headers_only``)."""
    rng = np.random.default_rng(seed)
    entries = {"__nnarray_meta__.npy": meta_bytes(layer_dims, dtype)}
    for l in range(1, len(layer_dims)):
        shape = (layer_dims[l], layer_dims[l - 1])
        if f"W{l}" in headers_only:
            entries[f"W{l}.npy"] = npy_header(shape, np.dtype(dtype).str)
        else:
            entries[f"W{l}.npy"] = npy(rng.standard_normal(shape).astype(dtype))
        if f"b{l}" in headers_only:
            entries[f"b{l}.npy"] = npy_header((layer_dims[l], 1), np.dtype(dtype).str)
        else:
            entries[f"b{l}.npy"] = npy(np.zeros((layer_dims[l], 1), dtype))
    return entries


def refused(path: Path, match: str, **kwargs) -> str:
    with pytest.raises(ValueError, match=match) as info:
        nn.load(path, **kwargs) if not kwargs else nnio.load_arrays(path, **kwargs)
    assert str(path) in str(info.value)
    return str(info.value)


def test_build_zip_writes_what_numpy_reads(tmp_path):
    path = tmp_path / "m.npz"
    entries = model_entries()
    path.write_bytes(build_zip([stored(k, v) for k, v in entries.items()]))
    net = nn.load(path)
    with np.load(path) as f:  # NumPy agrees on every array
        for k, v in net.parameters.items():
            np.testing.assert_array_equal(v, f[k])
    path.write_bytes(build_zip([stored(k, v, zip64=True) for k, v in entries.items()]))
    nn.load(path)  # truthful zip64 sizes are read as well
    with np.load(path) as f:
        np.testing.assert_array_equal(f["W1"], net.parameters["W1"])


# ---------------------------------------------------------------------- #
# What load checks, one refusal at a time
# ---------------------------------------------------------------------- #


def test_compressed_entries_are_refused(tmp_path):
    path = tmp_path / "m.npz"
    for victim in ("W1.npy", "__nnarray_meta__.npy"):
        path.write_bytes(build_zip([(deflated if k == victim else stored)(k, v)
                                    for k, v in model_entries().items()]))
        with np.load(path) as f:  # a valid zip: NumPy reads it
            f["W1"]
        refused(path, f"compressed entry '{victim}'")
    buf = io.BytesIO()
    nn.Network([3, 2, 1]).save(buf_path := tmp_path / "plain.npz")
    with np.load(buf_path) as f:
        np.savez_compressed(buf, **dict(f))
    path.write_bytes(buf.getvalue())
    refused(path, "compressed entry")


def test_entries_must_match_the_metadata(tmp_path):
    path = tmp_path / "m.npz"
    good = model_entries()

    def write(**changes):
        entries = {**good, **changes}
        path.write_bytes(build_zip([stored(k, v) for k, v in entries.items() if v is not None]))

    write(**{"extra.npy": npy(np.ones(3))})
    refused(path, r"unexpected entries \['extra.npy'\]")
    write(**{"b2.npy": None})
    refused(path, r"missing \['b2'\]")
    write(**{"W1.npy": npy(np.ones((2, 3), ">f4"))})  # another byte order is the same floats
    np.testing.assert_array_equal(nn.load(path).parameters["W1"], np.ones((2, 3)))
    write(**{"W1.npy": npy(np.asfortranarray(np.arange(6.0, dtype=np.float32).reshape(2, 3)))})
    np.testing.assert_array_equal(nn.load(path).parameters["W1"], np.arange(6).reshape(2, 3))
    write(**{"W1.npy": npy(np.ones((2, 3), np.float16))})
    refused(path, "W1 has dtype float16, the metadata says float32")
    write(**{"W1.npy": npy(np.ones((2, 3), np.int32))})
    refused(path, "W1 has dtype int32")
    write(**{"W1.npy": npy(np.ones((3, 2), np.float32))})
    refused(path, r"W1 must have shape \(n\[1\], n\[0\]\) = \(2, 3\).*the file has \(3, 2\)")
    write(**{"W1.npy": npy(np.ones((2, 3), np.float32))[:-4]})  # entry shorter than its header
    refused(path, "entry 'W1.npy' of 148 bytes where its header and the metadata imply 152")
    write(**{"W1.npy": npy(np.ones((2, 3), np.float32)) + b"\0" * 8})
    refused(path, "entry 'W1.npy' of 160 bytes where its header")
    write(**{"__nnarray_meta__.npy": meta_bytes(layer_dims=(3, 2, 0))})
    refused(path, r"layer_dims\[2\] must be a positive integer, got 0")
    write(**{"__nnarray_meta__.npy": meta_bytes(layer_dims=(3, True))})
    refused(path, r"layer_dims\[1\] must be a positive integer, got True")
    write(**{"__nnarray_meta__.npy": meta_bytes(dtype="float16")})
    refused(path, r"dtype must be one of \['float32', 'float64'\], got 'float16'")
    write(**{"__nnarray_meta__.npy": npy(np.zeros(4, np.float32))})
    refused(path, "corrupt nnarray metadata: expected a 1-D uint8 array")
    write(**{"__nnarray_meta__.npy": None})
    refused(path, "no nnarray metadata")


def test_the_crc_is_checked(tmp_path):
    path = tmp_path / "m.npz"
    entries = [stored(k, v) for k, v in model_entries().items()]
    entries[1].crc ^= 1
    path.write_bytes(build_zip(entries))
    refused(path, "Bad CRC-32")


def test_sizes_that_lie_are_refused(tmp_path):
    path = tmp_path / "m.npz"
    good = model_entries()
    for zip64 in (False, True):
        for claimed, local, message in [
            ((10**6, 10**6), None, "ends at byte"),  # the data would run past the end
            ((152, 160), None, "sizes disagree"),
            (None, (100, 100), "local header disagrees"),
        ]:
            path.write_bytes(build_zip([
                stored(k, v, zip64=zip64, claimed=claimed if k == "W1.npy" else None,
                       local_claimed=local if k == "W1.npy" else None)
                for k, v in good.items()]))
            refused(path, message)


def test_overlapping_entries_are_refused(tmp_path):
    """An entry whose data holds another entry whole (the directory points
    into it): the way a small zip is made to be read many times over."""
    path = tmp_path / "m.npz"
    entries = model_entries((100, 2, 1))
    inner = local_record(stored("b1.npy", entries["b1.npy"]))
    w1 = entries["W1.npy"]
    data_at = len(w1) - 800  # W1 is (2, 100) float32: 800 bytes after its header
    w1 = w1[:data_at] + inner + bytes(800 - len(inner))
    outer = stored("W1.npy", w1)
    rest = [stored(k, entries[k]) for k in ("__nnarray_meta__.npy", "W2.npy", "b2.npy")]
    out = local_record(outer)
    inner_at = len(out) - len(w1) + data_at
    central = central_record(outer, 0) + central_record(stored("b1.npy", entries["b1.npy"]),
                                                        inner_at)
    for e in rest:
        central += central_record(e, len(out))
        out += local_record(e)
    path.write_bytes(out + central + end_record(5, central, len(out)))
    with zipfile.ZipFile(path) as z:  # a valid zip to the zip reader, b1 read from inside W1
        assert z.read("b1.npy") == entries["b1.npy"]
    refused(path, "entries 'W1.npy' and 'b1.npy' that overlap")


def test_the_zip_directory_is_bounded(tmp_path):
    path = tmp_path / "m.npz"
    many = [stored(f"x{i}.npy", b"") for i in range(nnio.MAX_ENTRIES + 1)]
    path.write_bytes(build_zip(many))
    refused(path, f"has {nnio.MAX_ENTRIES + 1:,} entries")
    # a directory whose records are much longer than a model file's
    path.write_bytes(build_zip([stored("W1.npy" + "x" * 5000, b"")]))
    refused(path, "in 5,052 bytes")


def test_max_bytes_bounds_what_the_metadata_may_ask_for(tmp_path):
    path = tmp_path / "m.npz"
    nn.Network([300, 200, 1], seed=1).save(path)  # 60,200 + 201 floats
    total = (300 * 200 + 200 + 200 + 1) * 4
    arrays, _ = nnio.load_arrays(path, max_bytes=total)
    assert arrays["W1"].shape == (200, 300)
    refused(path, f"asks for {total:,} bytes of arrays .*more than max_bytes={total - 1:,}",
            max_bytes=total - 1)
    assert nnio.DEFAULT_MAX_BYTES == 4 * 2**30
    with pytest.raises(TypeError, match="max_bytes must be an integer number of bytes, got 1.5"):
        nnio.load_arrays(path, max_bytes=1.5)
    with pytest.raises(ValueError, match="max_bytes must be >= 0, got -1"):
        nnio.load_arrays(path, max_bytes=-1)


def test_load_reads_headers_before_any_data(tmp_path, monkeypatch):
    """With a wrong last entry, no array data is read at all (only headers)."""
    path = tmp_path / "m.npz"
    entries = model_entries((3, 2, 1))
    entries["b2.npy"] = npy(np.zeros((2, 1), np.float32))  # the metadata says (1, 1)
    path.write_bytes(build_zip([stored(k, v) for k, v in entries.items()]))
    reads = []
    original = nnio.model._read_array
    monkeypatch.setattr(nnio.model, "_read_array", lambda *a: reads.append(a) or original(*a))
    refused(path, r"b2 must have shape")
    assert reads == []


# ---------------------------------------------------------------------- #
# Bombs: memory stays flat while they are refused
# ---------------------------------------------------------------------- #

_CHILD = textwrap.dedent("""
    import json, resource, sys
    import nnarray as nn
    path, max_bytes = sys.argv[1], int(sys.argv[2])
    try:
        nn.io.load_arrays(path, max_bytes=max_bytes)
        outcome = "loaded"
    except ValueError as exc:
        outcome = str(exc)
    print(json.dumps({"kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "outcome": outcome}))
""")


def _peak_rss_mib(path: Path, max_bytes: int = nnio.DEFAULT_MAX_BYTES) -> tuple[float, str]:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(max_bytes)],
                         capture_output=True, text=True, timeout=300, check=True)
    result = json.loads(out.stdout)
    scale = 1 / 2**20 if sys.platform == "darwin" else 1 / 2**10  # bytes there, KiB here
    return result["kib"] * scale, result["outcome"]


@pytest.fixture(scope="module")
def baseline_mib(tmp_path_factory):
    """Peak RSS of a child that imports nnarray and loads a small valid model."""
    path = tmp_path_factory.mktemp("rss") / "small.npz"
    nn.Network([3, 2, 1]).save(path)
    mib, outcome = _peak_rss_mib(path)
    assert outcome == "loaded"
    return mib


def deflate_bomb(path: Path, shape=(25_000, 20_000)) -> int:
    """A model file whose W1.npy is deflated: ~1.9 MB that inflates to
    25000 x 20000 float32 (2 GB). Built from one compressed block repeated
    (a full flush makes each copy independent), so no 2 GB is ever made here."""
    header = npy_header(shape)
    nbytes = int(np.prod(shape)) * 4
    block = 1_000_000
    assert nbytes % block == 0
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(header) + c.flush(zlib.Z_FULL_FLUSH)
    piece = c.compress(bytes(block)) + c.flush(zlib.Z_FULL_FLUSH)
    stream = head + piece * (nbytes // block) + c.flush()
    crc = zlib.crc32(header)
    for _ in range(nbytes // block):  # the true CRC, so that the file is a valid zip
        crc = zlib.crc32(bytes(block), crc)
    entries = {k: v for k, v in model_entries((3, 2, 1)).items()}
    bomb = Entry("W1.npy", stream, len(header) + nbytes, crc, method=8,
                 zip64=len(header) + nbytes >= 0xFFFFFFFF)
    path.write_bytes(build_zip([bomb if k == "W1.npy" else stored(k, v)
                                for k, v in entries.items()]))
    return len(header) + nbytes


def test_a_deflate_bomb_is_refused_in_flat_memory(tmp_path, baseline_mib):
    path = tmp_path / "bomb.npz"
    inflated = deflate_bomb(path)
    assert path.stat().st_size < 2_500_000 and inflated > 1_999_000_000
    with zipfile.ZipFile(path) as z:  # what the zip says it holds: 2 GB
        assert z.getinfo("W1.npy").file_size == inflated
        with z.open("W1.npy") as f:  # and it really inflates to the 25000 x 20000 header
            assert np.lib.format.read_magic(f) == (1, 0)
            assert np.lib.format.read_array_header_1_0(f)[0] == (25_000, 20_000)
    mib, outcome = _peak_rss_mib(path)
    assert "compressed entry 'W1.npy'" in outcome
    assert mib - baseline_mib < 100, (mib, baseline_mib)


@pytest.mark.parametrize("zip_claims", ["true sizes", "tens of GB"])
def test_a_header_with_no_data_behind_it_is_refused_in_flat_memory(
        tmp_path, baseline_mib, zip_claims):
    """W1.npy's header claims (100000, 50000) float64 (40 GB); the file is a
    few hundred bytes. The metadata agrees with the header (it is untrusted
    too), so max_bytes is what stops it; raised, the entry's size does."""
    shape = (50_000, 100_000)
    header = npy_header(shape, "<f8")
    nbytes = len(header) + 8 * shape[0] * shape[1]
    entries = model_entries((100_000, 50_000, 1), "float64",
                            headers_only=["W1", "b1", "W2", "b2"])
    assert entries["W1.npy"] == header
    path = tmp_path / "huge.npz"
    claimed = (nbytes, nbytes) if zip_claims == "tens of GB" else None
    path.write_bytes(build_zip([
        stored(k, v, zip64=claimed is not None and k == "W1.npy",
               claimed=claimed if k == "W1.npy" else None)
        for k, v in entries.items()]))
    assert path.stat().st_size < 2000
    mib, outcome = _peak_rss_mib(path)
    assert "bytes of arrays" in outcome and "more than max_bytes=4,294,967,296" in outcome
    assert mib - baseline_mib < 100, (mib, baseline_mib)
    mib, outcome = _peak_rss_mib(path, max_bytes=2**40)
    expected = "ends at byte" if claimed else "entry 'W1.npy' of 128 bytes where its header"
    assert expected in outcome, outcome
    assert mib - baseline_mib < 100, (mib, baseline_mib)


# ---------------------------------------------------------------------- #
# Pickles never run
# ---------------------------------------------------------------------- #


class Payload:
    """Unpickling this creates the folder ``flag``."""

    def __init__(self, flag: Path) -> None:
        self.flag = str(flag)

    def __reduce__(self):
        return (os.mkdir, (self.flag,))


def test_a_pickle_payload_never_runs(tmp_path):
    flag = tmp_path / "unpickled"
    evil = npy(np.array([Payload(flag)], dtype=object))
    # the payload works: NumPy with allow_pickle=True runs it
    np.load(io.BytesIO(evil), allow_pickle=True)
    assert flag.is_dir()
    flag.rmdir()
    path = tmp_path / "evil.npz"
    good = model_entries()
    cases = [
        ("W1 holds Python objects \\(dtype object\\), which would need pickle",
         build_zip([stored(k, evil if k == "W1.npy" else v) for k, v in good.items()])),
        ("corrupt nnarray metadata: expected a 1-D uint8 array",
         build_zip([stored(k, evil if k == "__nnarray_meta__.npy" else v)
                    for k, v in good.items()])),
        ("not a readable nnarray model file", evil),  # a bare .npy holding a pickle
        ("no nnarray metadata", None),  # a foreign .npz of them
    ]
    for message, data in cases:
        if data is None:
            np.savez(path, W1=np.array([Payload(flag)], dtype=object))
        else:
            path.write_bytes(data)
        with pytest.raises(ValueError) as info:
            nn.load(path)
        assert not flag.exists(), f"the pickle ran; the load said: {info.value}"
        assert re.search(message, str(info.value)), str(info.value)


# ---------------------------------------------------------------------- #
# Saving: atomic, concurrent writers, killed writers
# ---------------------------------------------------------------------- #

_WRITER = textwrap.dedent("""
    import os
    import sys
    import numpy as np
    import nnarray as nn
    path, writer, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    stop = sys.argv[4] if len(sys.argv) > 4 else None
    for i in range(count):
        if i and stop is not None and os.path.exists(stop):  # each writer saves once at least
            break
        v = float(writer * 10_000 + i)  # every parameter of one save holds the same value
        init = {"W1": np.full((20, 30), v), "b1": np.full((20, 1), v),
                "W2": np.full((1, 20), v), "b2": np.full((1, 1), v)}
        nn.Network([30, 20, 1], init=init, dtype="float64").save(path)
    print(v)  # the writer's last save
""")


def _one_value(net) -> float:
    values = {float(v) for p in net.parameters.values() for v in np.unique(p)}
    assert len(values) == 1, f"a torn file: parameters from several saves {sorted(values)}"
    return values.pop()


def test_concurrent_saves_never_show_a_torn_file(tmp_path):
    path = tmp_path / "model.npz"
    subprocess.run([sys.executable, "-c", _WRITER, str(path), "9", "1"], check=True)
    count, stop = 10_000, tmp_path / "stop"  # the writers save until the reader has seen enough
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(w), str(count),
                                 str(stop)], stdout=subprocess.PIPE, text=True) for w in (1, 2)]
    seen = set()
    deadline = time.monotonic() + 120
    # however slowly the writers start on a loaded machine, the reader waits for their saves
    while (len(seen) <= 20 and any(w.poll() is None for w in writers)
           and time.monotonic() < deadline):
        seen.add(_one_value(nn.load(path)))
    stop.touch()
    lasts = {float(w.communicate(timeout=60)[0]) for w in writers}
    assert [w.returncode for w in writers] == [0, 0]
    stop.unlink()
    written = {w * 10_000.0 + i for w in (1, 2) for i in range(count)}
    assert len(seen) > 20, seen  # the reader really overlapped the writers
    assert seen <= {90_000.0} | written
    assert lasts <= written
    assert _one_value(nn.load(path)) in lasts  # one writer's last save, whole
    subprocess.run([sys.executable, "-c", _WRITER, str(path), "3", "1"], check=True)
    assert _one_value(nn.load(path)) == 30_000.0  # the last writer wins
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]  # no temp files left


def test_the_temporary_file_is_unique_per_writer(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    seen = []
    original = np.savez

    def spy(f, **arrays):
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        original(f, **arrays)

    monkeypatch.setattr(np, "savez", spy)
    nn.Network([2, 1]).save(path)
    nn.Network([2, 1]).save(path)
    (first,), (second,) = ([n for n in names if n.startswith(".")] for names in seen)
    assert first.startswith(f".model.npz.{os.getpid()}.") and first.endswith(".tmp")
    assert second.startswith(f".model.npz.{os.getpid()}.") and second != first


@pytest.mark.parametrize("name", ["m" * 251 + ".npz", "é" * 125 + ".npz", "m" * 225 + ".npz"])
def test_a_name_as_long_as_the_file_system_allows_is_saved(tmp_path, name, monkeypatch):
    path = tmp_path / name  # 255 bytes (the limit), 254 bytes in UTF-8, 229
    seen = []
    original = np.savez

    def spy(f, **arrays):
        seen.append([p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")])
        original(f, **arrays)

    monkeypatch.setattr(np, "savez", spy)
    network = nn.Network([2, 3, 1], seed=1)
    network.save(path)
    [[temporary]] = seen
    assert len(os.fsencode(temporary)) <= 255
    assert temporary.startswith(f".{name[:20]}") and f".{os.getpid()}." in temporary
    # a dead writer's temporary file (no process has pid 999999999)
    dead = tmp_path / temporary.replace(f".{os.getpid()}.", ".999999999.")
    dead.write_bytes(b"half a file")
    nn.Network([2, 3, 1], seed=2).save(path)  # removes the dead writer's file
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    for k, v in nn.load(path).parameters.items():
        np.testing.assert_array_equal(v, nn.Network([2, 3, 1], seed=2).parameters[k])


def test_two_long_names_that_share_their_start_keep_their_temporaries_apart():
    a, b = ("x" * 240 + tail for tail in ("a.npz", "b.npz"))
    assert nnio.writes._temporary_prefix(a) != nnio.writes._temporary_prefix(b)
    assert nnio.writes._temporary_prefix("model.npz") == ".model.npz."


_KILLED = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import nnarray as nn
    def die(f, **arrays):  # the disk is half written when the process is killed
        f.write(b"PK\\x03\\x04 half a file")
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    np.savez = die
    nn.Network([2, 3, 1], seed=2).save(sys.argv[1])
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_killed_writer_leaves_the_old_file_and_a_harmless_temp(tmp_path):
    path = tmp_path / "model.npz"
    nn.Network([2, 3, 1], seed=1).save(path)
    old = nn.load(path).parameters
    done = subprocess.run([sys.executable, "-c", _KILLED, str(path)])
    assert done.returncode == -signal.SIGKILL
    stale = [p.name for p in tmp_path.iterdir() if p.name != "model.npz"]
    assert len(stale) == 1 and stale[0].startswith(".model.npz.") and stale[0].endswith(".tmp")
    for k, v in nn.load(path).parameters.items():  # the old file, whole
        np.testing.assert_array_equal(v, old[k])
    nn.Network([2, 3, 1], seed=3).save(path)  # a later save is not disturbed by the stale temp
    new = nn.Network([2, 3, 1], seed=3).parameters
    for k, v in nn.load(path).parameters.items():
        np.testing.assert_array_equal(v, new[k])


# ---------------------------------------------------------------------- #
# Saving: permissions, links, errors naming the path written
# ---------------------------------------------------------------------- #

posix_modes = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _same_parameters(path: Path, net) -> None:
    for k, v in nn.load(path).parameters.items():
        np.testing.assert_array_equal(v, net.parameters[k], err_msg=k)


@posix_modes
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_a_new_file_gets_the_mode_numpy_would_give_it(tmp_path, umask):
    old = os.umask(umask)
    try:
        nn.Network([2, 1]).save(tmp_path / "m.npz")
        np.savez(tmp_path / "numpy.npz", a=np.ones(1))
    finally:
        os.umask(old)
    assert _mode(tmp_path / "m.npz") == 0o666 & ~umask == _mode(tmp_path / "numpy.npz")


@posix_modes
def test_an_overwritten_file_keeps_its_mode(tmp_path):
    path = tmp_path / "m.npz"
    nn.Network([2, 1], seed=1).save(path)
    for i, mode in enumerate((0o644, 0o640, 0o604, 0o600)):
        path.chmod(mode)
        net = nn.Network([2, 1], seed=2 + i)
        net.save(path)
        assert _mode(path) == mode
        _same_parameters(path, net)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_saving_through_a_link_replaces_its_target_and_keeps_the_link(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    target = models / "model.npz"
    nn.Network([2, 3, 1], seed=1).save(target)
    target.chmod(0o644)
    (tmp_path / "latest.npz").symlink_to(target)
    (tmp_path / "relative.npz").symlink_to(Path("models") / "model.npz")
    for i, link in enumerate([tmp_path / "latest.npz", tmp_path / "relative.npz"]):
        net = nn.Network([2, 3, 1], seed=2 + i)
        net.save(link)
        assert link.is_symlink() and link.resolve() == target.resolve()
        _same_parameters(target, net)
        if os.name == "posix":
            assert _mode(target) == 0o644
    assert sorted(p.name for p in models.iterdir()) == ["model.npz"]  # no temporary left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.npz", "models",
                                                          "relative.npz"]
    (tmp_path / "next.npz").symlink_to(models / "new.npz")  # a link to no file yet
    net = nn.Network([2, 1], seed=5)
    net.save(tmp_path / "next.npz")
    assert (tmp_path / "next.npz").is_symlink()
    _same_parameters(models / "new.npz", net)


def test_save_errors_name_the_path_never_the_temporary_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    net = nn.Network([2, 3, 1], seed=1)
    with pytest.raises(FileNotFoundError,
                       match=r"^cannot write 'out/model\.npz': folder 'out' does not exist$"):
        net.save("out/model.npz")
    Path("folder.npz").mkdir()
    with pytest.raises(IsADirectoryError, match=r"^cannot write 'folder\.npz': it is a folder$"):
        net.save("folder.npz")
    Path("notes").write_text("a file")
    with pytest.raises(NotADirectoryError,
                       match=r"^cannot write 'notes/m\.npz': 'notes' is not a folder$"):
        net.save("notes/m.npz")
    net.save("model.npz")
    before = Path("model.npz").read_bytes()

    def full(f, **arrays):  # the disk fills while the temporary file is written
        f.write(b"PK\x03\x04 part of a file")
        raise OSError(errno.ENOSPC, "No space left on device", ".model.npz.1.abc.tmp")

    monkeypatch.setattr(np, "savez", full)
    with pytest.raises(OSError, match=r"^cannot write 'model\.npz': No space left on device "
                                      r"\(any file there is unchanged\)$") as info:
        nn.Network([2, 3, 1], seed=2).save("model.npz")
    assert info.value.errno == errno.ENOSPC
    assert Path("model.npz").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.npz", "model.npz", "notes"]


def test_check_writable_names_the_argument_and_the_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert nnio.check_writable("m.npz", "--save") is None
    nn.Network([2, 1]).save("m.npz")
    assert nnio.check_writable("m.npz", "--save") is None  # an existing file is replaced
    with pytest.raises(FileNotFoundError, match=r"^--save 'out/m\.npz' cannot be written: "
                                                r"folder 'out' does not exist$"):
        nnio.check_writable("out/m.npz", "--save")
    Path("runs").mkdir()
    with pytest.raises(IsADirectoryError,
                       match=r"^--checkpoint 'runs' cannot be written: it is a folder$"):
        nnio.check_writable("runs", "--checkpoint")
    if hasattr(os, "symlink"):
        Path("link.npz").symlink_to(tmp_path / "gone" / "m.npz")
        with pytest.raises(FileNotFoundError, match=r"^--save 'link\.npz' cannot be written: "
                                                    r"it links to '.*m\.npz', and folder "
                                                    r"'.*gone' does not exist$"):
            nnio.check_writable("link.npz", "--save")
    net = nn.Network([2, 1])
    monkeypatch.setattr(os, "access", lambda path, mode, **kwargs: False)  # a read-only folder
    with pytest.raises(PermissionError, match=r"^--save 'm\.npz' cannot be written: "
                                              r"folder '\.' is not writable$"):
        nnio.check_writable("m.npz", "--save")
    with pytest.raises(PermissionError,
                       match=r"^cannot write 'm\.npz': folder '\.' is not writable$"):
        net.save("m.npz")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs POSIX permissions, which root overrides")
def test_a_read_only_folder_is_refused_before_writing(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match="folder '.*locked' is not writable"):
            nnio.check_writable(folder / "m.npz", "--save")
        with pytest.raises(PermissionError, match="folder '.*locked' is not writable"):
            nn.Network([2, 1]).save(folder / "m.npz")
    finally:
        folder.chmod(0o755)
