#!/usr/bin/env bash
# One prepared run on a GPU machine, bounded in time, that leaves its logs in
# the output folder as it goes (a run stopped by a time limit keeps what it did):
#
#   scripts/gpu-check.sh [--backend NAME]... [OUTDIR]
#
# Output folder: $OUT, else OUTDIR, else ./gpu-check-out; at most 5 files:
#   summary.txt      each step: command, time limit, exit status, seconds, last line
#   steps.log        every step's whole output, appended in order
#   env.txt          versions, the GPU, the devices each library sees
#   RESULTS.md       benchmarks/run.py --device gpu --quick (rewritten after each workload)
#   scaling-gpu.png  its scaling plot
#
# Steps, in order, with their time on a 16-core H200 (estimated from the run
# of 2026-11-27 there: suite 77 s cupy / 19 s torch at -n 8, quick benchmark
# 74 s, examples 396 s in full) and their limits:
#   setup: wheels, env                                 ~10 s  (limit 60)
#   0 pieces: scripts/gpu_pieces.py (GPU only): the    ~5 s   (limit 60; fails the run
#       driver, CuPy, nvmath's cuBLAS loads                    when one is missing; the
#                                                               suite then runs with
#                                                               NNARRAY_REQUIRE_GPU=1)
#   1 smoke: scripts/gpu_smoke.py, every GPU path      ~40 s  (limit 120; stops the run
#       against NumPy float64 (3 nets x 2 dtypes)              on a disagreement)
#   2 pytest --backend cupy -n 8                       ~110 s (limit 180; 391 tests took
#       (958 tests now: 721 run on any machine,                77 s there; the 721
#       237 CuPy cases)                                        take 189 s at -n 2 on
#                                                               a 2-core CPU)
#   3 pytest -m gpu --backend torch -n 8               ~25 s  (limit 90)
#   4 pytest --backend jax -k jax -n 8                 ~40 s  (limit 90; 114 s at -n 2
#       (its own cases: the rest ran in step 2)                on a 2-core CPU)
#   5 nnarray train --dataset cat --device gpu, full,  ~30 s  (limit 60 each; 4 s, 7 s
#       on cupy, torch and jax                                 and 17 s there)
#   5b benchmarks/profile_epoch.py: a digits-like     ~30 s  (limit 60)
#       epoch timed and profiled on each path
#   6 the 9 examples, iterations cut to ~1/10          ~40 s  (limit 60 each; skipped
#                                                               when the time is up)
#   7 benchmarks/run.py --device gpu --quick           ~200 s (what is left; 210 s kept
#       (6 nets x 10 contenders, 3 rounds; the                 for it: at c78ff42 the
#       digits-like run; 6 scaling points)                     151 s it had ran out
#                                                               before the big net)
#   total                                              ~460 s, under 8 minutes; the
#   steps before the benchmark stop by 260 s and everything by 470 s
#   (GPU_CHECK_BUDGET), whatever happens: a step past its limit is stopped and
#   a step with no time left is skipped, each with a line in summary.txt.
#
# NNARRAY_COMMIT=<sha> in the environment names the commit measured (env.txt,
# RESULTS.md) and wins over git; without it, git names it only when this
# folder is the top of its repository (a copy placed inside another
# repository's work tree says "unknown", never that repository's commit).
#
# BLAS threads are capped at 2 (8 test workers share 16 cores); the benchmark
# alone gets every core, so its CPU references (hand-written NumPy, nnarray
# numpy on the mini-batch run) use the whole machine. Wheels under .whl/
# (array-api-compat, array-api-strict, pytest, pytest-xdist, hypothesis, ...:
# see scripts/gpu-wheels.sh) are installed first, with no network.
#
# On a CPU-only machine (try `OUT=/tmp/gc scripts/gpu-check.sh --backend numpy`)
# the GPU steps are skipped with a line saying so; the smoke test compares the
# CPU paths (torch, jax, array_api_strict), a backend other than cupy, torch and
# jax runs its own cases (`-k NAME`), the examples and a 250-iteration cat job
# run on the CPU and the benchmark runs --tiny; limits x3, 30 minutes in all
# (about 6 minutes on 2 cores).
set -uo pipefail
cd "$(dirname "$0")/.."

backends=()
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backends+=("$2"); shift 2 ;;
    *) break ;;
  esac
