"""Convert the course's cat / non-cat HDF5 files to the package's .npz (dev-only:
needs h5py, which nnarray itself never imports).

    python scripts/convert_catvnoncat.py ../shared/data/catvnoncat nnarray/datasets/data
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import h5py
import numpy as np

SHA256 = {
    "train_catvnoncat.h5": "fbe56ab67c3ae28d564e3a644189117976d6b31af0a3ce9bb17dbf22908af242",
    "test_catvnoncat.h5": "6a9d39ce52fa85953c5834695b8534a30ed8cfd54971fb2f080b5a24d002b951",
}


def main(src: Path, dst: Path) -> None:
    arrays = {}
    for split in ("train", "test"):
        name = f"{split}_catvnoncat.h5"
        digest = hashlib.sha256((src / name).read_bytes()).hexdigest()
        if digest != SHA256[name]:
            raise SystemExit(f"{name}: sha256 {digest} is not the documented one")
        with h5py.File(src / name, "r") as f:
            arrays[f"{split}_x"] = np.asarray(f[f"{split}_set_x"], dtype=np.uint8)
            arrays[f"{split}_y"] = np.asarray(f[f"{split}_set_y"], dtype=np.uint8)
            arrays["classes"] = np.asarray(f["list_classes"]).astype("U7")
    np.savez_compressed(dst / "catvnoncat.npz", **arrays)
    print({k: (v.shape, v.dtype) for k, v in arrays.items()})


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
