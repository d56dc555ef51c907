"""The benchmark runs in a tiny mode, so it cannot rot; its verdicts are checked
on made-up rows (targets met and missed); its peers are checked to train the
same net as nnarray. No timing is asserted."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import contenders as C  # noqa: E402
from benchmarks import report, timing  # noqa: E402
from benchmarks.workloads import TINY, Workload, problem  # noqa: E402


def test_benchmark_tiny_mode_writes_the_tables(tmp_path):
    out = tmp_path / "RESULTS.md"
    out.write_text(report.HEADER + "## an older run\n")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--tiny",
                           "--out", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert text.startswith(report.HEADER + "## cpu float32")
    assert text.rstrip().endswith("## an older run")  # older runs kept below
    assert "(partial" not in text
    assert "| tiny [3,4,1] tanh m=16 | hand-written NumPy |" in text
    assert "| tiny [3,4,1] tanh m=16 | nnarray numpy |" in text
    assert "| tiny [3,4,1] tanh m=16 | matrix products alone |" in text
    assert "Command: `python benchmarks/run.py --device cpu --dtype float32 --tiny`" in text
    assert "| nnarray against hand-written NumPy, the planar net | ≤ 1.15× | tiny " in text
    assert "| tiny-batches [3,4,2] relu m=40 batch 16 | nnarray numpy | cpu |" in text
    if importlib.util.find_spec("jax"):
        assert "| tiny [3,4,1] tanh m=16 | nnarray jax (compiled) |" in text
        assert "| tiny [3,4,1] tanh m=16 | JAX fori_loop by hand |" in text
        assert "| nnarray jax (compiled) against hand-written NumPy | planar ≤ 0.5×" in text


def test_the_cli_keeps_its_flags():
    run = _run_module()
    args = run.parse(["--device", "gpu", "--quick", "--no-scaling", "--only", "cupy", "--dtype",
                      "float64", "--out", "x.md"])
    assert run.command(args) == ('python benchmarks/run.py --device gpu --dtype float64 '
                                 '--quick --no-scaling --only "cupy"')
    assert run.chosen("nnarray cupy", "cupy") and run.chosen(C.HAND_NUMPY, "cupy")
    assert not run.chosen("nnarray torch cuda (graph)", "cupy")
    assert run.chosen(C.JAX_FORI, "jax") and run.chosen(C.NNARRAY_JAX, "JAX")  # any case


def _run_module():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _row(workload, contender, ms, floor_ms=1.0, gemm_bound=True):
    return {"workload": workload, "contender": contender, "seconds": ms / 1e3,
            "floor": floor_ms / 1e3, "gemm_bound": gemm_bound, "memory": None}


def _verdicts(rows, device, mini=()):
    return {t: (m, ok) for t, _, m, ok in report.targets(rows, device, mini)}


def test_cpu_targets_read_the_rows():
    rows = [
        _row("planar [2,4,1]", C.HAND_NUMPY, 0.10, 1e-4, False),
        _row("planar [2,4,1]", C.NNARRAY_NUMPY, 0.12, 1e-4, False),
        _row("planar [2,4,1]", C.NNARRAY_JAX, 0.04, 1e-4, False),
        _row("planar [2,4,1]", C.TORCH_CPU, 0.6, 1e-4, False),
        _row("planar [2,4,1]", C.SKLEARN, 0.4, 1e-4, False),
        _row("cat [12288]", C.HAND_NUMPY, 4.0, 1.3),
        _row("cat [12288]", C.NNARRAY_NUMPY, 4.0, 1.3),
        _row("cat [12288]", C.NNARRAY_JAX, 4.4, 1.3),
        _row("wide [1024]", C.HAND_NUMPY, 100.0, 80.0),
        _row("wide [1024]", C.PRODUCTS, 95.0, 80.0),
        _row("wide [1024]", C.NNARRAY_NUMPY, 110.0, 80.0),
        _row("wide [1024]", C.NNARRAY_JAX, 90.0, 80.0),
        _row("wide [1024]", C.TORCH_CPU, 105.0, 80.0),
        _row("wide [1024]", C.SKLEARN, 120.0, 80.0),
    ]
    got = _verdicts(rows, "cpu")
    assert got["nnarray against hand-written NumPy, GEMM-bound nets"] == (
        "cat 1.00×, wide 1.10×", False)
    assert got["nnarray against hand-written NumPy, the planar net"] == ("planar 1.20×", False)
    # baseline planar 1.02, cat 0.96, wide 1.04, each + 0.10
    keeps = got["nnarray numpy keeps its ratios to hand-written NumPy "
                "(run of 2026-11-26 19:19, commit c490747)"]
    assert keeps == ("planar 1.20× (was 1.02×), cat 1.00× (was 0.96×), wide 1.10× (was 1.04×)",
                     False)  # planar is 0.18 above its baseline
    # ahead of the faster peer: 0.12/0.4 on planar, 110/105 on wide
    assert got["PyTorch and scikit-learn CPU, every workload"] == (
        "planar 0.30×, wide 1.05×", False)
    assert got["GEMM-bound nets against the GEMM floor"] == (
        "cat 3.08×, wide 1.38× (× products alone 1.16)", False)
    # planar 0.40 ≤ 0.5, cat 1.10 > 1.0 (wide has no bound)
    assert got["nnarray jax (compiled) against hand-written NumPy"] == (
        "planar 0.40×, cat 1.10×", False)

    rows[1] = _row("planar [2,4,1]", C.NNARRAY_NUMPY, 0.114, 1e-4, False)
    assert _verdicts(rows, "cpu")["nnarray against hand-written NumPy, the planar net"] == (
        "planar 1.14×", True)
    rows[2] = _row("planar [2,4,1]", C.NNARRAY_JAX, 0.06, 1e-4, False)
    rows[7] = _row("cat [12288]", C.NNARRAY_JAX, 3.8, 1.3)
    assert _verdicts(rows, "cpu")["nnarray jax (compiled) against hand-written NumPy"] == (
        "planar 0.60×, cat 0.95×", False)
    rows[2] = _row("planar [2,4,1]", C.NNARRAY_JAX, 0.05, 1e-4, False)
    rows[1] = _row("planar [2,4,1]", C.NNARRAY_NUMPY, 0.11, 1e-4, False)
    got = _verdicts(rows, "cpu")
    assert got["nnarray jax (compiled) against hand-written NumPy"] == (
        "planar 0.50×, cat 0.95×", True)
    assert got["nnarray numpy keeps its ratios to hand-written NumPy "
               "(run of 2026-11-26 19:19, commit c490747)"] == (
        "planar 1.10× (was 1.02×), cat 1.00× (was 0.96×), wide 1.10× (was 1.04×)", True)


def _gpu_rows(override_ms=None):
    """A GPU run where every target is met; ``override_ms`` maps some
    (workload, contender) to other times (None: not measured)."""
    ms = {
        ("planar", C.PRODUCTS): 0.05, ("planar", C.NNARRAY_CUPY): 0.12,
        ("planar", C.NNARRAY_TORCH_CUDA): 0.05, ("planar", C.NNARRAY_JAX): 0.015,
        ("planar", C.CUPY_HAND): 0.45, ("planar", C.TORCH_EAGER_HAND): 0.29,
        ("planar", C.TORCH_EAGER): 0.8, ("planar", C.TORCH_GRAPH): 0.055,
        ("planar", C.JAX_FORI): 0.016,
        ("cat", C.PRODUCTS): 0.2, ("cat", C.NNARRAY_CUPY): 0.3,
        ("cat", C.NNARRAY_TORCH_CUDA): 0.13, ("cat", C.NNARRAY_JAX): 0.06,
        ("cat", C.CUPY_HAND): 1.3, ("cat", C.TORCH_EAGER_HAND): 0.59,
        ("cat", C.TORCH_EAGER): 1.1, ("cat", C.TORCH_GRAPH): 0.131, ("cat", C.JAX_FORI): 0.061,
        ("wide", C.PRODUCTS): 0.51, ("wide", C.NNARRAY_CUPY): 0.6,
        ("wide", C.NNARRAY_TORCH_CUDA): 0.55, ("wide", C.NNARRAY_JAX): 0.53,
        ("wide", C.CUPY_HAND): 1.0, ("wide", C.TORCH_EAGER_HAND): 0.67,
        ("wide", C.TORCH_EAGER): 1.0, ("wide", C.TORCH_GRAPH): 0.62,
        ("mnist-like", C.PRODUCTS): 0.25, ("mnist-like", C.NNARRAY_CUPY): 0.3,
        ("mnist-like", C.NNARRAY_TORCH_CUDA): 0.29, ("mnist-like", C.NNARRAY_JAX): 0.27,
        ("mnist-like", C.CUPY_HAND): 0.7, ("mnist-like", C.TORCH_EAGER_HAND): 0.5,
        ("mnist-like", C.TORCH_EAGER): 0.99, ("mnist-like", C.TORCH_GRAPH): 0.3,
        ("big", C.PRODUCTS): 53.8, ("big", C.NNARRAY_CUPY): 55.0,
        ("big", C.NNARRAY_TORCH_CUDA): 55.2, ("big", C.NNARRAY_JAX): 54.0,
        ("big", C.CUPY_HAND): 57.0, ("big", C.TORCH_EAGER_HAND): 55.4,
        ("big", C.TORCH_EAGER): 56.0, ("big", C.TORCH_GRAPH): 55.3,
    }
    ms.update(override_ms or {})
    return [_row(f"{wl} [..]", c, v, 1.0, wl != "planar") for (wl, c), v in ms.items()
            if v is not None]


def _mini(gpu_ms=20.0, cpu_ms=30.0):
    rows = [{"workload": "digits-like [64,32,10]", "contender": C.NNARRAY_NUMPY, "where": "cpu",
             "epoch_seconds": cpu_ms / 1e3, "first_seconds": 0.1, "epochs": 5}]
    if gpu_ms is not None:
        rows.append({"workload": "digits-like [64,32,10]", "contender": C.NNARRAY_JAX,
                     "where": C.GPU, "epoch_seconds": gpu_ms / 1e3, "first_seconds": 2.0,
                     "epochs": 5})
    return rows


CUPY_MS = "nnarray cupy (CUDA graph), ms per step"
CUPY_PRODUCTS = "nnarray cupy (CUDA graph) against the step's matrix products alone"
PEER = "nnarray's fastest GPU path against the best hand-written peer"
PLANAR = "the planar step, nnarray's fastest GPU path"
BIG = "big, each of nnarray's GPU paths against the step's matrix products alone"
MINI = "mini-batch epoch, nnarray's fastest GPU path against nnarray numpy on the CPU"
MET = {("planar", C.NNARRAY_CUPY): 0.045, ("cat", C.NNARRAY_CUPY): 0.11,
       ("wide", C.NNARRAY_CUPY): 0.55, ("mnist-like", C.NNARRAY_CUPY): 0.29}


def test_gpu_targets_all_met():
    got = _verdicts(_gpu_rows(MET), C.GPU, _mini(gpu_ms=12.0))
    assert got[CUPY_MS] == ("planar 0.0450 ms, cat 0.110 ms", True)
    assert got[CUPY_PRODUCTS] == ("wide 1.08×, mnist-like 1.16×", True)
    # the fastest is jax everywhere; the best peer JAX's loop by hand, else torch's graph
    assert got[PEER] == (f"planar 0.94× (jax against {C.JAX_FORI}), cat 0.98× (jax against "
                         f"{C.JAX_FORI}), wide 0.85× (jax against {C.TORCH_GRAPH}), "
                         f"mnist-like 0.90× (jax against {C.TORCH_GRAPH})", True)
    assert got[PLANAR] == ("planar 15.0 µs (jax) (the 20 µs stretch met)", True)
    assert got[BIG] == ("cupy 1.02×, torch 1.03×, jax 1.00×", True)
    assert got[MINI] == ("digits-like 0.40× (jax 12.0 ms, CPU 30.0 ms)", True)
    assert all(ok for _, ok in got.values())


def test_gpu_targets_missed():
    slow = {**MET, ("planar", C.NNARRAY_JAX): 0.06, ("planar", C.NNARRAY_TORCH_CUDA): 0.05,
            ("planar", C.NNARRAY_CUPY): 0.47, ("big", C.NNARRAY_CUPY): 57.8,
            ("wide", C.NNARRAY_CUPY): 0.6, ("cat", C.JAX_FORI): 0.05}
    got = _verdicts(_gpu_rows(slow), C.GPU, _mini(gpu_ms=20.0))
    assert got[CUPY_MS] == ("planar 0.470 ms, cat 0.110 ms", False)
    assert got[CUPY_PRODUCTS] == ("wide 1.18×, mnist-like 1.16×", False)
    # planar: the fastest is now torch (0.05) against JAX's loop by hand (0.016)
    assert got[PEER][1] is False
    assert got[PEER][0].startswith(f"planar 3.13× (torch against {C.JAX_FORI}), cat 1.20× "
                                   f"(jax against {C.JAX_FORI})")
    assert got[PLANAR] == ("planar 50.0 µs (torch)", False)
    assert got[BIG] == ("cupy 1.07×, torch 1.03×, jax 1.00×", False)
    assert got[MINI] == ("digits-like 0.67× (jax 20.0 ms, CPU 30.0 ms)", False)


FUSED = "the planar step in CuPy's graph with the fused kernels (NNARRAY_FUSE=1)"


@pytest.mark.parametrize(("fused_ms", "shown", "met"), [(0.025, "0.0250", True),
                                                         (0.04, "0.0400", False)])
def test_the_fused_kernels_are_judged_in_the_graph_where_measured(fused_ms, shown, met):
    assert FUSED not in _verdicts(_gpu_rows(MET), C.GPU, _mini(gpu_ms=12.0))
    rows = _gpu_rows({**MET, ("planar", C.NNARRAY_CUPY_FUSED): fused_ms})
    got = _verdicts(rows, C.GPU, _mini(gpu_ms=12.0))
    assert got[FUSED] == (f"planar {shown} ms (without them 0.0450 ms)", met)
    # the opt-in path is not one of "nnarray's GPU paths"
    assert got[PLANAR] == ("planar 15.0 µs (jax) (the 20 µs stretch met)", True)


def test_gpu_targets_say_what_was_not_measured():
    rows = _gpu_rows({**MET, ("cat", C.NNARRAY_CUPY): None, ("big", C.NNARRAY_CUPY): None})
    got = _verdicts(rows, C.GPU, _mini(gpu_ms=None))
    assert got[CUPY_MS] == ("planar 0.0450 ms, cat not measured", False)
    assert got[BIG] == ("cupy not measured, torch 1.03×, jax 1.00×", False)
    assert got[MINI] == ("digits-like not measured", False)
    # a run without the big net (--only, a smaller card) is judged on what it ran
    small = [r for r in _gpu_rows(MET) if not r["workload"].startswith("big")]
    got = _verdicts(small, C.GPU, _mini(gpu_ms=12.0))
    assert BIG not in got and all(ok for _, ok in got.values())


def test_timing_drops_a_contender_that_fails_and_says_why():
    def broken(k):
        raise RuntimeError("capture refused\nsecond line")

    calls = []
    entries = {"ok": timing.Entry(lambda k: calls.append(k), lambda: None, 3, 1),
               "broken": timing.Entry(broken, lambda: None, 3, 1)}
    failed = {}
    got = timing.interleaved(entries, 2, failed)
    assert set(got) == {"ok"} and got["ok"] >= 0
    assert calls == [1, 3, 3]
    assert failed == {"broken": "failed: RuntimeError: capture refused"}


def test_partial_results_are_written_then_replaced(tmp_path):
    path = tmp_path / "R.md"
    path.write_text(report.HEADER + "## older\n")
    res = report.Results("cpu", "float32", "python benchmarks/run.py --tiny")
    res.rows.append(_row("tiny [3,4,1]", C.HAND_NUMPY, 0.1, 0.01, False))
    w = report.Writer(path)
    w.write(res, complete=False)
    assert "(partial" in path.read_text() and path.read_text().endswith("## older\n")
    res.skipped.append(("*", C.JAX_FORI, "jax is not installed"))
    w.write(res)
    text = path.read_text()
    assert "(partial" not in text and text.count("## cpu float32") == 1
    assert "- JAX fori_loop by hand: jax is not installed" in text


def _train(make, w, X, Y, params, k=5):
    run = make(w, X, Y, params)
    run(k)
    return run.parameters()


@pytest.mark.parametrize("w", [TINY[0], Workload("relu [5,4,3,1] m=8", (5, 4, 3, 1), "relu",
                                                 8, 0.1)], ids=["tanh", "relu"])
def test_every_peer_trains_the_same_net_as_nnarray(w):
    """The hand-written steps are the lecture's step: after 5 iterations in
    float64 their parameters are nnarray numpy's (so the race is fair)."""
    X, Y, params = problem(w, "float64")
    want = _train(C.nnarray_fit("numpy", "cpu"), w, X, Y, params)
    peers = {"numpy": C.handwritten("cpu")}
    if importlib.util.find_spec("torch"):
        peers["torch"] = C.torch_eager_hand("cpu")
    if importlib.util.find_spec("jax"):  # conftest turns on jax's float64
        peers["jax"] = C.jax_fori("cpu")
        peers["nnarray jax"] = C.nnarray_fit("jax", "cpu")
    for name, make in peers.items():
        got = _train(make, w, X, Y, params)
        assert got.keys() == want.keys(), name
        for k in want:
            assert got[k].dtype == np.float64, (name, k)
            np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-12,
                                       err_msg=f"{name} {k}")
    moved = _train(C.handwritten("cpu"), w, X, Y, params, k=6)
    assert not np.allclose(moved["W1"], want["W1"], rtol=1e-10, atol=1e-12)  # can fail


