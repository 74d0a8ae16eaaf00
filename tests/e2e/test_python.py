"""End-to-end tests of the Python backend (backend: "python", model.py with
TritonPythonModel, the triton_python_backend_utils API): Triton's example
models (tests/models/python), BLS into ONNX and decoupled models, decoupled
responses streamed over gRPC, auto_complete_config, and faults a model can
have (syntax errors, exceptions, wrong responses, a worker that exits, is
killed by a signal or hangs) with the server still serving.

Run: NEREID_BIN=build/nereid /usr/bin/python3 -m unittest -v test_python
(from tests/e2e)
"""
import os
import shutil
import tempfile
import threading
import unittest

import grpc
import numpy as np
import requests

from server_fixture import EXAMPLES, REPO_ROOT, Server, generate_pb, make_repo

TIMEOUT = 60
MODELS = os.path.join(REPO_ROOT, "tests", "models", "python")


def infer(url, model, inputs, parameters=None, timeout=TIMEOUT):
    """inputs: [(name, datatype, shape, flat data list)]."""
    body = {"inputs": [{"name": n, "datatype": t, "shape": s, "data": d}
                       for n, t, s, d in inputs]}
    if parameters:
        body["parameters"] = parameters
    return requests.post(f"{url}/v2/models/{model}/infer", json=body, timeout=timeout)


def outputs(response):
    assert response.status_code == 200, response.text
    return {o["name"]: o["data"] for o in response.json()["outputs"]}


def simple_inputs(a, b):
    return [("INPUT0", "INT32", [1, 16], a), ("INPUT1", "INT32", [1, 16], b)]


