"""Every piece the GPU paths need, on a GPU machine (``scripts/gpu-check.sh``
runs it there): the NVIDIA driver and its GPUs (asked without CuPy), CuPy
seeing them, and cuBLAS through nvmath-python (it loads, and a handle
starts). One line each; exit status 1 naming what is missing, so that the
check fails rather than a GPU path quietly running step by step.

    python scripts/gpu_pieces.py
"""

from __future__ import annotations

import sys


def main() -> int:
    from nnarray import backend
    from nnarray.engines import gemm

    missing: list[str] = []
    driver = backend.cuda_driver()
    cuda = "" if driver.cuda is None else f", CUDA {driver.cuda[0]}.{driver.cuda[1]}"
    print(f"NVIDIA driver: {driver.gpus} GPU(s){cuda}" + (f" ({driver.why})" if driver.why
                                                          else ""))
    if driver.gpus == 0:
        missing.append("a GPU")
    no_gpu = backend.no_gpu_reason()
    print("CuPy sees the GPU: " + ("yes" if no_gpu is None else f"no ({no_gpu})"))
    if no_gpu is not None:
        missing.append("CuPy")
    ok, why = gemm.available()
    if ok:
        try:
            gemm.start(0)
        except gemm.GemmUnavailableError:
            ok, why = gemm.available()
    print("cuBLAS through nvmath-python: " + ("yes" if ok else f"no ({why})"))
    if not ok:
        missing.append("cuBLAS through nvmath-python")
    if missing:
        print(f"missing on this GPU machine: {', '.join(missing)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
