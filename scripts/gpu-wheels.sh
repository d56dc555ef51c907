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
