"""Hostile data and model files: zip directories that cost quadratic time
or lie about their size, files that are not what their name says, pickles
behind every reader (and NumPy's advice to allow them never passed on),
metadata integers too long to convert."""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

import nnarray as nn
from nnarray import cli, datasets
from nnarray import io as nnio

from .test_io import build_zip, central_record, end_record, local_record, model_entries, stored

# ---------------------------------------------------------------------- #
# Counting the zip reader's work
# ---------------------------------------------------------------------- #


class ZipWork:
    """Counts the zip records parsed (``ZipInfo`` objects made, by nnarray's
    directory check and by the zip reader) and the zip readers opened."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.records = self.readers = 0
        work = self

        class CountedInfo(zipfile.ZipInfo):
            def __init__(self, *args, **kwargs):
                work.records += 1
                super().__init__(*args, **kwargs)

        class CountedZipFile(zipfile.ZipFile):
            def __init__(self, *args, **kwargs):
                work.readers += 1
                super().__init__(*args, **kwargs)

        monkeypatch.setattr(zipfile, "ZipInfo", CountedInfo)
        monkeypatch.setattr(zipfile, "ZipFile", CountedZipFile)


def directory_of(names: list[str], declared: int | None = None) -> bytes:
    """A zip of empty stored entries ``names`` whose end record declares
    ``declared`` entries (default: as many as there are)."""
    out, central = bytearray(), bytearray()
    for name in names:
        e = stored(name, b"")
        central += central_record(e, len(out))
        out += local_record(e)
    count = len(names) if declared is None else declared
    return bytes(out + central + end_record(count, central, len(out)))


# ---------------------------------------------------------------------- #
# The zip directory: read once, as declared
# ---------------------------------------------------------------------- #


def test_a_directory_of_repeated_names_is_refused_in_one_pass(tmp_path, monkeypatch):
    """MAX_ENTRIES records, every name twice: refused before the zip reader
    parses a record, each record parsed once (counting each name in the
    whole list would be quadratic)."""
    half = nnio.MAX_ENTRIES // 2
    path = tmp_path / "twice.npz"
    path.write_bytes(directory_of([f"W{i}.npy" for i in range(half)] * 2))
    work = ZipWork(monkeypatch)
    with pytest.raises(ValueError, match=r"twice\.npz' is not a readable nnarray model file: "
                                         r"entries \['W0\.npy', 'W1\.npy', .* appear more "
                                         "than once"):
        nn.load(path)
    assert work.readers == 0 and work.records == 2 * half
    with pytest.raises(ValueError, match="appear more than once"):
        nn.open_arrays(path)
    assert work.readers == 0


@pytest.mark.parametrize("declared, message", [
    (1_000, r"holds more than the 1,000 records its end record declares"),
    (3_100, r"holds 3,000 records where its end record declares 3,100"),
])
def test_a_directory_must_hold_the_records_it_declares(tmp_path, monkeypatch, declared,
                                                       message):
    """3,000 short records under an end record that declares another count:
    the zip reader would parse every record in the directory's bytes,
    whatever the count. Refused after at most the declared records."""
    path = tmp_path / "lies.npz"
    path.write_bytes(directory_of([f"x{i}" for i in range(3_000)], declared))
    with zipfile.ZipFile(path) as z:  # what the zip reader makes of it: every record
        assert len(z.infolist()) == 3_000
    work = ZipWork(monkeypatch)
    with pytest.raises(ValueError, match=message) as info:
        nn.load(path)
    assert str(path) in str(info.value)
    assert work.readers == 0 and work.records <= min(declared, 3_000)
    work.records = 0
    with pytest.raises(ValueError, match=message):
        nn.open_arrays(path)
    assert work.readers == 0 and work.records <= min(declared, 3_000)


def test_a_zip64_record_cannot_raise_the_count_behind_the_end_record(tmp_path, monkeypatch):
    """The zip reader takes the counts of a zip64 record wherever a zip64
    locator precedes the end record, even one that declares 1 entry in 46
    bytes: the check reads the same record, and its count is bounded."""
    names = [f"x{i}" for i in range(nnio.MAX_ENTRIES + 1)]
    plain = directory_of(names)
    count = len(names)
    cd_size, cd_offset = struct.unpack_from("<2L", plain, len(plain) - 10)
    zip64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, cd_size,
                        cd_offset)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, cd_offset + cd_size, 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, 46, cd_offset, 0)
    path = tmp_path / "z64.npz"
    path.write_bytes(plain[:len(plain) - 22] + zip64 + locator + end)
    with zipfile.ZipFile(path) as z:
        assert len(z.infolist()) == count
    work = ZipWork(monkeypatch)
    refused = f"has {count:,} entries in {cd_size:,} bytes"
    with pytest.raises(ValueError, match=refused):
        nn.load(path)
    assert work.readers == 0 and work.records == 0


def test_open_arrays_reads_the_directory_once(tmp_path, monkeypatch):
    """1,000 members: one zip reader, each directory record parsed a
    bounded number of times (not once per member: quadratic)."""
    members = {f"a{i}": np.full((2, 1), i, np.float32) for i in range(1_000)}
    np.savez(tmp_path / "many.npz", **members)
    work = ZipWork(monkeypatch)
    arrays = nn.open_arrays(tmp_path / "many.npz")
    assert work.readers == 1 and work.records <= 2 * len(members)
    assert sorted(arrays) == sorted(members)
    np.testing.assert_array_equal(arrays["a999"], members["a999"])
    work.records = work.readers = 0
    np.testing.assert_array_equal(nn.open_memmap(tmp_path / "many.npz", key="a7"),
                                  members["a7"])
    assert work.readers == 1 and work.records <= 2 * len(members)


# ---------------------------------------------------------------------- #
# Files that are not what their names say
# ---------------------------------------------------------------------- #


def test_a_file_that_is_no_zip_is_a_value_error_naming_it(tmp_path):
    path = tmp_path / "data.npz"
    for content in (b"", b"x,y\n1,2\n", b"\x93NUMPY" + bytes(100)):
        path.write_bytes(content)
        for reader in (nn.open_arrays, nn.open_memmap):
            with pytest.raises(ValueError, match=r"data\.npz' is not a \.npz archive \(a zip "
                                                 r"file, as np\.savez writes\)"):
                reader(path)
    np.save(tmp_path / "a.npy", np.ones(3))
    (tmp_path / "a.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match=r"a\.npy' is not a \.npy array \(NumPy's format\)"):
        nn.open_memmap(tmp_path / "a.npy")


def test_a_truncated_npy_is_refused_when_opened(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((100, 3)))
    data = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "a.npy").write_bytes(data[:-8])
    with pytest.raises(ValueError, match=r"a\.npy' has an array of 2,520 bytes where its "
                                         "header implies 2,528"):
        nn.open_memmap(tmp_path / "a.npy")


# ---------------------------------------------------------------------- #
# Pickles: refused in nnarray's words, by every reader
# ---------------------------------------------------------------------- #


def big_header_npy() -> bytes:
    """A .npy 2.0 file of 3 floats whose header is 20,000 bytes long: NumPy
    refuses it, advising allow_pickle=True."""
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }"
    header = header + " " * (20_000 - len(header) - 1) + "\n"
    return (b"\x93NUMPY\x02\x00" + struct.pack("<I", len(header)) + header.encode()
            + np.arange(3.0).tobytes())


def hostile_files(folder: Path) -> dict[str, Path]:
    """Files whose reading with NumPy ends in its advice to allow pickle."""
    files = {}
    objects = np.array([{"a": 1}, None], dtype=object)
    files["objects.npz"] = folder / "objects.npz"
    np.savez(files["objects.npz"], X=objects, Y=objects)
    files["pickle.npz"] = folder / "pickle.npz"
    files["pickle.npz"].write_bytes(pickle.dumps({"X": [1, 2]}))
    files["pickle.npy"] = folder / "pickle.npy"
    files["pickle.npy"].write_bytes(pickle.dumps([1, 2]))
    files["objects.npy"] = folder / "objects.npy"
    np.save(files["objects.npy"], objects, allow_pickle=True)
    files["header.npy"] = folder / "header.npy"
    files["header.npy"].write_bytes(big_header_npy())
    files["header.npz"] = folder / "header.npz"
    files["header.npz"].write_bytes(build_zip([stored("X.npy", big_header_npy()),
                                               stored("Y.npy", big_header_npy())]))
    return files


def numpy_advice(path: Path) -> str:
    """What NumPy says reading the file: its advice to allow pickle."""
    with pytest.raises(ValueError) as info:
        with np.load(path, allow_pickle=False) as data:
            data["X"]
    return str(info.value)


_OBJECTS = "Python objects .*nnarray reads only numeric arrays and never unpickles"
_HEADER = r"header is longer than the 10,000 bytes read"


@pytest.mark.parametrize("name, readers", [
    ("objects.npz", {"open_arrays": _OBJECTS, "open_memmap": _OBJECTS,
                     "load_npz": "member 'X' cannot be read: .*" + _OBJECTS}),
    ("pickle.npz", {"open_arrays": "is not a .npz archive", "open_memmap": "is not a .npz",
                    "load_npz": "is not a .npz archive"}),
    ("pickle.npy", {"open_memmap": r"is not a \.npy array"}),
    ("objects.npy", {"open_memmap": _OBJECTS}),
    ("header.npy", {"open_memmap": _HEADER}),
    ("header.npz", {"open_arrays": _HEADER, "open_memmap": _HEADER, "load_npz": _HEADER}),
])
def test_numpys_advice_to_allow_pickle_never_reaches_users(tmp_path, name, readers):
    path = hostile_files(tmp_path)[name]
    if path.suffix == ".npz":
        assert "allow_pickle" in numpy_advice(path)  # what NumPy itself would say
    calls = {"open_arrays": nn.open_arrays, "load_npz": datasets.load_npz,
             "open_memmap": (lambda p: nn.open_memmap(p, key="X")) if path.suffix == ".npz"
             else nn.open_memmap}
    for reader, message in readers.items():
        with pytest.raises(ValueError, match=message) as info:
            calls[reader](path)
        text = str(info.value)
        assert str(path) in text, (reader, text)
        assert "allow_pickle" not in text and "unsafely" not in text, (reader, text)


def test_a_model_file_never_passes_on_numpys_advice(tmp_path):
    entries = model_entries()
    entries["W1.npy"] = big_header_npy()
    path = tmp_path / "m.npz"
    path.write_bytes(build_zip([stored(k, v) for k, v in entries.items()]))
    with pytest.raises(ValueError, match=r"entry 'W1\.npy' that cannot be read: its \.npy "
                                         + _HEADER) as info:
        nn.load(path)
    assert "allow_pickle" not in str(info.value)


@pytest.mark.parametrize("option, name", [
    ("--dataset", "objects.npz"), ("--dataset", "pickle.npz"), ("--dataset", "header.npz"),
    ("--data", "objects.npz"), ("--data", "pickle.npz"), ("--data", "header.npz"),
    ("--data", "pickle.npy"), ("--data", "objects.npy"), ("--data", "header.npy"),
])
def test_the_command_never_passes_on_numpys_advice(tmp_path, capsys, option, name):
    path = hostile_files(tmp_path)[name]
    extra = ["--batch-size", "8", "--epochs", "1"] if option == "--data" else []
    assert cli.main(["train", option, str(path), *extra, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nnarray: error: ") and str(path) in err, err
    assert "allow_pickle" not in err and "unsafely" not in err, err


def test_the_packaged_data_reads_as_before():
    (X, Y), (Xt, Yt) = datasets.load_cat_vs_noncat()
    assert X.shape == (12288, 209) and Y.shape == (1, 209)
    assert Xt.shape == (12288, 50) and Yt.shape == (1, 50)
    train, test = datasets.cat_images()
    assert train.shape == (209, 64, 64, 3) and train.dtype == np.uint8
    np.testing.assert_array_equal(X, train.reshape(209, -1).T / 255)
    np.testing.assert_array_equal(Xt, test.reshape(50, -1).T / 255)


# ---------------------------------------------------------------------- #
# Metadata integers
# ---------------------------------------------------------------------- #


def meta_with(**fields: str) -> bytes:
    """A model's metadata .npy whose fields are the given raw JSON texts."""
    meta = {"class": "Network", "layer_dims": [3, 2, 1], "hidden": "relu",
            "output": "sigmoid", "dtype": "float32", "format": nnio.FORMAT,
            "format_version": nnio.FORMAT_VERSION}
    text = json.dumps({**meta, **{k: f"@{k}@" for k in fields}})
    for k, raw in fields.items():
        text = text.replace(f'"@{k}@"', raw)
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(text.encode(), np.uint8))
    return buf.getvalue()