class TritonExamples(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="nereid_py_repo_")
        for name in os.listdir(MODELS):
            shutil.copytree(os.path.join(MODELS, name), os.path.join(cls.root, name))
        shutil.copytree(os.path.join(EXAMPLES, "simple"), os.path.join(cls.root, "simple"))
        cls.server = Server(repos=[cls.root])
        cls.url = cls.server.url

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.root)

    def test_every_model_loads(self):
        index = requests.post(f"{self.url}/v2/repository/index", timeout=TIMEOUT).json()
        states = {e["name"]: (e["state"], e.get("reason", "")) for e in index}
        for name in os.listdir(MODELS):
            self.assertEqual(states[name][0], "READY", states[name])

    def test_add_sub(self):
        r = infer(self.url, "py_add_sub", [("INPUT0", "FP32", [1, 4], [1, 2, 3, 4]),
                                           ("INPUT1", "FP32", [1, 4], [0.5, 1, 1, 5])])
        out = outputs(r)
        self.assertEqual(out["OUTPUT0"], [1.5, 3, 4, 9])
        self.assertEqual(out["OUTPUT1"], [0.5, 1, 2, -1])
        self.assertIn("batch_of_requests", r.json().get("parameters", {}))

    def test_add_sub_concurrent_requests_are_batched_correctly(self):
        errors = []
        sizes = []

        def client(k):
            for i in range(10):
                a = [float(k), float(i), 1.0, 2.0]
                b = [1.0, 1.0, float(k), 0.0]
                r = infer(self.url, "py_add_sub", [("INPUT0", "FP32", [1, 4], a),
                                                   ("INPUT1", "FP32", [1, 4], b)])
                got = outputs(r)
                if got["OUTPUT0"] != [x + y for x, y in zip(a, b)] or \
                        got["OUTPUT1"] != [x - y for x, y in zip(a, b)]:
                    errors.append((k, i, got))
                sizes.append(r.json()["parameters"]["batch_of_requests"])

        threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT)
        self.assertEqual(errors, [])
        self.assertEqual(len(sizes), 60)

    def test_bytes_identity(self):
        values = ["hello", "", "wörld", "a" * 1000]
        out = outputs(infer(self.url, "py_identity_bytes",
                            [("INPUT0", "BYTES", [len(values)], values)]))
        self.assertEqual(out["OUTPUT0"], values)

    def test_sequence_accumulator_with_controls(self):
        def step(seq, value, start=False, end=False):
            params = {"sequence_id": seq, "sequence_start": start, "sequence_end": end}
            return outputs(infer(self.url, "py_accumulator",
                                 [("INPUT", "INT32", [1, 1], [value])], params))["OUTPUT"][0]

        self.assertEqual(step(11, 5, start=True), 5)
        self.assertEqual(step(22, 100, start=True), 100)
        self.assertEqual(step(11, 2), 7)
        self.assertEqual(step(22, 1), 101)
        self.assertEqual(step(11, 3, end=True), 10)
        self.assertEqual(step(22, -1, end=True), 100)
        # A new sequence with the same ID starts from zero.
        self.assertEqual(step(11, 4, start=True, end=True), 4)

    def test_bls_sync_and_async_into_onnx(self):
        a = list(range(16))
        b = [3] * 16
        want = outputs(infer(self.url, "simple", simple_inputs(a, b)))
        self.assertEqual(outputs(infer(self.url, "py_bls_simple", simple_inputs(a, b))), want)
        self.assertEqual(outputs(infer(self.url, "py_bls_simple", simple_inputs(a, b),
                                       {"async": True})), want)

    def test_bls_error_reaches_the_model(self):
        r = infer(self.url, "py_bls_simple", simple_inputs([1] * 16, [1] * 16),
                  {"target": "no_such_model"})
        self.assertNotEqual(r.status_code, 200)
        self.assertIn("BLS call failed", r.json()["error"])
        self.assertIn("no_such_model", r.json()["error"])

    def test_bls_into_decoupled_model(self):
        out = outputs(infer(self.url, "py_bls_repeat", [("IN", "INT32", [1], [5])]))
        self.assertEqual(out["COUNT"], [5])
        self.assertEqual(out["SUM"], [0 + 1 + 2 + 3 + 4])

    def test_decoupled_responses_stream_over_grpc(self):
        gen = tempfile.mkdtemp(prefix="nereid_py_pb_")
        try:
            pb = generate_pb(gen)
            reqs = []
            for n in (4, 0, 2):
                req = pb.ModelInferRequest(model_name="py_repeat", id=f"n{n}")
                req.inputs.add(name="IN", datatype="INT32", shape=[1])
                req.raw_input_contents.append(np.array([n], "<i4").tobytes())
                req.parameters["triton_enable_empty_final_response"].bool_param = True
                reqs.append(req)
            with grpc.insecure_channel(self.server.grpc_target) as ch:
                stub = ch.stream_stream(
                    "/inference.GRPCInferenceService/ModelStreamInfer",
                    request_serializer=lambda m: m.SerializeToString(),
                    response_deserializer=pb.ModelStreamInferResponse.FromString)
                got = list(stub(iter(reqs), timeout=TIMEOUT))
            self.assertEqual([m.error_message for m in got], [""] * len(got))
            by_id = {}
            for m in got:
                r = m.infer_response
                final = r.parameters["triton_final_response"].bool_param
                vals = [int(np.frombuffer(c, "<i4")[0]) for c in r.raw_output_contents]
                by_id.setdefault(r.id, []).append((vals, final))
            self.assertEqual(by_id["n4"], [([0], False), ([1], False), ([2], False),
                                           ([3], False), ([], True)])
            self.assertEqual(by_id["n0"], [([], True)])
            self.assertEqual(by_id["n2"], [([0], False), ([1], False), ([], True)])
        finally:
            shutil.rmtree(gen)

    def test_decoupled_model_over_http_is_refused(self):
        r = infer(self.url, "py_repeat", [("IN", "INT32", [1], [2])])
        self.assertEqual(r.status_code, 400)
        self.assertIn("decoupled", r.json()["error"])

    def test_wrong_input_is_rejected_before_python(self):
        r = infer(self.url, "py_add_sub", [("INPUT0", "INT32", [1, 4], [1, 2, 3, 4]),
                                           ("INPUT1", "FP32", [1, 4], [0, 0, 0, 0])])
        self.assertEqual(r.status_code, 400)
        self.assertIn("INPUT0", r.json()["error"])


