"""End-to-end tests of the sequence batcher: a stateful ONNX accumulator
(OUTPUT = (START ? 0 : STATE) + INPUT, implicit state kept by the server)
served on our engine, driven over HTTP and gRPC with Triton's sequence
parameters.

Run: NEREID_BIN=build/nereid /usr/bin/python3 -m unittest tests/e2e/test_sequence.py
"""
import shutil
import tempfile
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import onnx
import requests
from onnx import TensorProto, helper

from server_fixture import Server, generate_pb, make_repo

TIMEOUT = 30

CONFIG = """
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "INPUT" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "OUTPUT" data_type: TYPE_FP32 dims: [ 1 ] } ]
instance_group [ { count: 2 kind: KIND_CPU } ]
sequence_batching {
  max_sequence_idle_microseconds: %d
  %s
  control_input [
    { name: "START" control [ { kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] } ] },
    { name: "CORRID" control [ { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_UINT64 } ] }
  ]
  state [ { input_name: "STATE_IN" output_name: "STATE_OUT" data_type: TYPE_FP32 dims: [ 1 ]
            initial_state { data_type: TYPE_FP32 dims: [ 1 ] zero_data: true name: "zero" } } ]
}
"""


def accumulator_onnx():
    def vi(name, t):
        return helper.make_tensor_value_info(name, t, ["batch", 1])
    nodes = [
        helper.make_node("Cast", ["START"], ["start_b"], to=TensorProto.BOOL),
        helper.make_node("Constant", [], ["zero"],
                         value=helper.make_tensor("z", TensorProto.FLOAT, [], [0.0])),
        helper.make_node("Where", ["start_b", "zero", "STATE_IN"], ["prev"]),
        helper.make_node("Add", ["prev", "INPUT"], ["OUTPUT"]),
        helper.make_node("Identity", ["OUTPUT"], ["STATE_OUT"]),
        # CORRID is fed but unused by the arithmetic: echo it through a Cast
        # so the model can be checked to receive it.
        helper.make_node("Cast", ["CORRID"], ["CORRID_F"], to=TensorProto.FLOAT),
    ]
    graph = helper.make_graph(
        nodes, "accumulator",
        [vi("INPUT", TensorProto.FLOAT), vi("START", TensorProto.INT32),
         vi("CORRID", TensorProto.UINT64), vi("STATE_IN", TensorProto.FLOAT)],
        [vi("OUTPUT", TensorProto.FLOAT), vi("STATE_OUT", TensorProto.FLOAT),
         vi("CORRID_F", TensorProto.FLOAT)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def step(url, model, seq, value, start=False, end=False):
    params = {"sequence_id": seq}
    if start:
        params["sequence_start"] = True
    if end:
        params["sequence_end"] = True
    js = {"inputs": [{"name": "INPUT", "shape": [1, 1], "datatype": "FP32", "data": [value]}],
          "parameters": params}
    return requests.post(f"{url}/v2/models/{model}/infer", json=js, timeout=TIMEOUT)


def value(r):
    assert r.status_code == 200, r.text
    return r.json()["outputs"][0]["data"][0]


class Sequences(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        onnx_bytes = accumulator_onnx()
        cls.root = make_repo({
            "acc/config.pbtxt": CONFIG % (5000000, "direct { }"),
            "acc/1/model.onnx": onnx_bytes,
            "oldest/config.pbtxt": CONFIG % (5000000, "oldest { max_candidate_sequences: 4 "
                                                      "max_queue_delay_microseconds: 1000 }"),
            "oldest/1/model.onnx": onnx_bytes,
            "idle/config.pbtxt": CONFIG % (200000, ""),
            "idle/1/model.onnx": onnx_bytes,
        })
        cls.server = Server(repos=[cls.root])
        cls.url = cls.server.url

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.root)

    def test_interleaved_sequences_keep_their_own_state(self):
        for model in ("acc", "oldest"):
            self.assertEqual(value(step(self.url, model, 11, 1.0, start=True)), 1.0)
            self.assertEqual(value(step(self.url, model, 12, 10.0, start=True)), 10.0)
            self.assertEqual(value(step(self.url, model, 11, 2.0)), 3.0)
            r = step(self.url, model, 12, 20.0)
            self.assertEqual(value(r), 30.0)
            corr = [o for o in r.json()["outputs"] if o["name"] == "CORRID_F"]
            self.assertEqual(corr[0]["data"], [12.0])  # the CORRID control reached the model
            self.assertNotIn("STATE_OUT", [o["name"] for o in r.json()["outputs"]])
            self.assertEqual(value(step(self.url, model, 11, 3.0, end=True)), 6.0)
            self.assertEqual(value(step(self.url, model, 12, 30.0, end=True)), 60.0)
            # The ID is free again: a new sequence starts from the initial state.
            self.assertEqual(value(step(self.url, model, 11, 5.0, start=True, end=True)), 5.0)

    def test_many_concurrent_sequences(self):
        def run(seq):
            total = 0.0
            for k in range(20):
                r = step(self.url, "acc", 1000 + seq, float(k), start=k == 0, end=k == 19)
                total += k
                self.assertEqual(value(r), total)
            return total

        with ThreadPoolExecutor(8) as pool:
            self.assertEqual(list(pool.map(run, range(8))), [190.0] * 8)
        stats = requests.get(f"{self.url}/v2/models/acc/stats", timeout=TIMEOUT).json()
        s = stats["model_stats"][0]
        self.assertGreaterEqual(s["inference_count"], 160)
        self.assertLess(s["execution_count"], s["inference_count"] + 1)

    def test_errors(self):
        r = requests.post(f"{self.url}/v2/models/acc/infer", json={
            "inputs": [{"name": "INPUT", "shape": [1, 1], "datatype": "FP32", "data": [1]}]},
            timeout=TIMEOUT)
        self.assertEqual(r.status_code, 400)
        self.assertIn("correlation ID", r.json()["error"])
        r = step(self.url, "acc", 424242, 1.0)
        self.assertEqual(r.status_code, 400)
        self.assertIn("START", r.json()["error"])
        self.assertEqual(step(self.url, "acc", 77, 1.0, start=True).status_code, 200)
        r = step(self.url, "acc", 77, 1.0, start=True)
        self.assertEqual(r.status_code, 400)
        self.assertIn("already active", r.json()["error"])
        self.assertEqual(value(step(self.url, "acc", 77, 1.0, end=True)), 2.0)
        r = step(self.url, "acc", "user-a", 1.0, start=True)  # CORRID control is TYPE_UINT64
        self.assertEqual(r.status_code, 400)
        self.assertIn("integer correlation IDs", r.json()["error"])
        for bad in ({"sequence_id": -3}, {"sequence_id": 1.5},
                    {"sequence_id": 5, "sequence_start": "yes"}):
            js = {"inputs": [{"name": "INPUT", "shape": [1, 1], "datatype": "FP32",
                              "data": [1]}], "parameters": bad}
            r = requests.post(f"{self.url}/v2/models/acc/infer", json=js, timeout=TIMEOUT)
            self.assertEqual(r.status_code, 400, bad)
            self.assertIn("sequence_", r.json()["error"])

    def test_idle_sequence_is_released(self):
        self.assertEqual(value(step(self.url, "idle", 5, 1.0, start=True)), 1.0)
        self.assertEqual(value(step(self.url, "idle", 5, 1.0)), 2.0)
        time.sleep(0.6)  # max_sequence_idle_microseconds is 0.2 s
        r = step(self.url, "idle", 5, 1.0)
        self.assertEqual(r.status_code, 400)
        self.assertIn("idle", r.json()["error"])

    def test_grpc_stream_with_sequence_parameters(self):
        gen = tempfile.mkdtemp(prefix="nereid_seq_py_")
        try:
            pb = generate_pb(gen)
            reqs = []
            for k in range(5):
                req = pb.ModelInferRequest(model_name="acc", id=str(k))
                req.inputs.add(name="INPUT", datatype="FP32", shape=[1, 1])
                req.raw_input_contents.append(np.array([[k + 1.0]], "<f4").tobytes())
                req.parameters["sequence_id"].uint64_param = 987654321
                req.parameters["sequence_start"].bool_param = k == 0
                req.parameters["sequence_end"].bool_param = k == 4
                reqs.append(req)
            with grpc.insecure_channel(self.server.grpc_target) as ch:
                stub = ch.stream_stream(
                    "/inference.GRPCInferenceService/ModelStreamInfer",
                    request_serializer=lambda m: m.SerializeToString(),
                    response_deserializer=pb.ModelStreamInferResponse.FromString)
                got = list(stub(iter(reqs), timeout=TIMEOUT))
            self.assertEqual([m.error_message for m in got], [""] * 5)
            sums = [float(np.frombuffer(m.infer_response.raw_output_contents[0], "<f4")[0])
                    for m in got]
            self.assertEqual(sums, [1.0, 3.0, 6.0, 10.0, 15.0])
            names = [o.name for o in got[0].infer_response.outputs]
            self.assertIn("OUTPUT", names)
            self.assertNotIn("STATE_OUT", names)
        finally:
            shutil.rmtree(gen)


class BadConfigs(unittest.TestCase):
    def test_sequence_config_errors_fail_the_load_only(self):
        onnx_bytes = accumulator_onnx()
        missing_state = CONFIG.replace('"STATE_OUT"', '"NOPE"') % (1000000, "")
        root = make_repo({"bad/config.pbtxt": missing_state, "bad/1/model.onnx": onnx_bytes,
                          "good/config.pbtxt": CONFIG % (1000000, ""),
                          "good/1/model.onnx": onnx_bytes})
        try:
            with Server("--exit-on-error=false", repos=[root]) as srv:
                idx = {e["name"]: e for e in requests.post(
                    f"{srv.url}/v2/repository/index", timeout=TIMEOUT).json()}
                self.assertEqual(idx["bad"]["state"], "UNAVAILABLE")
                self.assertIn("NOPE", idx["bad"]["reason"])
                self.assertEqual(value(step(srv.url, "good", 1, 4.0, start=True, end=True)), 4.0)
        finally:
            shutil.rmtree(root)


if __name__ == "__main__":
    unittest.main()