done
[ ${#backends[@]} -gt 0 ] || backends=(cupy torch jax)
out="${OUT:-${1:-gpu-check-out}}"
mkdir -p "$out"
summary="$out/summary.txt"
log="$out/steps.log"
: >"$summary"
: >"$log"
scratch=$(mktemp -d)  # example plots: kept off the output folder
py=python3
cores=$(nproc 2>/dev/null || echo 2)
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg XLA_PYTHON_CLIENT_PREALLOCATE=false
export OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 MKL_NUM_THREADS=2

say() { echo "$*" | tee -a "$summary" >>"$log"; }

if compgen -G ".whl/*.whl" >/dev/null; then
  $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/nnarray-site .whl/*.whl >>"$log" 2>&1 || { say "wheels: install failed"; exit 1; }
  export PYTHONPATH="/tmp/nnarray-site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi

status=0
last_rc=0
# step NAME LIMIT DEADLINE COMMAND...: run with `timeout` at min(LIMIT, DEADLINE - now)
# seconds, output appended to steps.log, a line to summary.txt; remembers failures.
step() {
  local name=$1 limit=$(($2 * slow)) deadline=$3; shift 3
  local left=$((deadline - SECONDS))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 5 ]; then
    say "== $name: skipped, out of time ($SECONDS s spent)"
    status=1; last_rc=124
    return
  fi
  say "== $name (limit ${limit} s, at ${SECONDS} s): $*"
  local t0=$SECONDS
  timeout -k 10 "$limit" "$@" >>"$log" 2>&1
  last_rc=$?
  local note=""
  [ $last_rc -eq 124 ] || [ $last_rc -eq 137 ] && note=" (stopped by its ${limit} s limit)"
  say "   rc=$last_rc$note in $((SECONDS - t0)) s; last line: $(tail -n 1 "$log" | cut -c1-200)"
  [ $last_rc -eq 0 ] || status=1
}

say "== env (limit 60 s): versions and devices, into env.txt"
timeout -k 5 60 $py - >"$out/env.txt" 2>&1 <<'PY'
import importlib.util, os, platform, subprocess, numpy, nnarray
print("python", platform.python_version(), "numpy", numpy.__version__,
      "nnarray", nnarray.__version__, "cores", os.cpu_count())
print("nnarray devices", nnarray.available_devices())
try:
    print(subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                          "--format=csv,noheader"], capture_output=True, text=True,
                         timeout=20).stdout.strip())
except Exception as exc:
    print("nvidia-smi:", exc)
for mod in ("cupy", "torch", "jax", "array_api_compat", "array_api_strict", "xdist",
            "sklearn"):
    if importlib.util.find_spec(mod) is None:
        print(mod, "not installed")
        continue
    try:
        m = __import__(mod)
        extra = ""
        if mod == "cupy":
            rt = m.cuda.runtime
            extra = (f"devices {rt.getDeviceCount()} runtime {rt.runtimeGetVersion()} "
                     f"driver {rt.driverGetVersion()}")
        elif mod == "torch":
            extra = f"cuda {m.version.cuda} available {m.cuda.is_available()}"
        elif mod == "jax":
            extra = f"devices {m.devices()}"
        print(mod, getattr(m, "__version__", "?"), extra)
    except Exception as exc:  # report, don't fail: a CPU-only dry run has no CUDA
        print(mod, "not usable:", exc)
from nnarray.engines import gemm  # noqa: E402  CuPy's CUDA graphs need nvmath-python
ok, why = gemm.available()
print("cupy CUDA graphs", "yes" if ok else f"no: {why}")
print("cupy path", nnarray.engines.describe("cupy", "cuda:0", 100))
PY
# The commit as RESULTS.md names it (benchmarks/report.py: commit).
commit=$($py -c "from benchmarks.report import commit; print(commit())" 2>>"$log") \
  || commit=${NNARRAY_COMMIT:-unknown}
echo "commit $commit" >>"$out/env.txt"
cat "$out/env.txt" >>"$log"

gpu=$($py - <<'PY' 2>/dev/null || echo 0
import importlib.util
ok = False
if importlib.util.find_spec("cupy"):
    try:
        import cupy
        ok = cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        pass
if not ok and importlib.util.find_spec("torch"):
    import torch
    ok = torch.cuda.is_available()
print(int(ok))
PY
)
dev=cpu; [ "$gpu" = 1 ] && dev=gpu
# On a GPU machine: 470 s in all, 210 of them kept for the benchmark (150 s
# were not enough for its big-net and digits-like rows). A CPU-only
# dry run is slower (2 cores run the suite and the examples): limits x3, 30 minutes.
slow=1; [ "$gpu" = 1 ] || slow=3
budget=${GPU_CHECK_BUDGET:-$((gpu == 1 ? 470 : 1800))}
bench_reserve=210
before_bench=$((budget - bench_reserve))
xdist=()
if $py -c "import xdist" 2>/dev/null; then
  xdist=(-n $((cores < 8 ? cores : 8)))
fi
[ "$gpu" = 1 ] || say "no GPU here: the GPU steps are skipped; the smoke test compares the CPU paths, the examples run on the CPU, the benchmark runs --tiny"

# 0. On a GPU machine every piece must be there: the driver, CuPy, cuBLAS through
# nvmath-python (a missing one fails the check), and no GPU test may skip for want
# of one (NNARRAY_REQUIRE_GPU=1 turns tests/conftest.py's GPU skips into failures).
if [ "$gpu" = 1 ]; then
  export NNARRAY_REQUIRE_GPU=1
  step gpu-pieces 60 "$before_bench" $py scripts/gpu_pieces.py
fi

# 1. Every GPU path against NumPy float64 first: a disagreement stops the run.
step smoke 120 "$before_bench" $py scripts/gpu_smoke.py --device "$dev"
if [ $last_rc -ne 0 ] && [ $last_rc -ne 124 ] && [ $last_rc -ne 137 ]; then
  say "stopped: a path disagrees with NumPy float64 or failed (see steps.log)"
  exit 1
fi

# 2-4. The suite.
pytest_args=(-q -p no:cacheprovider -rs --durations=10 "${xdist[@]}")
for b in "${backends[@]}"; do
  case "$b" in
    cupy)
      if [ "$gpu" = 1 ]; then
        step pytest-cupy 180 "$before_bench" $py -m pytest "${pytest_args[@]}" --backend cupy
      else
        say "== pytest-cupy: skipped, no GPU here"
      fi ;;
    torch)
      if [ "$gpu" = 1 ]; then
        step pytest-torch-cuda 90 "$before_bench" $py -m pytest "${pytest_args[@]}" -m gpu \
          --backend torch
      else
        step pytest-torch 90 "$before_bench" $py -m pytest "${pytest_args[@]}" --backend torch \
          -k torch
      fi ;;
    jax)
      step pytest-jax 90 "$before_bench" $py -m pytest "${pytest_args[@]}" --backend jax -k jax ;;
    *)  # its own cases (the backend-independent tests run with the cupy suite)
      step "pytest-$b" 90 "$before_bench" $py -m pytest "${pytest_args[@]}" --backend "$b" \
        -k "$b" ;;
  esac
done

# 5. The cat main job in full (2500 iterations) on the GPU; 250 in a CPU dry run.
if [ "$gpu" = 1 ]; then
  step train-cat 60 "$before_bench" $py -m nnarray train --dataset cat --device gpu
  for b in torch jax; do
    step "train-cat-$b" 60 "$before_bench" $py -m nnarray train --dataset cat --device gpu \
      --backend "$b"
  done
else
  step train-cat 60 "$before_bench" $py -m nnarray train --dataset cat --device cpu \
    --iterations 250
fi

# 5b. Where a mini-batch epoch's time goes on each path (host profile; torch's
# profiler with CUDA): the digits-like fit, into steps.log.
step profile-epoch 60 "$before_bench" $py benchmarks/profile_epoch.py --device "$dev" --rows 12

# 6. The examples, iterations cut (the course's full runs are the CPU suite's job),
# after the main job: with little time left they are skipped, not the benchmark.
ex() { local name=$1; shift; step "example-$name" 60 "$before_bench" $py "examples/$name.py" \
  --device "$dev" --plots "$scratch/plots" "$@"; }
ex quickstart --iterations 1000
ex planar --iterations 1000
ex cat_deep --iterations 250
ex logistic_regression_cat --iterations 200
ex initialization --iterations 1000
ex activation_comparison --iterations 500
ex xor_depth --iterations 2000
if $py -c "import sklearn" 2>/dev/null; then
  ex digits --iterations 10
  ex diabetes --iterations 10
else
  say "== example-digits, example-diabetes: skipped, scikit-learn is not installed"
fi

# 7. The benchmark, every core for its CPU references.
all_threads=(env OPENBLAS_NUM_THREADS="$cores" OMP_NUM_THREADS="$cores" MKL_NUM_THREADS="$cores")
if [ "$gpu" = 1 ]; then
  step benchmark 400 "$budget" "${all_threads[@]}" $py benchmarks/run.py --device gpu --quick \
    --out "$out/RESULTS.md"
else
  say "== benchmark: no GPU here, so --tiny on the CPU instead of --device gpu --quick"
  step benchmark-tiny 120 "$budget" "${all_threads[@]}" $py benchmarks/run.py --device cpu \
    --tiny --out "$out/RESULTS.md"
fi

rm -rf "$scratch"
say "overall status: $status (device $dev, $SECONDS s)"
exit $status