class DigitsPipeline(unittest.TestCase):
    """The example ensemble: Python preprocessing -> digits_mlp (ONNX) ->
    Python postprocessing, against digits_mlp called directly."""

    def test_pipeline_top3_matches_the_classifier(self):
        samples = np.load(os.path.join(EXAMPLES, "..", "digits_samples.npz"))
        images = np.minimum(255, np.round(samples["pixels"] * 255 / 16)).astype(np.uint8)
        with Server() as srv:
            for start in range(0, len(images), 8):
                batch = images[start:start + 8]
                got = outputs(infer(srv.url, "digits_pipeline",
                                    [("IMAGE", "UINT8", list(batch.shape),
                                      batch.reshape(-1).tolist())]))
                pixels = (batch.astype(np.float32) * np.float32(16.0 / 255.0))
                probs = np.array(outputs(infer(srv.url, "digits_mlp",
                                               [("pixels", "FP32", list(pixels.shape),
                                                 pixels.reshape(-1).tolist())]))
                                 ["probabilities"], np.float32).reshape(-1, 10)
                top = np.argsort(-probs, axis=-1, kind="stable")[:, :3]
                self.assertEqual(np.array(got["LABELS"]).reshape(-1, 3).tolist(),
                                 [[str(d) for d in row] for row in top])
                np.testing.assert_allclose(np.array(got["SCORES"]).reshape(-1, 3),
                                           np.take_along_axis(probs, top, axis=-1), rtol=1e-6)
                # The classifier is right on these samples (97 % on held-out data).
                self.assertGreaterEqual(
                    np.mean(top[:, 0] == samples["labels"][start:start + 8]), 0.75)


FP32_IO = ('backend: "python"\nmax_batch_size: 0\n'
           'input [ { name: "IN" data_type: TYPE_FP32 dims: [ 1 ] } ]\n'
           'output [ { name: "OUT" data_type: TYPE_FP32 dims: [ 1 ] } ]\n')

HEADER = "import os, signal, time\nimport numpy as np\n" \
         "import triton_python_backend_utils as pb_utils\n\n\n"

# execute() misbehaves depending on IN: 1 raises, 2 exits the process, 3 is
# killed by SIGSEGV, 4 hangs, 5 returns two responses, 6 returns FP64;
# anything else is echoed.
FAULTY = HEADER + '''class TritonPythonModel:
    def execute(self, requests):
        x = float(pb_utils.get_input_tensor_by_name(requests[0], "IN").as_numpy()[0])
        if x == 1:
            raise RuntimeError("boom")
        if x == 2:
            os._exit(3)
        if x == 3:
            os.kill(os.getpid(), signal.SIGSEGV)
        if x == 4:
            time.sleep(60)
        if x == 5:
            return [pb_utils.InferenceResponse([]), pb_utils.InferenceResponse([])]
        if x == 6:
            return [pb_utils.InferenceResponse([pb_utils.Tensor("OUT", np.array([x]))])]
        return [pb_utils.InferenceResponse(
            [pb_utils.Tensor("OUT", r.inputs()[0].as_numpy().copy())]) for r in requests]
'''

AUTO_COMPLETE = HEADER + '''class TritonPythonModel:
    @staticmethod
    def auto_complete_config(config):
        config.set_max_batch_size(4)
        config.add_input({"name": "X", "data_type": "TYPE_INT32", "dims": [2]})
        config.add_output({"name": "Y", "data_type": "TYPE_INT32", "dims": [2]})
        config.set_dynamic_batching()
        return config

    def execute(self, requests):
        return [pb_utils.InferenceResponse(
            [pb_utils.Tensor("Y", r.inputs()[0].as_numpy() * 2)]) for r in requests]
'''


