"""End-to-end tests of the pytorch (TorchScript) backend: the real nereid
binary loading build/backends/libnereid_backend_pytorch.so on first use.

Run: NEREID_BIN=build/nereid /usr/bin/python3 -m unittest -v test_torch
(from tests/e2e)

TorchBackendTest writes the models of tests/models/export_torch_models.py
into a temporary directory (about 3 s; ResNet-18 is 47 MB) and compares the
server's answers with PyTorch's (python3-torch, the same libtorch) computed
here. It and ExampleTest skip, saying why, when the plugin is not built (as in
sanitizer builds); NEREID_EXPECT_TORCH_PLUGIN=1 (set by CMake when it builds
the plugin) turns a missing plugin into a failure. PluginLoadingTest runs in
every build: libtorch is mapped only once a pytorch model loads, and a
missing plugin (or a build without one) is a precise load error.
"""
import atexit
import concurrent.futures
import os
import shutil
import sys
import tempfile
import unittest

import grpc
import numpy as np
import requests

from server_fixture import REPO_ROOT, Server, copy_example, generate_pb, make_repo, nereid_binary, \
    run_cli
from test_http import binary_request, split_binary_response

sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "models"))

TIMEOUT = 60
PLUGIN = os.path.join(os.path.dirname(os.path.abspath(nereid_binary())), "backends",
                      "libnereid_backend_pytorch.so")
# A repository with only the example's TorchScript model.
_torch_examples = None


def torch_examples():
    global _torch_examples
    if _torch_examples is None:
        _torch_examples = make_repo({})
        atexit.register(shutil.rmtree, _torch_examples, True)
        shutil.copytree(os.path.join(REPO_ROOT, "examples", "model_repository", "digits_cnn"),
                        os.path.join(_torch_examples, "digits_cnn"))
    return _torch_examples
SERVICE = "/inference.GRPCInferenceService/"


def require_plugin():
    if os.path.exists(PLUGIN):
        return
    if os.environ.get("NEREID_EXPECT_TORCH_PLUGIN") == "1":
        raise AssertionError(f"this build should have the pytorch plugin, but {PLUGIN} is missing")
    raise unittest.SkipTest(f"no pytorch backend plugin: {PLUGIN} is not built "
                            "(configure with libtorch-dev and NEREID_TORCH=AUTO or ON)")


def rel_error(got, want):
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))


def index_reasons(url):
    r = requests.post(f"{url}/v2/repository/index", timeout=TIMEOUT)
    r.raise_for_status()
    return {m["name"]: (m["state"], m.get("reason", "")) for m in r.json()}


def mapped_libtorch(server):
    with open(f"/proc/{server.proc.pid}/maps") as f:
        return "libtorch_cpu" in f.read()


class TorchBackendTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_plugin()
        import torch
        import export_torch_models
        cls.torch = torch
        torch.set_num_threads(1)
        cls.repo = tempfile.mkdtemp(prefix="nereid_torch_")
        export_torch_models.export(cls.repo)
        named = os.path.join(cls.repo, "named_args", "1", "model.pt")
        vec = "dims: [ -1 ]"

        def extra(name, config, model=named):
            os.makedirs(os.path.join(cls.repo, name, "1"))
            with open(os.path.join(cls.repo, name, "config.pbtxt"), "w") as f:
                f.write(config)
            path = os.path.join(cls.repo, name, "1", "model.pt")
            if isinstance(model, bytes):
                with open(path, "wb") as f:
                    f.write(model)
            else:
                os.symlink(model, path)

        io = (f'input [ {{ name: "image" data_type: TYPE_FP32 {vec} }}, '
              f'{{ name: "offset" data_type: TYPE_FP32 {vec} }} ]\n')
        out = f'output [ {{ name: "OUTPUT__0" data_type: TYPE_FP32 {vec} }} ]\n'
        head = 'platform: "pytorch_libtorch"\nmax_batch_size: 4\n'
        def params(**kv):
            return "".join(f'parameters {{ key: "{k}" value {{ string_value: "{v}" }} }}\n'
                           for k, v in kv.items())
        # Models that must fail to load, or to run, and one with every setting
        # off its default and two instances (the second a clone()).
        extra("garbage", head + io + out, b"this is not a TorchScript archive\n")
        extra("bad_input_name", head + io.replace('"offset"', '"pixels"') + out)
        extra("bytes_input", head + io.replace("TYPE_FP32", "TYPE_STRING", 1) + out)
        extra("no_io", 'platform: "pytorch_libtorch"\n')
        extra("bad_parameter", head + io + out + params(INFERENCE_MODE="maybe"))
        extra("wrong_output_type", head + io + out.replace("TYPE_FP32", "TYPE_INT32"))
        extra("tuned", head + io + out + "instance_group [ { count: 2 kind: KIND_CPU } ]\n" +
              params(INFERENCE_MODE="false", DISABLE_OPTIMIZED_EXECUTION="true",
                     INTRA_OP_THREAD_COUNT=2, INTER_OP_THREAD_COUNT=1))
        cls.server = Server("--exit-on-error=false", repos=[cls.repo])
        cls.url = cls.server.url
        cls.gen = tempfile.mkdtemp(prefix="nereid_torch_pb_")
        cls.pb = generate_pb(cls.gen)
        cls.channel = grpc.insecure_channel(cls.server.grpc_target, options=[
            ("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)])
        cls.resnet = torch.jit.load(os.path.join(cls.repo, "resnet18", "1", "model.pt"))

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        code = cls.server.stop()
        cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.repo, ignore_errors=True)
        shutil.rmtree(cls.gen, ignore_errors=True)
        assert code == 0, f"nereid exited with {code}"

    # -- helpers -------------------------------------------------------------

    def reference(self, module, *args):
        with self.torch.inference_mode():
            return module(*[self.torch.from_numpy(a) for a in args])

    def infer_binary(self, model, inputs, outputs):
        """inputs: {name: ndarray}; returns {name: raw bytes} (binary HTTP both ways)."""
        js = {"inputs": [{"name": n, "shape": list(a.shape), "datatype": dt,
                          "parameters": {"binary_data_size": a.nbytes}}
                         for n, (a, dt) in inputs.items()],
              "outputs": [{"name": n, "parameters": {"binary_data": True}} for n in outputs]}
        body, headers = binary_request(js, [a.tobytes() for a, _ in inputs.values()])
        r = requests.post(f"{self.url}/v2/models/{model}/infer", data=body, headers=headers,
                          timeout=TIMEOUT)
        self.assertEqual(r.status_code, 200, r.text[:500])
        return split_binary_response(r)

    def infer_json(self, model, inputs):
        js = {"inputs": [{"name": n, "shape": list(a.shape), "datatype": dt,
                          "data": a.ravel().tolist()} for n, (a, dt) in inputs.items()]}
        return requests.post(f"{self.url}/v2/models/{model}/infer", json=js, timeout=TIMEOUT)

    def grpc_infer(self, model, inputs):
        req = self.pb.ModelInferRequest(model_name=model)
        for name, (a, dt) in inputs.items():
            req.inputs.add(name=name, datatype=dt, shape=list(a.shape))
            req.raw_input_contents.append(np.ascontiguousarray(a).tobytes())
        stub = self.channel.unary_unary(SERVICE + "ModelInfer",
                                        request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=self.pb.ModelInferResponse.FromString)
        resp = stub(req, timeout=TIMEOUT)
        return {o.name: (o.datatype, list(o.shape), resp.raw_output_contents[i])
                for i, o in enumerate(resp.outputs)}

    def stats(self, model):
        r = requests.get(f"{self.url}/v2/models/{model}/stats", timeout=TIMEOUT)
        r.raise_for_status()
        return r.json()["model_stats"][0]

    # -- ResNet-18 against PyTorch ----------------------------------------------

    def test_resnet18_binary_http_matches_pytorch(self):
        x = np.random.default_rng(1).random((1, 3, 224, 224), dtype=np.float32)
        header, raw = self.infer_binary("resnet18", {"INPUT__0": (x, "FP32")}, ["OUTPUT__0"])
        out = header["outputs"][0]
        self.assertEqual((out["datatype"], out["shape"]), ("FP32", [1, 1000]))
        got = np.frombuffer(raw["OUTPUT__0"], np.float32).reshape(1, 1000)
        want = self.reference(self.resnet, x).numpy()
        self.assertLess(rel_error(got, want), 1e-5)
        # MarkInferStart/End split the compute time as Triton's statistics do.
        s = self.stats("resnet18")["inference_stats"]
        self.assertGreater(s["compute_infer"]["ns"], 0)
        self.assertGreater(s["compute_input"]["count"], 0)

    def test_resnet18_dynamic_batch_matches_pytorch(self):
        # Four concurrent requests meet in the 1 s queue delay and run as one
        # batch of four (max_batch_size 4); each answer must still be its own.
        xs = [np.random.default_rng(10 + i).random((1, 3, 224, 224), dtype=np.float32)
              for i in range(4)]
        before = self.stats("resnet18_batched")
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            results = list(pool.map(
                lambda x: self.infer_binary("resnet18_batched", {"INPUT__0": (x, "FP32")},
                                            ["OUTPUT__0"]), xs))
        for x, (_, raw) in zip(xs, results):
            got = np.frombuffer(raw["OUTPUT__0"], np.float32).reshape(1, 1000)
            self.assertLess(rel_error(got, self.reference(self.resnet, x).numpy()), 1e-5)
        after = self.stats("resnet18_batched")
        self.assertEqual(after["inference_count"] - before["inference_count"], 4)
        self.assertEqual(after["execution_count"] - before["execution_count"], 1)
        self.assertIn(4, [b["batch_size"] for b in after["batch_stats"]])

    def test_resnet18_request_batch_over_grpc_matches_pytorch(self):
        x = np.random.default_rng(2).random((2, 3, 224, 224), dtype=np.float32)
        outs = self.grpc_infer("resnet18", {"INPUT__0": (x, "FP32")})
        dt, shape, raw = outs["OUTPUT__0"]
        self.assertEqual((dt, shape), ("FP32", [2, 1000]))
        got = np.frombuffer(raw, np.float32).reshape(2, 1000)
        self.assertLess(rel_error(got, self.reference(self.resnet, x).numpy()), 1e-5)

    # -- failures while serving ------------------------------------------------

    def test_raising_model_fails_cleanly_and_server_keeps_serving(self):
        bad = np.array([[1.0, -5.0, 1.0]], np.float32)
        r = self.infer_json("raising", {"INPUT__0": (bad, "FP32")})
        self.assertEqual(r.status_code, 500, r.text)
        self.assertEqual(r.json()["error"], "TorchScript forward() of model 'raising' failed: "
                                            "builtins.ValueError: negative input")
        with self.assertRaises(grpc.RpcError) as e:
            self.grpc_infer("raising", {"INPUT__0": (bad, "FP32")})
        self.assertEqual(e.exception.code(), grpc.StatusCode.INTERNAL)
        self.assertIn("negative input", e.exception.details())
        # Still serving: liveness, the model's readiness (the server's is 400
        # here: this repository holds models that fail to load on purpose),
        # the same model, another model.
        for path in ("/v2/health/live", "/v2/models/raising/ready"):
            self.assertEqual(requests.get(self.url + path, timeout=TIMEOUT).status_code, 200)
        good = np.array([[1.0, 5.0, 1.0]], np.float32)
        r = self.infer_json("raising", {"INPUT__0": (good, "FP32")})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["outputs"][0]["data"], [2, 10, 2])
        x = np.random.default_rng(3).random((1, 3, 224, 224), dtype=np.float32)
        self.infer_binary("resnet18", {"INPUT__0": (x, "FP32")}, ["OUTPUT__0"])
        s = self.stats("raising")["inference_stats"]
        self.assertGreaterEqual(s["fail"]["count"], 2)

    def test_output_type_other_than_the_config_says_is_a_clean_error(self):
        a = np.ones((1, 2), np.float32)
        r = self.infer_json("wrong_output_type", {"image": (a, "FP32"), "offset": (a, "FP32")})
        self.assertEqual(r.status_code, 500, r.text)
        self.assertIn("output 'OUTPUT__0': forward() returned a Float tensor but the config "
                      "declares TYPE_INT32", r.json()["error"])

    # -- names, outputs, types -------------------------------------------------

    def test_inputs_bind_by_argument_name_and_by_index(self):
        image = np.array([[5, 6, 7]], np.float32)
        offset = np.array([[2, 2, 1]], np.float32)
        r = self.infer_json("named_args", {"offset": (offset, "FP32"), "image": (image, "FP32")})
        self.assertEqual(r.json()["outputs"][0]["data"], [3, 4, 6], r.text)
        # indexed_args lists INPUT__1 (forward's `offset`) first in its config.
        r = self.infer_json("indexed_args", {"INPUT__0": (image, "FP32"),
                                             "INPUT__1": (offset, "FP32")})
        self.assertEqual(r.json()["outputs"][0]["data"], [3, 4, 6], r.text)

    def test_two_instances_with_every_setting_changed(self):
        def run(i):
            image = np.full((1, 3), float(i), np.float32)
            offset = np.ones((1, 3), np.float32)
            r = self.infer_json("tuned", {"image": (image, "FP32"), "offset": (offset, "FP32")})
            self.assertEqual(r.status_code, 200, r.text)
            return r.json()["outputs"][0]["data"]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(run, range(16)))
        self.assertEqual(results, [[i - 1.0] * 3 for i in range(16)])

    def test_tuple_and_list_outputs_map_by_position(self):
        a = np.array([[5, 6]], np.int64)
        b = np.array([[2, 3]], np.int64)
        r = self.infer_json("tuple_output", {"INPUT__0": (a, "INT64"), "INPUT__1": (b, "INT64")})
        outs = {o["name"]: o["data"] for o in r.json()["outputs"]}
        # The config asks for OUTPUT__2 (a * b) and OUTPUT__0 (a + b), not OUTPUT__1.
        self.assertEqual(outs, {"OUTPUT__2": [10, 18], "OUTPUT__0": [7, 9]})
        x = np.array([[1, 2], [3, 4]], np.float32)
        outs = self.grpc_infer("list_output", {"INPUT__0": (x, "FP32")})
        self.assertEqual(np.frombuffer(outs["OUTPUT__0"][2], np.float32).tolist(), [2, 3, 4, 5])
        self.assertEqual(np.frombuffer(outs["OUTPUT__1"][2], np.float32).tolist(), [3, 6, 9, 12])
        self.assertEqual(outs["OUTPUT__1"][1], [2, 2])

    def test_dict_input_binds_by_key(self):
        alpha = np.array([[1, 2]], np.float32)
        beta = np.array([[10, 20]], np.float32)
        outs = self.grpc_infer("dict_input", {"beta": (beta, "FP32"), "alpha": (alpha, "FP32")})
        self.assertEqual(np.frombuffer(outs["OUTPUT__0"][2], np.float32).tolist(), [12, 24])

    def test_every_supported_data_type(self):
        import export_torch_models
        rng = np.random.default_rng(4)
        args = {"b": np.array([True, False, True]),
                "u8": np.array([0, 7, 254], np.uint8), "i8": np.array([-100, 0, 100], np.int8),
                "i16": np.array([-3, 0, 300], np.int16), "i32": np.array([1, -2, 3], np.int32),
                "i64": np.array([2**40, -1, 5], np.int64),
                "f16": rng.random(3).astype(np.float16), "f64": rng.random(3)}
        kinds = {n: t.replace("TYPE_", "") for n, t, _ in export_torch_models.DTYPE_ARGS}
        outs = self.grpc_infer("dtypes", {n: (a, kinds[n]) for n, a in args.items()})
        module = self.torch.jit.load(os.path.join(self.repo, "dtypes", "1", "model.pt"))
        want = self.reference(module, *args.values())
        for i, (name, a) in enumerate(args.items()):
            dt, shape, raw = outs[f"OUTPUT__{i}"]
            self.assertEqual((dt, shape), (kinds[name], [3]))
            np.testing.assert_array_equal(np.frombuffer(raw, a.dtype), want[i].numpy(),
                                          err_msg=name)

    def test_sequence_control_and_state_bind_like_inputs(self):
        def step(value, start=False, end=False):
            js = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [value]}],
                  "parameters": {"sequence_id": 7, "sequence_start": start, "sequence_end": end}}
            r = requests.post(f"{self.url}/v2/models/accumulator/infer", json=js,
                              timeout=TIMEOUT)
            self.assertEqual(r.status_code, 200, r.text)
            # The state output stays in the server.
            self.assertEqual([o["name"] for o in r.json()["outputs"]], ["OUTPUT__0"])
            return r.json()["outputs"][0]["data"][0]
        self.assertEqual([step(1, start=True), step(2), step(4, end=True)], [1, 3, 7])
        self.assertEqual(step(10, start=True, end=True), 10)

    # -- load errors -----------------------------------------------------------

    def test_models_that_cannot_be_served_fail_to_load_saying_why(self):
        reasons = index_reasons(self.url)
        expect = {
            "garbage": ("is not a TorchScript model that libtorch 1.13",
                        "PytorchStreamReader failed reading zip archive"),
            "bad_input_name": ("input names must all be forward(image, offset)'s argument names "
                               "or all follow <name>__<index>", "input 'pixels' is neither"),
            "bytes_input": ("input 'image' has type TYPE_STRING, which the pytorch backend does "
                            "not support",),
            "no_io": ("TorchScript files carry no tensor types or shapes",
                      "this model's is forward(image, offset) -> Tensor"),
            "bad_parameter": ("parameter 'INFERENCE_MODE' must be true or false, got 'maybe'",),
            "dict_output": ("forward() returns Dict[str, Tensor]: outputs are bound by position",),
        }
        for name, needles in expect.items():
            state, reason = reasons[name]
            self.assertEqual(state, "UNAVAILABLE", name)
            for needle in needles:
                self.assertIn(needle, reason, name)
        for name in ("resnet18", "resnet18_batched", "raising", "named_args", "indexed_args",
                     "tuple_output", "list_output", "dict_input", "dtypes", "accumulator",
                     "tuned"):
            self.assertEqual(reasons[name][0], "READY", (name, reasons[name]))


