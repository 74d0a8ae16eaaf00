"""End-to-end tests of compiled plans and model warmup on the real nereid
binary: `nereid compile`, serving model.plan (platform nereid_plan), ONNX
models compiled at load with settings from config.pbtxt, the plan cache
(--cache-directory), damaged or foreign plans, shape profiles at request
time, and model_warmup.

Run: NEREID_BIN=build/nereid /usr/bin/python3 -m unittest tests/e2e/test_plan.py
"""
import os
import re
import shutil
import tempfile
import time
import unittest

import numpy as np
import requests

import plan_file
from server_fixture import REPO_ROOT, Server, make_repo, run_cli

TIMEOUT = 30
DIGITS_ONNX = os.path.join(REPO_ROOT, "examples", "model_repository", "digits_mlp", "1",
                           "model.onnx")
SAMPLES = np.load(os.path.join(REPO_ROOT, "examples", "digits_samples.npz"))
with open(DIGITS_ONNX, "rb") as _f:
    DIGITS_BYTES = _f.read()


FASHION_ONNX = os.path.join(REPO_ROOT, "tests", "models", "fashion_mnist", "fashion_cnn.onnx")


INT8_CONFIG = ('backend: "onnxruntime"\n'
               'parameters { key: "precision" value { string_value: "int8" } }\n'
               'parameters { key: "calibration_data" value { string_value: "calib" } }\n')


def compile_digits(out, *flags):
    rc, stdout, stderr = run_cli("compile", DIGITS_ONNX, "-o", out, *flags, timeout=120)
    return rc, stdout, stderr


def infer(url, model, pixels):
    body = {"inputs": [{"name": "pixels", "shape": list(pixels.shape), "datatype": "FP32",
                        "data": pixels.flatten().tolist()}]}
    return requests.post(f"{url}/v2/models/{model}/infer", json=body, timeout=TIMEOUT)


def probabilities(response):
    assert response.status_code == 200, response.text
    out = response.json()["outputs"][0]
    return np.array(out["data"], dtype=np.float32).reshape(out["shape"])


def index(url):
    r = requests.post(f"{url}/v2/repository/index", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    return {e["name"]: e for e in r.json()}


class PlanTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="nereid_plan_e2e_")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def compiled(self, *flags):
        path = os.path.join(self.tmp, f"digits_{len(os.listdir(self.tmp))}.plan")
        rc, stdout, stderr = compile_digits(path, *flags)
        self.assertEqual(rc, 0, stdout + stderr)
        with open(path, "rb") as f:
            return f.read()


