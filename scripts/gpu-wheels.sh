#!/usr/bin/env bash
# Download, here, the pure-Python wheels scripts/gpu-check.sh needs on a GPU
# machine that has no network (it has numpy, cupy and torch already).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
python3 -m pip download -q --no-deps -d .whl array-api-compat array-api-strict pytest pluggy \
  iniconfig packaging hypothesis sortedcontainers attrs
ls .whl
