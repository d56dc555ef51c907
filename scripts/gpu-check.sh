#!/usr/bin/env bash
# One prepared call for a GPU machine: versions, the suite on CuPy and on torch
# (CPU + CUDA), the examples on the GPU, and the benchmark when it exists.
#
#   scripts/gpu-check.sh [--backend NAME]... [OUTDIR]
#
# A summary, env.txt, RESULTS.md and a tar of every log go to $OUT, else
# OUTDIR, else ./gpu-check-out. Wheels under .whl/
# (array-api-compat, array-api-strict, pytest, hypothesis, ...: see
# scripts/gpu-wheels.sh) are installed first, with no network. On a CPU-only
# machine, try it with `--backend numpy`: the GPU steps are then skipped.
set -uo pipefail
cd "$(dirname "$0")/.."

backends=()
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backends+=("$2"); shift 2 ;;
    *) break ;;
  esac
done
[ ${#backends[@]} -gt 0 ] || backends=(cupy torch)
out="${OUT:-${1:-gpu-check-out}}"
mkdir -p "$out"
# The device tool brings back at most 8 files: logs are kept here and packed
# into $out/gpu-check-logs.tar.gz at the end, beside $out/summary.txt.
logs=$(mktemp -d)
py=python3
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg

if compgen -G ".whl/*.whl" >/dev/null; then
  $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/nnarray-site .whl/*.whl || exit 1
  export PYTHONPATH="/tmp/nnarray-site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi

status=0
step() {  # step NAME COMMAND...: run, log to $out/NAME.log, remember failures
  local name=$1; shift
  echo "== $name: $*" | tee -a "$out/summary.txt"
  local t0=$SECONDS
  "$@" >"$logs/$name.log" 2>&1
  local rc=$?
  echo "   rc=$rc in $((SECONDS - t0)) s; last line: $(tail -n 1 "$logs/$name.log")" \
    | tee -a "$out/summary.txt"
  [ $rc -eq 0 ] || status=1
}

step env $py - <<'PY'
import platform, numpy, nnarray
print("python", platform.python_version(), "numpy", numpy.__version__, "nnarray", nnarray.__version__)
print("devices", nnarray.available_devices())
try:
    import cupy
    rt = cupy.cuda.runtime
    props = rt.getDeviceProperties(0)
    print("gpu", props["name"].decode(), "cupy", cupy.__version__,
          "cuda runtime", rt.runtimeGetVersion(), "driver", rt.driverGetVersion())
except Exception as exc:  # report, don't fail: a CPU-only dry run has no CuPy
    print("cupy/CUDA not usable:", exc)
PY

gpu=$($py -c "import nnarray; print(int(len(nnarray.available_devices()) > 1))" 2>/dev/null || echo 0)
for b in "${backends[@]}"; do
  step "pytest-$b" $py -m pytest -q -p no:cacheprovider -rs --backend "$b"
done
dev=cpu; [ "$gpu" = 1 ] && dev=gpu
step quickstart $py examples/quickstart.py --device "$dev"
[ -f examples/cat_deep.py ] && step cat-example $py examples/cat_deep.py --device "$dev" \
  --plots "$logs/plots"
$py -c "import sklearn" 2>/dev/null && \
  step digits-example $py examples/digits.py --device "$dev" --plots "$logs/plots"
$py -c "import nnarray.cli" 2>/dev/null && \
  step cli-train $py -m nnarray train --dataset cat --device "$dev" --iterations 100
[ -f benchmarks/run.py ] && step benchmark $py benchmarks/run.py --device "$dev" --quick \
  --out "$logs/RESULTS.md"
cp "$logs/env.log" "$out/env.txt"
[ -f "$logs/RESULTS.md" ] && cp "$logs/RESULTS.md" "$out/RESULTS.md"
tar czf "$out/gpu-check-logs.tar.gz" -C "$logs" .
echo "overall status: $status (device $dev)" | tee -a "$out/summary.txt"
exit $status