class CompileCommand(PlanTestCase):
    def test_verbose_prints_passes_kernels_and_progress(self):
        out = os.path.join(self.tmp, "d.plan")
        rc, stdout, stderr = compile_digits(out, "--shapes", "pixels:4x64", "--verbose",
                                            "--tuning-budget-ms", "50")
        self.assertEqual(rc, 0, stdout + stderr)
        self.assertIn(f"-> {out}", stdout)
        self.assertIn("shapes: pixels [4,64]", stdout)
        self.assertIn("passes applied (in order):", stdout)
        self.assertIn("fuse_matmul", stdout)
        self.assertRegex(stdout, r"node 'fc1' \(op Gemm\)\s+\d+ (optimized|reference)")
        self.assertRegex(stdout, r"first run \d+ ms")
        # The MLP's two Gemms: oneDNN's brgemm or gemm:jit kernel.
        self.assertRegex(stdout, r"tuning: [0-2] nodes? tuned at \[4,64\], [0-2] changed .* "
                                 r"of a 50 ms budget")
        self.assertRegex(stdout, r"node 'fc1' \(op Gemm\)  \[4,64\] \[64,32\] \[32\]\n        "
                                 r"(kept|chosen): ")
        # Not a terminal: one progress line per phase.
        for phase in ("[1/6] read", "[2/6] import", "[4/6] kernels", "[6/6] write"):
            self.assertIn(phase, stderr)

    def test_verbose_prints_the_tuning_choices(self):
        out = os.path.join(self.tmp, "f.plan")
        rc, stdout, stderr = run_cli("compile", FASHION_ONNX, "-o", out, "--shapes",
                                     "image:2x1x28x28", "--threads", "2", "--verbose",
                                     "--tuning-budget-ms", "20000", timeout=300)
        self.assertEqual(rc, 0, stdout + stderr)
        self.assertIn("[4/6] tuning", stderr)
        summary = re.search(r"tuning: (\d+) nodes? tuned at \[2,1,28,28\], (\d+) changed "
                            r"\(their summed time [\d.]+ -> [\d.]+ ms\), in \d+ ms of a 20000 ms "
                            r"budget", stdout)
        self.assertIsNotNone(summary, stdout)
        # Two threads: every optimized kernel has at least a one-thread candidate.
        self.assertGreaterEqual(int(summary.group(1)), 5, stdout)
        self.assertIn("tuning (step, node, input shapes; the candidate chosen", stdout)
        # One line per tuned node: what it is, then what was chosen and by how much.
        self.assertRegex(stdout, r"\d+  node '/features/features.4/Conv' \(op nereid.FusedConv\)"
                                 r"  \[2,2,14,14,16\] \[64,32,3,3\] \[64\]\n        "
                                 r"(chosen: .* [\d.]+ ms, against default .* [\d.]+ ms: won by "
                                 r"[\d.]+x|kept: default .* [\d.]+ ms \(no candidate more than 3% "
                                 r"faster\)) \[\d+ candidates\]")
        tuned = len(re.findall(r"^        (chosen|kept): ", stdout, re.M))
        self.assertEqual(tuned, int(summary.group(1)))
        changed = len(re.findall(r"^        chosen: ", stdout, re.M))
        self.assertEqual(changed, int(summary.group(2)))
        # Changed nodes show their parameters in the kernel list, and the plan
        # file keeps them (KERN).
        self.assertEqual(len(re.findall(r"optimized  tuned: \S+", stdout)), changed)
        with open(out, "rb") as f:
            kern = dict(plan_file.read_sections(f.read()))["KERN"]
        self.assertEqual(sum(1 for k in plan_file.decode_kernels(kern) if k["params"]), changed)
        # Without shapes the batch is unknown: skipped, saying why.
        rc, stdout, stderr = run_cli("compile", FASHION_ONNX, "-o", out, "--tuning-budget-ms",
                                     "1000", timeout=300)
        self.assertEqual(rc, 0, stdout + stderr)
        self.assertRegex(stdout, r"tuning skipped: input 'image' has shape \[-?\w+,1,28,28\] "
                                 r"and no shape profile gives it an opt shape")

    def test_precisions(self):
        out = os.path.join(self.tmp, "best.plan")
        rc, stdout, stderr = compile_digits(out, "--precision", "best")
        self.assertEqual(rc, 1, stdout + stderr)
        self.assertIn("precision best needs calibration data", stderr)
        self.assertFalse(os.path.exists(out))
        rc, stdout, stderr = compile_digits(out, "--precision", "int8")
        self.assertEqual(rc, 1, stdout + stderr)
        self.assertIn("needs calibration data", stderr)

        # The Fashion-MNIST CNN (convolutions) in BF16 and INT8, served next
        # to its FP32 ONNX model: the same classes for real-looking inputs.
        rng = np.random.default_rng(3)
        calib = os.path.join(self.tmp, "calib")
        os.makedirs(calib)
        for k in range(3):
            np.save(os.path.join(calib, f"{k}.npy"),
                    rng.random((4, 1, 28, 28), dtype=np.float32))
        repo = make_repo({"fp32/config.pbtxt": 'backend: "onnxruntime"',
                          "fp32/1/model.onnx": open(FASHION_ONNX, "rb").read()})
        for precision, flags in (("int8", ["--calibration-data", calib]), ("bf16", []),
                                 ("best", ["--calibration-data", calib, "--verbose"])):
            out = os.path.join(repo, precision, "1", "model.plan")
            os.makedirs(os.path.dirname(out))
            rc, stdout, stderr = run_cli("compile", FASHION_ONNX, "-o", out, "--precision",
                                         precision, *flags, timeout=300)
            self.assertEqual(rc, 0, stdout + stderr)
            self.assertIn(f"precision {precision}", stdout)
            if precision == "best":
                # Each eligible convolution / product, timed in every precision.
                self.assertRegex(stdout, r"fastest at batch 1: fp32 [0-9.]+ ms, bf16 [0-9.]+ ms, "
                                         r"int8 [0-9.]+ ms")
        bad = os.path.join(self.tmp, "bad_calib")
        os.makedirs(bad)
        np.save(os.path.join(bad, "x.npy"), np.zeros((2, 28, 28), np.float32))
        rc, stdout, stderr = run_cli("compile", FASHION_ONNX, "-o", os.path.join(self.tmp, "x"),
                                     "--precision", "int8", "--calibration-data", bad,
                                     timeout=120)
        self.assertEqual(rc, 1)
        self.assertIn("x.npy has shape [2,28,28]", stderr)
        images = rng.random((4, 1, 28, 28), dtype=np.float32)
        body = {"inputs": [{"name": "image", "shape": list(images.shape), "datatype": "FP32",
                            "data": images.flatten().tolist()}]}
        with Server(repos=[repo]) as srv:
            got = {}
            for model in ("fp32", "int8", "bf16", "best"):
                r = requests.post(f"{srv.url}/v2/models/{model}/infer", json=body,
                                  timeout=TIMEOUT)
                self.assertEqual(r.status_code, 200, r.text)
                got[model] = np.array(r.json()["outputs"][0]["data"]).reshape(4, 10)
        for model in ("int8", "bf16", "best"):
            a, b = got[model].reshape(-1), got["fp32"].reshape(-1)
            self.assertGreater(a @ b / np.linalg.norm(a) / np.linalg.norm(b), 0.99, model)
            agree = np.mean(got[model].argmax(1) == got["fp32"].argmax(1))
            self.assertGreaterEqual(agree, 0.75, model)

    def test_bad_flags_exit_2_naming_the_flag(self):
        for flags, message in [
            (["--shapes", "pixels:4xq"], "--shapes: input 'pixels'"),
            (["--min-shapes", "pixels:1x64"], "needs both --min-shapes and --max-shapes"),
            (["--shapes", "pixels:4x65"], "dimension 1 is fixed at 64 by the model"),
            (["--shapes", "image:4x64"], "'image' is not an input of the model (inputs: pixels)"),
            (["--precision", "fp8"], "--precision"),
            (["--calibration-data", "/nonexistent"], "is not a directory"),
        ]:
            rc, stdout, stderr = compile_digits(os.path.join(self.tmp, "x.plan"), *flags)
            self.assertIn(rc, (1, 2), flags)
            self.assertIn(message, stderr, flags)
        rc, _, stderr = run_cli("compile", "/nonexistent.onnx", "-o", os.path.join(self.tmp, "y"))
        self.assertEqual(rc, 1)
        self.assertIn("cannot open '/nonexistent.onnx'", stderr)