class Faults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        timeout = 'parameters { key: "EXECUTE_TIMEOUT_SECONDS" value { string_value: "1" } }\n'
        cls.root = make_repo({
            "faulty/config.pbtxt": FP32_IO + timeout,
            "faulty/1/model.py": FAULTY,
            "healthy/config.pbtxt": FP32_IO,
            "healthy/1/model.py": FAULTY,
            "syntax_error/config.pbtxt": FP32_IO,
            "syntax_error/1/model.py": "def broken(:\n    pass\n",
            "no_class/config.pbtxt": FP32_IO,
            "no_class/1/model.py": "class SomethingElse:\n    pass\n",
            "init_raises/config.pbtxt": FP32_IO,
            "init_raises/1/model.py": HEADER + "class TritonPythonModel:\n"
                                               "    def initialize(self, args):\n"
                                               "        raise ValueError('bad init')\n"
                                               "    def execute(self, requests):\n"
                                               "        return []\n",
            "no_execute/config.pbtxt": FP32_IO,
            "no_execute/1/model.py": "class TritonPythonModel:\n    pass\n",
            "bf16/config.pbtxt": FP32_IO.replace("TYPE_FP32 dims: [ 1 ] } ]\nout",
                                                 "TYPE_BF16 dims: [ 1 ] } ]\nout"),
            "bf16/1/model.py": FAULTY,
            "auto/config.pbtxt": 'backend: "python"\n',
            "auto/1/model.py": AUTO_COMPLETE,
        })
        cls.server = Server("--exit-on-error=false", repos=[cls.root])
        cls.url = cls.server.url

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.root)

    def call(self, model, x):
        return infer(self.url, model, [("IN", "FP32", [1], [x])])

    def assert_serving(self):
        self.assertEqual(outputs(self.call("healthy", 42.0))["OUT"], [42.0])
        self.assertEqual(outputs(self.call("faulty", 9.0))["OUT"], [9.0])
        self.assertIsNone(self.server.proc.poll())

    def index(self):
        return {e["name"]: e for e in requests.post(f"{self.url}/v2/repository/index",
                                                    timeout=TIMEOUT).json()}

    def test_load_errors_are_precise(self):
        idx = self.index()
        self.assertEqual(idx["syntax_error"]["state"], "UNAVAILABLE")
        self.assertIn("SyntaxError", idx["syntax_error"]["reason"])
        self.assertIn("line 1", idx["syntax_error"]["reason"])
        self.assertIn("defines no class TritonPythonModel", idx["no_class"]["reason"])
        self.assertIn("initialize() raised ValueError: bad init", idx["init_raises"]["reason"])
        self.assertIn("TYPE_BF16", idx["bf16"]["reason"])
        self.assertIn("has no execute() method", idx["no_execute"]["reason"])
        self.assertEqual(idx["healthy"]["state"], "READY")

    def test_execute_raises(self):
        r = self.call("faulty", 1.0)
        self.assertNotEqual(r.status_code, 200)
        self.assertIn("execute() raised RuntimeError: boom (model.py, line", r.json()["error"])
        self.assert_serving()

    def test_wrong_number_of_responses(self):
        r = self.call("faulty", 5.0)
        self.assertIn("returned 2 responses for 1 requests", r.json()["error"])
        self.assert_serving()

    def test_wrong_output_dtype(self):
        r = self.call("faulty", 6.0)
        self.assertIn("output 'OUT' is FP64 but the config declares TYPE_FP32",
                      r.json()["error"])
        self.assert_serving()

    def test_worker_exit_is_reported_and_worker_restarted(self):
        r = self.call("faulty", 2.0)
        self.assertNotEqual(r.status_code, 200)
        self.assertIn("exited with status 3", r.json()["error"])
        self.assert_serving()

    def test_worker_killed_by_signal(self):
        r = self.call("faulty", 3.0)
        self.assertIn("killed by signal 11", r.json()["error"])
        self.assert_serving()

    def test_hanging_execute_times_out(self):
        r = self.call("faulty", 4.0)
        self.assertNotEqual(r.status_code, 200)
        self.assertIn("did not return within 1", r.json()["error"])
        self.assert_serving()

    def test_auto_complete_config(self):
        config = requests.get(f"{self.url}/v2/models/auto/config", timeout=TIMEOUT).json()
        self.assertEqual(config["max_batch_size"], 4)
        self.assertEqual([i["name"] for i in config["input"]], ["X"])
        self.assertEqual(config["output"][0]["dims"], [2])
        out = outputs(infer(self.url, "auto", [("X", "INT32", [1, 2], [3, 4])]))
        self.assertEqual(out["Y"], [6, 8])


if __name__ == "__main__":
    unittest.main()
