#!/usr/bin/env bash
# Mutation testing of the math: mutmut 3 mutates nnarray/activations.py,
# losses.py, propagation.py and optimizers.py (configuration: [tool.mutmut] in
# pyproject.toml) and runs, for each mutant, those tests of the fast subset
# that reach the mutated function:
#
#     python -m pytest tests/test_math.py tests/test_beyond.py \
#         tests/test_losses_shapes.py tests/test_fused.py \
#         --backend numpy -k "not jax and not python_scalar"
#
# NumPy only, about 5 s for the whole subset on one core (the JAX fast-path
# test and the source-reading test of the losses are left out: mutmut's
# copies of the modules hold every mutant side by side). A mutant whose tests
# run past 10 x their normal time + 5 s counts as killed (a timeout).
#
# Not run in CI: about 5 minutes on two cores, ~1000 mutants. Needs the dev
# extra (pip install -e ".[dev]"):
#     scripts/mutation.sh                 # prints the score; exit 1 below MIN_SCORE
#     JOBS=2 MIN_SCORE=90 scripts/mutation.sh
#
# It works on a copy of the working tree (tracked and untracked, not ignored
# files) in a temporary folder, so that mutmut's mutants/ never lands in the
# repository; NNARRAY_MUTATION_DIR=path puts the copy there, to look at a
# mutant afterwards with `cd path && python -m mutmut show <name>`.
#
# Equivalent mutants (ones no test can kill: the program still computes the
# same thing) are recognised by function and kind of change, each kind with
# its reason, in EQUIVALENT and REASONS below; they are left out of the score
# and listed in the report. Any other survivor is reported as not killed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${NNARRAY_MUTATION_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/nnarray-mutation.XXXXXX")}"
jobs="${JOBS:-$(nproc)}"
min_score="${MIN_SCORE:-90}"

cd "$root"
mkdir -p "$work"
git ls-files -z --cached --others --exclude-standard \
    | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C "$work"
cd "$work"
rm -rf mutants
echo "mutation testing in $work ($jobs jobs)"
python -m mutmut run --max-children "$jobs" >mutmut-run.log 2>&1 || {
    tail -40 mutmut-run.log
    exit 2
}
python - "$min_score" <<'PY'
"""The score: killed mutants (timeouts count as killed) over the mutants that
are not equivalent. A survivor is taken as equivalent only when its function
and the kind of its change are listed below, each kind with the reason why no
test can tell it from the original; anything else that survives is reported."""
import re
import subprocess
import sys

REASONS = {
    "xp dropped": "None (or nothing) is passed for xp where the callee then takes the "
                  "namespace from its arrays: the same namespace, the same operations "
                  "(at most the callee's own checks run again, on inputs already checked)",
    "keepdims": "the reduction is over the leading axis 0, so its result broadcasts "
                "against the (n, m) operand the same with or without the kept axis",
    ">= 0": "at z = 0 both branches give the same value (0, or 0.01 * 0 = 0, signed "
            "zeros alike), and NaN takes the same branch for > and >=",
    "checks delegated": "linear_forward, called next, checks the same shapes and "
                        "namespace when it gets no xp; the activation takes the "
                        "namespace from Z",
}
EQUIVALENT = {
    ("sigmoid_backward", "xp dropped"), ("tanh_backward", "xp dropped"),
    ("softmax_backward", "xp dropped"), ("linear_activation_forward", "xp dropped"),
    ("model_forward", "xp dropped"), ("linear_activation_backward", "xp dropped"),
    ("model_backward", "xp dropped"),
    ("softmax", "keepdims"), ("softmax_backward", "keepdims"),
    ("categorical_cross_entropy", "keepdims"),
    ("leaky_relu", ">= 0"), ("binary_cross_entropy", ">= 0"),
    ("linear_activation_forward", "checks delegated"),
}


def kind(removed, added):
    """The kind of a one-line change, or None."""
    if len(removed) != 1 or len(added) != 1:
        return None
    r, a = removed[0], added[0]
    if a in {r.replace(", xp)", ", None)"), r.replace(", xp)", ", )"),
             r.replace("xp=xp", "xp=None"), r.replace("xp=xp", ""), r.replace(", xp=xp", ""),
             r.replace("xp=xp, ", "")} - {r}:
        return "xp dropped"
    if "axis=0" in r and a in {r.replace("keepdims=True", "keepdims=False"),
                               r.replace(", keepdims=True", ", ")} - {r}:
        return "keepdims"
    if a == r.replace("Z > 0", "Z >= 0") != r:
        return ">= 0"
    if (r, a) in {("if xp is None:", "if xp is not None:"),
                  ("xp = namespace(A_prev, W, b)", "xp = None")}:
        return "checks delegated"
    return None


results = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"],
                         capture_output=True, text=True).stdout
status = dict(re.findall(r"^\s*(\S+__mutmut_\d+): (.+?)\s*$", results, re.M))
killed = sorted(n for n, s in status.items() if s in ("killed", "timeout"))
timeouts = sum(1 for s in status.values() if s == "timeout")
equivalent, alive = [], []
for name in sorted(set(status) - set(killed)):
    diff = subprocess.run([sys.executable, "-m", "mutmut", "show", name],
                          capture_output=True, text=True).stdout.splitlines()
    removed = [l[1:].strip() for l in diff if l.startswith("-") and not l.startswith("---")]
    added = [l[1:].strip() for l in diff if l.startswith("+") and not l.startswith("+++")]
    function = name.split("__mutmut_")[0].split(".")[-1].removeprefix("x_")
    function = function.removeprefix("xǁ").replace("ǁ", ".")
    k = kind(removed, added)
    line = f"{name}: {' | '.join(removed)}  ->  {' | '.join(added)}"
    if (function, k) in EQUIVALENT:
        equivalent.append((line, k))
    else:
        alive.append(f"{status[name]:11s} {line}")
total = len(status) - len(equivalent)
score = 100.0 * len(killed) / total if total else 0.0
print(f"mutants {len(status)}: killed {len(killed)} (of which timeouts {timeouts}), "
      f"equivalent {len(equivalent)}, not killed {len(alive)}")
for k, reason in REASONS.items():
    lines = [line for line, kk in equivalent if kk == k]
    if lines:
        print(f"\nequivalent, {k}: {reason}")
        print("\n".join(f"  {line}" for line in lines))
if alive:
    print("\nnot killed:")
    print("\n".join(f"  {line}" for line in alive))
print(f"\nscore: {score:.1f}% of {total} non-equivalent mutants killed "
      f"(minimum {sys.argv[1]}%)")
sys.exit(0 if score >= float(sys.argv[1]) else 1)
PY