class ServePlans(PlanTestCase):
    def test_plan_serves_the_same_outputs_as_the_onnx_model(self):
        plan = self.compiled()
        repo = make_repo({
            "onnx/config.pbtxt": 'backend: "onnxruntime"',
            "onnx/1/model.onnx": DIGITS_BYTES,
            "plan/config.pbtxt": 'platform: "nereid_plan"',
            "plan/1/model.plan": plan,
            # No config at all: model.plan names the platform.
            "detected/1/model.plan": plan,
        })
        with Server(repos=[repo]) as s:
            config = requests.get(f"{s.url}/v2/models/plan/config", timeout=TIMEOUT).json()
            self.assertEqual(config["platform"], "nereid_plan")
            self.assertEqual(config["default_model_filename"], "model.plan")
            self.assertEqual(config["max_batch_size"], 4)
            self.assertEqual(config["input"][0]["dims"], [64])
            detected = requests.get(f"{s.url}/v2/models/detected/config", timeout=TIMEOUT).json()
            self.assertEqual(detected["platform"], "nereid_plan")
            pixels = SAMPLES["pixels"][:4]
            expected = probabilities(infer(s.url, "onnx", pixels))
            for model in ("plan", "detected"):
                got = probabilities(infer(s.url, model, pixels))
                np.testing.assert_array_equal(got, expected)  # bit-identical
            np.testing.assert_allclose(expected, SAMPLES["probabilities"][:4], rtol=1e-5,
                                       atol=1e-6)
            self.assertIn("loaded plan file", s.stderr())

    def test_damaged_and_foreign_plans_are_unavailable_with_the_reason(self):
        plan = self.compiled()
        repo = make_repo({
            "good/1/model.plan": plan,
            "truncated/1/model.plan": plan[:len(plan) // 2],
            "corrupt/1/model.plan": plan[:-40] + bytes([plan[-40] ^ 1]) + plan[-39:],
            "other_cpu/1/model.plan": plan_file.rewrite_meta(
                plan, required=["avx512f", "amx_fp8"], compiled_on=["amx_fp8", "avx512f"]),
            "other_engine/1/model.plan": plan_file.rewrite_meta(plan, engine_version="0.0.1"),
            "onnx_as_plan/config.pbtxt": 'platform: "nereid_plan"',
            "onnx_as_plan/1/model.plan": DIGITS_BYTES,
        })
        with Server("--exit-on-error=false", repos=[repo]) as s:
            models = index(s.url)
            self.assertEqual(models["good"]["state"], "READY")
            expected = {
                "truncated": "truncated plan file",
                "corrupt": "plan section WGHT is corrupt (CRC-32C",
                "other_cpu": "plan needs CPU features this CPU lacks: amx_fp8",
                "other_engine": "plan was compiled by engine version 0.0.1",
                "onnx_as_plan": "not a Nereid plan file",
            }
            for name, reason in expected.items():
                self.assertEqual(models[name]["state"], "UNAVAILABLE", name)
                self.assertIn(reason, models[name]["reason"], name)
            probabilities(infer(s.url, "good", SAMPLES["pixels"][:1]))
            self.assertIsNone(s.proc.poll())

    def test_shapes_outside_the_profile_are_400_naming_the_input(self):
        plan = self.compiled("--min-shapes", "pixels:1x64", "--max-shapes", "pixels:2x64")
        unbatched = """platform: "nereid_plan" max_batch_size: 0
            input [ { name: "pixels" data_type: TYPE_FP32 dims: [ -1, 64 ] } ]
            output [ { name: "probabilities" data_type: TYPE_FP32 dims: [ -1, 10 ] } ]"""
        onnx_with_profile = """backend: "onnxruntime" max_batch_size: 0
            input [ { name: "pixels" data_type: TYPE_FP32 dims: [ -1, 64 ] } ]
            output [ { name: "probabilities" data_type: TYPE_FP32 dims: [ -1, 10 ] } ]
            parameters { key: "min_shapes" value { string_value: "pixels:1x64" } }
            parameters { key: "max_shapes" value { string_value: "pixels:2x64" } }"""
        repo = make_repo({
            "plan/config.pbtxt": unbatched,
            "plan/1/model.plan": plan,
            "onnx/config.pbtxt": onnx_with_profile,
            "onnx/1/model.onnx": DIGITS_BYTES,
            "auto/1/model.plan": plan,
            "too_big/config.pbtxt": 'platform: "nereid_plan" max_batch_size: 8',
            "too_big/1/model.plan": plan,
        })
        with Server("--exit-on-error=false", repos=[repo]) as s:
            for model in ("plan", "onnx"):
                probabilities(infer(s.url, model, SAMPLES["pixels"][:2]))
                r = infer(s.url, model, SAMPLES["pixels"][:3])
                self.assertEqual(r.status_code, 400, r.text)
                self.assertIn("input 'pixels': shape [3,64] is outside the plan's shape profile "
                              "(min [1,64], opt [2,64], max [2,64])", r.json()["error"])
            # Auto-complete takes max_batch_size from the profile ...
            auto = requests.get(f"{s.url}/v2/models/auto/config", timeout=TIMEOUT).json()
            self.assertEqual(auto["max_batch_size"], 2)
            # ... and a config asking for more is refused.
            models = index(s.url)
            self.assertEqual(models["too_big"]["state"], "UNAVAILABLE")
            self.assertIn("shape profile allows batches of at most 2", models["too_big"]["reason"])


def load_times(log):
    """(compile ms, cached load ms) from a server log."""
    compiled = [float(m) for m in re.findall(r"compiled and cached the plan as \S+ in ([\d.]+) ms",
                                             log)]
    loaded = [float(m) for m in re.findall(r"loaded cached plan \S+ in ([\d.]+) ms", log)]
    return compiled, loaded


class PlanCache(PlanTestCase):
    CONFIG = """backend: "onnxruntime"
        parameters { key: "precision" value { string_value: "fp32" } }
        parameters { key: "min_shapes" value { string_value: "pixels:1x64" } }
        parameters { key: "opt_shapes" value { string_value: "pixels:4x64" } }
        parameters { key: "max_shapes" value { string_value: "pixels:8x64" } }"""

    def test_restart_loads_the_cached_plan_and_a_corrupt_entry_is_recompiled(self):
        repo = make_repo({"digits/config.pbtxt": self.CONFIG,
                          "digits/1/model.onnx": DIGITS_BYTES})
        cache = os.path.join(self.tmp, "cache")
        pixels = SAMPLES["pixels"][:8]
        with Server("--cache-directory", cache, repos=[repo]) as s:
            first = probabilities(infer(s.url, "digits", pixels))
            compiled, _ = load_times(s.stderr())
        self.assertEqual(len(compiled), 1, "the first start compiles once")
        entries = os.listdir(cache)
        self.assertEqual(len(entries), 1)
        self.assertRegex(entries[0], r"^[0-9a-f]{64}\.plan$")

        with Server("--cache-directory", cache, repos=[repo]) as s:
            np.testing.assert_array_equal(probabilities(infer(s.url, "digits", pixels)), first)
            recompiled, loaded = load_times(s.stderr())
        self.assertEqual(recompiled, [], "a warm cache compiles nothing")
        self.assertTrue(loaded)
        self.assertLess(max(loaded), compiled[0], "loading the cached plan is faster")

        path = os.path.join(cache, entries[0])
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
        with Server("--cache-directory", cache, repos=[repo]) as s:
            np.testing.assert_array_equal(probabilities(infer(s.url, "digits", pixels)), first)
            log = s.stderr()
        self.assertIn("cached plan is unusable, compiling the model again", log)
        self.assertIn("truncated plan file", log)
        self.assertEqual(len(load_times(log)[0]), 1)

    def test_tuned_at_load_then_cached_and_reused_without_tuning(self):
        config = ('backend: "onnxruntime"\n'
                  'parameters { key: "shapes" value { string_value: "image:2x1x28x28" } }\n'
                  'parameters { key: "tuning_budget_ms" value { string_value: "5000" } }\n')
        with open(FASHION_ONNX, "rb") as f:
            repo = make_repo({"fashion/config.pbtxt": config, "fashion/1/model.onnx": f.read()})
        cache = os.path.join(self.tmp, "cache")
        image = np.random.default_rng(4).random((2, 1, 28, 28), dtype=np.float32)

        def classify(url):
            body = {"inputs": [{"name": "image", "shape": [2, 1, 28, 28], "datatype": "FP32",
                                "data": image.flatten().tolist()}]}
            return probabilities(requests.post(f"{url}/v2/models/fashion/infer", json=body,
                                               timeout=TIMEOUT))

        with Server("--cache-directory", cache, repos=[repo]) as s:
            first = classify(s.url)
            log = s.stderr()
        self.assertRegex(log, r"model 'fashion': auto-tuning at \[2,1,28,28\] tuned \d+ nodes "
                              r"\(\d+ changed, 0 left untuned\) in \d+ ms")
        with open(os.path.join(cache, os.listdir(cache)[0]), "rb") as f:
            kern = plan_file.decode_kernels(dict(plan_file.read_sections(f.read()))["KERN"])
        with Server("--cache-directory", cache, repos=[repo]) as s:
            np.testing.assert_allclose(classify(s.url), first, rtol=1e-5, atol=1e-6)
            log = s.stderr()
        self.assertEqual(load_times(log)[0], [], "a warm cache compiles nothing")
        self.assertNotIn("auto-tuning", log, "the cached plan's choices are reused, not re-timed")
        self.assertEqual(len(kern), 9)

    def test_other_settings_are_another_entry(self):
        repo = make_repo({"digits/config.pbtxt": self.CONFIG,
                          "digits/1/model.onnx": DIGITS_BYTES})
        cache = os.path.join(self.tmp, "cache")
        with Server("--cache-directory", cache, repos=[repo]):
            pass
        with open(os.path.join(repo, "digits", "config.pbtxt"), "w") as f:
            f.write(self.CONFIG.replace("pixels:8x64", "pixels:4x64"))
        with Server("--cache-directory", cache, repos=[repo]) as s:
            self.assertEqual(len(load_times(s.stderr())[0]), 1)
        self.assertEqual(len(os.listdir(cache)), 2)

    def test_bad_compile_settings_fail_the_load_naming_them(self):
        repo = make_repo({
            "int8/config.pbtxt": 'backend: "onnxruntime"\n'
                                 'parameters { key: "precision" value { string_value: "int8" } }',
            "int8/1/model.onnx": DIGITS_BYTES,
            "bad_shape/config.pbtxt": 'backend: "onnxruntime"\n'
                                      'parameters { key: "shapes" value { string_value: "x:1" } }',
            "bad_shape/1/model.onnx": DIGITS_BYTES,
            "openvino/config.pbtxt": 'backend: "onnxruntime"\noptimization { '
                                     'execution_accelerators { cpu_execution_accelerator: '
                                     '[ { name: "openvino" } ] } }',
            "openvino/1/model.onnx": DIGITS_BYTES,
            "empty_calib/config.pbtxt": INT8_CONFIG,
            "empty_calib/1/model.onnx": DIGITS_BYTES,
            "empty_calib/calib": None,
            "f64_calib/config.pbtxt": INT8_CONFIG,
            "f64_calib/1/model.onnx": DIGITS_BYTES,
        })
        os.makedirs(os.path.join(repo, "f64_calib", "calib"))
        np.save(os.path.join(repo, "f64_calib", "calib", "a.npy"), np.zeros((2, 64)))
        with Server("--exit-on-error=false", "--cache-directory",
                    os.path.join(self.tmp, "cache"), repos=[repo]) as s:
            models = index(s.url)
        self.assertIn("precision int8 needs calibration data", models["int8"]["reason"])
        self.assertIn("'x' is not an input of the model", models["bad_shape"]["reason"])
        self.assertIn("holds no samples", models["empty_calib"]["reason"])
        self.assertIn("a.npy holds FP64; input 'pixels' is FP32", models["f64_calib"]["reason"])
        self.assertIn("cpu_execution_accelerator 'openvino' is not supported",
                      models["openvino"]["reason"])


IDENTITY = """backend: "identity" max_batch_size: 4
    input [ { name: "IN" data_type: TYPE_FP32 dims: [ 2 ] } ]
    output [ { name: "OUT" data_type: TYPE_FP32 dims: [ 2 ] } ]
    instance_group [ { count: 2 kind: KIND_CPU } ]
    parameters { key: "execute_delay_ms" value { string_value: "DELAY" } }
"""


def warmup(name, dtype="TYPE_FP32", data="zero_data: true", batch=1, count=1):
    return f"""model_warmup [ {{ name: "{name}" batch_size: {batch} count: {count}
        inputs {{ key: "IN" value {{ data_type: {dtype} dims: [ 2 ] {data} }} }} }} ]"""


class ModelWarmup(PlanTestCase):
    def test_warmup_runs_on_every_instance_before_the_model_is_ready(self):
        repo = make_repo({
            "slow/config.pbtxt": IDENTITY.replace("DELAY", "400") + warmup("w", count=2),
            "slow/1": None,
            "digits/config.pbtxt": 'backend: "onnxruntime" max_batch_size: 4\n' + """
                model_warmup [ { name: "from_file" batch_size: 2
                  inputs { key: "pixels" value { data_type: TYPE_FP32 dims: [ 64 ]
                                                 input_data_file: "pixels.bin" } } } ]""",
            "digits/warmup/pixels.bin": SAMPLES["pixels"][0].astype(np.float32).tobytes(),
            "digits/1/model.onnx": DIGITS_BYTES,
        })
        with Server("--model-control-mode", "explicit", repos=[repo]) as s:
            start = time.time()
            r = requests.post(f"{s.url}/v2/repository/models/slow/load", timeout=TIMEOUT)
            elapsed = time.time() - start
            self.assertEqual(r.status_code, 200, r.text)
            # 2 instances x 2 executions x 400 ms, one instance at a time.
            self.assertGreaterEqual(elapsed, 1.6)
            ready = requests.get(f"{s.url}/v2/models/slow/ready", timeout=TIMEOUT)
            self.assertEqual(ready.status_code, 200)
            r = requests.post(f"{s.url}/v2/repository/models/digits/load", timeout=TIMEOUT)
            self.assertEqual(r.status_code, 200, r.text)
            log = s.stderr()
        self.assertEqual(len(re.findall(r"model_warmup sample 'w' ran 2 time\(s\) on instance", log)),
                         2)
        self.assertIn("model_warmup sample 'from_file' ran 1 time(s)", log)

    def test_a_failing_warmup_fails_the_load_naming_the_sample(self):
        repo = make_repo({
            "wrong_type/config.pbtxt": IDENTITY.replace("DELAY", "0") +
                                       warmup("int_sample", dtype="TYPE_INT32"),
            "wrong_type/1": None,
            "missing_file/config.pbtxt": IDENTITY.replace("DELAY", "0") +
                                         warmup("file_sample", data='input_data_file: "no.bin"'),
            "missing_file/1": None,
            "fine/config.pbtxt": IDENTITY.replace("DELAY", "0") + warmup("ok", batch=4),
            "fine/1": None,
        })
        with Server("--exit-on-error=false", repos=[repo]) as s:
            models = index(s.url)
        self.assertEqual(models["fine"]["state"], "READY")
        self.assertEqual(models["wrong_type"]["state"], "UNAVAILABLE")
        self.assertIn("model_warmup sample 'int_sample': inference input 'IN' data-type is "
                      "'INT32'", models["wrong_type"]["reason"])
        self.assertIn("model_warmup sample 'file_sample', input 'IN': input_data_file",
                      models["missing_file"]["reason"])


if __name__ == "__main__":
    unittest.main()