class ExampleTest(unittest.TestCase):
    def test_digits_cnn_example_classifies_like_pytorch(self):
        require_plugin()
        import torch
        ref = np.load(os.path.join(REPO_ROOT, "examples", "digits_samples.npz"))
        pixels = ref["pixels"]
        with Server(repos=[torch_examples()]) as s:
            js = {"inputs": [{"name": "pixels", "shape": list(pixels.shape), "datatype": "FP32",
                              "data": pixels.ravel().tolist()}]}
            r = requests.post(f"{s.url}/v2/models/digits_cnn/infer", json=js, timeout=TIMEOUT)
            self.assertEqual(r.status_code, 200, r.text)
            got = np.array(r.json()["outputs"][0]["data"], np.float32).reshape(len(pixels), 10)
        module = torch.jit.load(os.path.join(torch_examples(), "digits_cnn", "1", "model.pt"))
        with torch.inference_mode():
            want = module(torch.from_numpy(pixels)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
        self.assertGreaterEqual((got.argmax(1) == ref["labels"]).mean(), 0.9)


class PluginLoadingTest(unittest.TestCase):
    """Runs with or without the plugin: what a build without libtorch says
    is checked by the same tests."""

    def load(self, server, name):
        return requests.post(f"{server.url}/v2/repository/models/{name}/load", timeout=TIMEOUT)

    def test_libtorch_is_mapped_only_when_a_pytorch_model_loads(self):
        root = make_repo({})
        try:
            copy_example(root, "identity_fp32")
            shutil.copytree(os.path.join(torch_examples(), "digits_cnn"),
                            os.path.join(root, "digits_cnn"))
            with Server("--model-control-mode=explicit", "--load-model=identity_fp32",
                        repos=[root]) as s:
                self.assertFalse(mapped_libtorch(s))
                r = self.load(s, "digits_cnn")
                if os.path.exists(PLUGIN):
                    self.assertEqual(r.status_code, 200, r.text)
                    self.assertTrue(mapped_libtorch(s))
                else:
                    self.assertEqual(r.status_code, 400)
                    self.assertIn("backend 'pytorch' is not available: this build of nereid has "
                                  "no libtorch backend", r.text)
                    self.assertFalse(mapped_libtorch(s))
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def test_missing_plugin_is_a_load_error_naming_the_file(self):
        root = make_repo({"m/config.pbtxt": 'platform: "pytorch_libtorch"\n',
                          "m/1/model.pt": b"unused"})
        empty = tempfile.mkdtemp(prefix="nereid_no_backends_")
        try:
            with Server("--exit-on-error=false", "--backend-directory", empty, repos=[root]) as s:
                state, reason = index_reasons(s.url)["m"]
            self.assertEqual(state, "UNAVAILABLE")
            if os.path.exists(PLUGIN):
                self.assertIn(f"backend 'pytorch': cannot load the plugin {empty}/"
                              "libnereid_backend_pytorch.so: ", reason)
                self.assertIn("cannot open shared object file", reason)  # dlerror's text
            else:
                self.assertIn("this build of nereid has no libtorch backend", reason)
        finally:
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(empty, ignore_errors=True)

    def test_backend_directory_must_exist(self):
        code, _, err = run_cli("serve", "--model-repository", torch_examples(),
                               "--backend-directory", "/nonexistent/backends")
        self.assertNotEqual(code, 0)
        self.assertIn("--backend-directory", err)
        self.assertIn("/nonexistent/backends", err)


if __name__ == "__main__":
    unittest.main()