@pytest.mark.parametrize("field, raw, named", [
    ("layer_dims", "[3, " + "9" * 4_000 + ", 1]", r"layer_dims\[1\] is an integer of 4,000"),
    ("layer_dims", "[3, -" + "9" * 200 + ", 1]", r"layer_dims\[1\] is an integer of 200"),
    ("training", '{"t": 1, "random_state": {"state": {"state": ' + "1" * 5_000 + "}}}",
     r"training\.random_state\.state\.state is an integer of 5,000"),
])
def test_metadata_integers_too_long_are_refused_naming_the_field(tmp_path, field, raw,
                                                                 named):
    entries = model_entries()
    entries["__nnarray_meta__.npy"] = meta_with(**{field: raw})
    path = tmp_path / "m.npz"
    path.write_bytes(build_zip([stored(k, v) for k, v in entries.items()]))
    with pytest.raises(ValueError, match=f"m.npz' has corrupt nnarray metadata: {named} "
                                         r"digits \(at most 100 are read\)"):
        nn.load(path)


def test_metadata_integers_of_a_checkpoint_are_read(tmp_path):
    """A 128-bit generator state (39 digits) is within the bound."""
    entries = model_entries()
    entries["__nnarray_meta__.npy"] = meta_with(seed=str(2**128 - 1))
    path = tmp_path / "m.npz"
    path.write_bytes(build_zip([stored(k, v) for k, v in entries.items()]))
    _, meta = nnio.load_arrays(path)
    assert meta["seed"] == 2**128 - 1
