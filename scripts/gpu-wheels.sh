#!/usr/bin/env bash
# Download, here, the pure-Python wheels scripts/gpu-check.sh needs on a GPU
# machine that has no network (it has numpy, cupy, torch and jax already); pytest-xdist
# lets the suite run on 8 workers there.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
python3 -m pip download -q --no-deps -d .whl array-api-compat array-api-strict pytest pluggy \
  iniconfig packaging hypothesis sortedcontainers attrs pytest-xdist execnet
ls .whl
# CuPy's CUDA graphs call cuBLAS through nvmath-python's bindings: the GPU machine's
# Python (3.12, x86_64, CUDA 13) gets them as binary wheels for its platform.
python3 -m pip download -q --no-deps -d .whl --only-binary=:all: --python-version 3.12 \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  "nvmath-python>=0.7,<2" "cuda-bindings>=13,<14" cuda-core cuda-pathfinder
ls .whl