def test_contenders_say_why_they_cannot_run():
    gpu = {c.name: c for c in C.contenders(C.GPU)}
    assert set(C.NNARRAY_GPU_PATHS) <= set(gpu)
    assert {C.TORCH_GRAPH, C.JAX_FORI, C.CUPY_HAND, C.TORCH_EAGER_HAND} <= set(gpu)
    if not C.installed("cupy"):
        assert gpu[C.CUPY_HAND].missing() == "cupy is not installed"
        assert "GPU" in gpu[C.NNARRAY_CUPY].missing()  # no GPU here, or a GPU without CuPy
    if C.installed("jax") and C.jax_gpu_missing():
        assert "GPU" in gpu[C.NNARRAY_JAX].missing()
    cpu = {c.name for c in C.contenders("cpu")}
    assert {C.NNARRAY_JAX, C.JAX_FORI, C.HAND_NUMPY, C.PRODUCTS} <= cpu
    mini = {(c.name, c.where) for c in C.minibatch_contenders(C.GPU)}
    assert (C.NNARRAY_NUMPY, "cpu") in mini and (C.NNARRAY_CUPY, C.GPU) in mini


def _smoke():
    spec = importlib.util.spec_from_file_location("gpu_smoke", ROOT / "scripts" / "gpu_smoke.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_smoke_check_tells_rounding_from_a_wrong_path():
    """float64: parameters to 1e-10; float32: the displacement from the start
    within float32 rounding, and TF32-sized errors (3e-4) refused."""
    smoke = _smoke()
    rng = np.random.default_rng(0)
    start = {"W1": rng.standard_normal((4, 3)), "b1": np.zeros((4, 1))}
    want = {k: v + 0.01 * rng.standard_normal(v.shape) for k, v in start.items()}

    def moved(rel):
        return {k: w + rel * np.abs(w - start[k]).max() * rng.standard_normal(w.shape)
                for k, w in want.items()}

    assert smoke.compare(want, want, start, "float64")[0] == 0.0
    assert smoke.compare(moved(1e-14), want, start, "float64")[0] <= smoke.RTOL64
    assert smoke.compare(moved(1e-8), want, start, "float64")[0] > smoke.RTOL64
    assert smoke.compare(moved(1e-6), want, start, "float32")[0] <= smoke.RTOL32
    err, where = smoke.compare(moved(3e-4), want, start, "float32")
    assert err > smoke.RTOL32 and where in want
    backends = {b for b, d, why in smoke.paths("cpu")}
    assert backends == {"torch", "jax", "array_api_strict"}


def test_timing_rounds_draw_their_order_and_start_from_a_collected_heap():
    import weakref

    class Cycle:
        pass

    runs, garbage = [], []

    def contender(name):
        def run(k):
            runs.append((name, [r for r in garbage if r() is not None]))
            c = Cycle()
            c.me = c  # garbage that only a collection frees
            garbage.append(weakref.ref(c))
        return run

    names = ["a", "b", "c", "d"]
    timing.interleaved({n: timing.Entry(contender(n), lambda: None, 1, 0) for n in names}, 8)
    rounds = [[n for n, _ in runs[i:i + 4]] for i in range(0, 32, 4)]
    assert all(sorted(r) == names for r in rounds)
    assert len({tuple(r) for r in rounds}) > 1
    before_b = {r[r.index("b") - 1] for r in rounds if r.index("b")}
    assert len(before_b) > 1  # no contender always follows the same one
    assert all(not alive for _, alive in runs)  # the garbage before each timing is gone


def test_milliseconds_keep_three_significant_digits():
    assert [report.ms(s) for s in (3.8e-6, 2.13e-5, 9.4e-5, 1.6e-3, 0.094)] == [
        "0.00380", "0.0213", "0.0940", "1.600", "94.000"]


def test_launches_count_operations_but_not_views():
    torch = pytest.importorskip("torch")
    from benchmarks import launches

    a = torch.ones((3, 4))
    assert launches.launches(lambda: (a + 1) * 2) == 2
    assert launches.launches(lambda: (a + 1).T[::2]) == 1  # views launch nothing
    assert launches.launches(lambda: a.T.reshape(12)) == 1  # a copy, then a view
    n = launches.step_launches(TINY[0])
    # the replayed graph step leaves out the cost that a chunk's first step computes
    assert 0 < n["hand"] and 0 < n["replayed"] < n["first"]


def test_an_epochs_batches_are_all_graph_replays():
    pytest.importorskip("torch")
    from benchmarks import launches
    from benchmarks.workloads import minibatch_workloads

    w = minibatch_workloads(quick=False, tiny=True)[0]
    e = launches.epoch_launches(w)
    # m = 40 in batches of 16: two full batches and a partial one, each a replay
    assert (w.m, w.batch_size) == (40, 16) and e["replays"] == 3
    assert 0 < e["outside"] < 100


def test_the_loop_body_ops_are_read_from_the_compiled_program():
    text = "\n".join([
        "%cond (p: (s32[])) -> pred[] {", "  %c = s32[] constant(3)", "}",
        "%body.7 (p: (s32[], f32[4])) -> (s32[], f32[4]) {",
        "  %a = f32[4]{0} get-tuple-element(%p), index=1",
        "  %f = f32[4]{0} fusion(%a), kind=kLoop, calls=%fused",
        "  %g = f32[4]{0} fusion(%f), kind=kLoop, calls=%fused.1",
        "  %d = f32[4]{0} dot(%f, %g), lhs_contracting_dims={0}",
        "  ROOT %t = (s32[], f32[4]) tuple(%i, %d)", "}",
        "ENTRY %main () -> f32[4] {",
        "  %w = (s32[], f32[4]) while(%x), condition=%cond, body=%body.7", "}"])
    from benchmarks import launches

    assert launches.loop_body_ops(text) == {"fusion": 2, "dot": 1}
    with pytest.raises(ValueError, match="no while loop"):
        launches.loop_body_ops("ENTRY %main () -> f32[] {\n}")


def test_nnarrays_jax_loop_body_has_the_hand_written_loops_products_and_fusions():
    """The chunk's loop runs the step without its cost: the body is the
    hand-written loop's, fusion for fusion (the cost is computed at the record
    points only, outside the loop)."""
    pytest.importorskip("jax")
    from benchmarks import launches

    ops = launches.jax_loop_ops(TINY[0])
    assert ops["nnarray"]["dot"] == ops["hand"]["dot"]
    assert ops["nnarray"]["fusion"] == ops["hand"]["fusion"]


@pytest.mark.parametrize("before", [None, "0"])
def test_the_fused_contender_trains_with_nnarray_fuse_and_restores_it(monkeypatch, before):
    import os

    import nnarray as nn
    from benchmarks.workloads import WORKLOADS

    if before is None:
        monkeypatch.delenv("NNARRAY_FUSE", raising=False)
    else:
        monkeypatch.setenv("NNARRAY_FUSE", before)
    seen = []
    real = nn.Network.fit

    def fit(self, *args, **kwargs):
        seen.append(os.environ.get("NNARRAY_FUSE"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(nn.Network, "fit", fit)
    w = WORKLOADS[0]
    X, Y, params = problem(w, "float64")
    C.nnarray_fit("numpy", "cpu", fuse=True)(w, X, Y, params)(2)
    C.nnarray_fit("numpy", "cpu")(w, X, Y, params)(2)
    assert seen == ["1", before] and os.environ.get("NNARRAY_FUSE") == before


def test_profile_epoch_times_and_profiles_each_backend(capsys):
    from benchmarks import profile_epoch

    backends = ["numpy", "torch"] if importlib.util.find_spec("torch") else ["numpy"]
    args = ["--tiny", "--rows", "3"] + [a for b in backends for a in ("--backend", b)]
    assert profile_epoch.main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("# tiny-batches [3,4,2] relu m=40 batch 16, 2 epochs a fit")
    for b in backends:
        assert f"## {b}: " in out and "ms an epoch (cpu (" in out
    assert out.count("| µs an epoch (own) | calls an epoch | function |") == len(backends)
    if "torch" in backends:
        assert "by self_cpu_time_total:" in out and "Self CPU time total" in out
