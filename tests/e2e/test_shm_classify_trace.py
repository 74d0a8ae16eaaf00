"""End-to-end tests of Triton's system/CUDA shared memory, classification and
trace extensions on the real nereid binary.

Run: NEREID_BIN=build/nereid /usr/bin/python3 -m unittest tests/e2e/test_shm_classify_trace.py
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from multiprocessing import shared_memory

import numpy as np
import requests

from server_fixture import REPO_ROOT, Server, copy_example, make_repo

TIMEOUT = 30
server = None


def setUpModule():
    global server
    server = Server("--allow-client-shm=true")


def tearDownModule():
    server.__exit__(None, None, None)


def url(path, srv=None):
    return (srv or server).url + path


def post(path, body=None, srv=None):
    data = json.dumps(body) if body is not None else b""
    return requests.post(url(path, srv), data=data, timeout=TIMEOUT)


def get(path, srv=None):
    return requests.get(url(path, srv), timeout=TIMEOUT)


class ErrorAssertions:
    def assertError(self, r, status, fragment):
        self.assertEqual(r.status_code, status, r.text)
        self.assertIn(fragment, r.json()["error"])


class SystemSharedMemory(unittest.TestCase, ErrorAssertions):
    def setUp(self):
        self.shm = shared_memory.SharedMemory(create=True, size=4096)
        self.key = "/" + self.shm.name.lstrip("/")
        self.addCleanup(self.cleanup)

    def cleanup(self):
        post("/v2/systemsharedmemory/unregister")
        self.shm.close()
        self.shm.unlink()

    def register(self, name, offset=0, byte_size=4096, key=None):
        return post(f"/v2/systemsharedmemory/region/{name}/register",
                    {"key": key or self.key, "offset": offset, "byte_size": byte_size})

    def test_register_status_unregister(self):
        self.assertEqual(self.register("a").status_code, 200)
        self.assertEqual(self.register("b", offset=1024, byte_size=100).status_code, 200)
        r = get("/v2/systemsharedmemory/status")
        self.assertEqual(r.status_code, 200, r.text)
        regions = {x["name"]: x for x in r.json()}
        self.assertEqual(regions["b"], {"name": "b", "key": self.key, "offset": 1024,
                                        "byte_size": 100})
        one = get("/v2/systemsharedmemory/region/a/status").json()
        self.assertEqual([x["name"] for x in one], ["a"])
        self.assertEqual(post("/v2/systemsharedmemory/region/a/unregister").status_code, 200)
        self.assertError(get("/v2/systemsharedmemory/region/a/status"), 404, "not registered")
        self.assertEqual(post("/v2/systemsharedmemory/unregister").status_code, 200)
        self.assertEqual(get("/v2/systemsharedmemory/status").json(), [])
        # Unregistering a name that is not registered succeeds, as in Triton.
        self.assertEqual(post("/v2/systemsharedmemory/region/zz/unregister").status_code, 200)

    def test_infer_input_and_output_in_shm(self):
        x = np.arange(6, dtype=np.float32) * 1.5
        self.shm.buf[:x.nbytes] = x.tobytes()
        self.assertEqual(self.register("in", 0, 1024).status_code, 200)
        self.assertEqual(self.register("out", 2048, 1024).status_code, 200)
        body = {"inputs": [{"name": "INPUT0", "shape": [1, 6], "datatype": "FP32",
                            "parameters": {"shared_memory_region": "in",
                                           "shared_memory_byte_size": x.nbytes}}],
                "outputs": [{"name": "OUTPUT0",
                             "parameters": {"shared_memory_region": "out",
                                            "shared_memory_offset": 16,
                                            "shared_memory_byte_size": 512}}]}
        r = post("/v2/models/identity_fp32/infer", body)
        self.assertEqual(r.status_code, 200, r.text)
        out = r.json()["outputs"][0]
        self.assertNotIn("data", out)
        self.assertEqual(out["shape"], [1, 6])
        self.assertEqual(out["parameters"]["shared_memory_region"], "out")
        self.assertEqual(out["parameters"]["shared_memory_byte_size"], x.nbytes)
        got = np.frombuffer(bytes(self.shm.buf[2048 + 16:2048 + 16 + x.nbytes]), np.float32)
        np.testing.assert_array_equal(got, x)

    def test_mixed_shm_input_and_json_output(self):
        x = np.array([3.0, -4.0], dtype=np.float32)
        self.shm.buf[100:108] = x.tobytes()
        self.assertEqual(self.register("in").status_code, 200)
        body = {"inputs": [{"name": "INPUT0", "shape": [1, 2], "datatype": "FP32",
                            "parameters": {"shared_memory_region": "in",
                                           "shared_memory_offset": 100,
                                           "shared_memory_byte_size": 8}}]}
        r = post("/v2/models/identity_fp32/infer", body)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["outputs"][0]["data"], [3.0, -4.0])
        # JSON input, output into shared memory.
        body = {"inputs": [{"name": "INPUT0", "shape": [1, 2], "datatype": "FP32",
                            "data": [7.0, 8.0]}],
                "outputs": [{"name": "OUTPUT0",
                             "parameters": {"shared_memory_region": "in",
                                            "shared_memory_byte_size": 8}}]}
        r = post("/v2/models/identity_fp32/infer", body)
        self.assertEqual(r.status_code, 200, r.text)
        np.testing.assert_array_equal(np.frombuffer(bytes(self.shm.buf[:8]), np.float32),
                                      [7.0, 8.0])

    def test_register_errors(self):
        self.assertError(self.register("a", offset=4000, byte_size=200), 400, "past the end")
        self.assertError(self.register("a", key="/nereid_no_such_key_e2e"), 404, "does not exist")
        self.assertEqual(self.register("a").status_code, 200)
        self.assertError(self.register("a"), 400, "already registered")
        r = requests.post(url("/v2/systemsharedmemory/region/b/register"), data="{",
                          timeout=TIMEOUT)
        self.assertError(r, 400, "malformed JSON")
        self.assertError(post("/v2/systemsharedmemory/region/b/register", {"key": self.key}),
                         400, "byte_size")
        self.assertError(get("/v2/systemsharedmemory/region/b/register"), 405, "GET")

    def test_infer_errors(self):
        self.assertEqual(self.register("small", 0, 16).status_code, 200)

        def infer(in_params, out_params=None, shape=(1, 4)):
            body = {"inputs": [{"name": "INPUT0", "shape": list(shape), "datatype": "FP32",
                                "parameters": in_params}]}
            if out_params is not None:
                body["outputs"] = [{"name": "OUTPUT0", "parameters": out_params}]
            return post("/v2/models/identity_fp32/infer", body)

        ok = {"shared_memory_region": "small", "shared_memory_byte_size": 16}
        self.assertEqual(infer(ok).status_code, 200)
        self.assertError(infer({"shared_memory_region": "nope", "shared_memory_byte_size": 16}),
                         404, "not registered")
        self.assertError(infer(dict(ok, shared_memory_offset=8)), 400, "past the end")
        self.assertError(infer({"shared_memory_region": "small", "shared_memory_byte_size": 12}),
                         400, "needs 16")
        self.assertError(infer({"shared_memory_region": "small"}), 400,
                         "shared_memory_byte_size")
        self.assertError(infer(ok, {"shared_memory_region": "small",
                                    "shared_memory_byte_size": 8}), 400, "holds 16 bytes")
        self.assertError(infer(ok, {"shared_memory_region": "small", "shared_memory_offset": 12,
                                    "shared_memory_byte_size": 8}), 400, "past the end")
        body = {"inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32",
                            "data": [1, 2, 3, 4], "parameters": ok}]}
        self.assertError(post("/v2/models/identity_fp32/infer", body), 400,
                         "must not carry 'data'")


SLOW_IDENTITY = """
backend: "identity"
max_batch_size: 8
input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ -1 ] } ]
output [ { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ -1 ] } ]
parameters { key: "execute_delay_ms" value: { string_value: "1000" } }
"""


class SharedMemoryInFlight(unittest.TestCase):
    def test_unregister_during_inference_keeps_region_until_done(self):
        repo = make_repo({"slow/config.pbtxt": SLOW_IDENTITY, "slow/1": None})
        self.addCleanup(shutil.rmtree, repo)
        shm = shared_memory.SharedMemory(create=True, size=64)
        self.addCleanup(shm.unlink)
        self.addCleanup(shm.close)
        x = np.array([1.25, 2.5, -3.0], np.float32)
        shm.buf[:12] = x.tobytes()
        with Server("--allow-client-shm=true", repos=[repo]) as srv:
            r = post("/v2/systemsharedmemory/region/r/register",
                     {"key": shm.name, "byte_size": 64}, srv)
            self.assertEqual(r.status_code, 200, r.text)
            body = {"inputs": [{"name": "INPUT0", "shape": [1, 3], "datatype": "FP32",
                                "parameters": {"shared_memory_region": "r",
                                               "shared_memory_byte_size": 12}}],
                    "outputs": [{"name": "OUTPUT0",
                                 "parameters": {"shared_memory_region": "r",
                                                "shared_memory_offset": 32,
                                                "shared_memory_byte_size": 32}}]}
            result = {}
            t = threading.Thread(target=lambda: result.update(
                r=post("/v2/models/slow/infer", body, srv)))
            t.start()
            time.sleep(0.3)
            self.assertEqual(post("/v2/systemsharedmemory/region/r/unregister", srv=srv)
                             .status_code, 200)
            self.assertEqual(get("/v2/systemsharedmemory/status", srv).json(), [])
            t.join(TIMEOUT)
            self.assertEqual(result["r"].status_code, 200, result["r"].text)
            np.testing.assert_array_equal(np.frombuffer(bytes(shm.buf[32:44]), np.float32), x)
            # A new request on the unregistered name fails.
            r = post("/v2/models/slow/infer", body, srv)
            self.assertEqual(r.status_code, 404, r.text)


class CudaSharedMemory(unittest.TestCase, ErrorAssertions):
    def test_endpoints(self):
        r = get("/v2/cudasharedmemory/status")
        self.assertEqual((r.status_code, r.json()), (200, []))
        self.assertEqual(post("/v2/cudasharedmemory/unregister").status_code, 200)
        self.assertEqual(post("/v2/cudasharedmemory/region/x/unregister").status_code, 200)
        self.assertError(post("/v2/cudasharedmemory/region/x/register",
                              {"raw_handle": {"b64": "AAAA"}, "device_id": 0, "byte_size": 4}),
                         501, "not supported on this build/machine")
        self.assertError(get("/v2/cudasharedmemory/region/x/status"), 404, "not registered")


DIGITS_CONFIG = """
name: "digits_mlp"
backend: "onnxruntime"
max_batch_size: 64
output [ { name: "probabilities" data_type: TYPE_FP32 dims: [ 10 ] label_filename: "%s" } ]
"""
DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def digits_request(pixels, outputs):
    return {"inputs": [{"name": "pixels", "shape": list(pixels.shape), "datatype": "FP32",
                        "data": pixels.flatten().tolist()}],
            "outputs": outputs}


class Classification(unittest.TestCase, ErrorAssertions):
    @classmethod
    def setUpClass(cls):
        cls.repo = make_repo({})
        copy_example(cls.repo, "digits_mlp")
        model = os.path.join(cls.repo, "digits_mlp")
        with open(os.path.join(model, "config.pbtxt"), "w") as f:
            f.write(DIGITS_CONFIG % "labels.txt")
        with open(os.path.join(model, "labels.txt"), "w") as f:
            f.write("\n".join(DIGIT_NAMES[:8]) + "\n")  # the last two classes lack labels
        cls.labelled = Server(repos=[cls.repo])
        cls.pixels = np.random.RandomState(3).uniform(0, 16, size=(3, 64)).astype(np.float32)

    @classmethod
    def tearDownClass(cls):
        cls.labelled.__exit__(None, None, None)
        shutil.rmtree(cls.repo)

    def probabilities(self):
        r = post("/v2/models/digits_mlp/infer", digits_request(self.pixels, []))
        self.assertEqual(r.status_code, 200, r.text)
        return np.array(r.json()["outputs"][0]["data"], np.float32).reshape(3, 10)

    def expected(self, probs, k, labels):
        rows = []
        for row in probs:
            order = sorted(range(10), key=lambda i: (-row[i], i))[:k]
            rows.append([(float(row[i]), i, labels[i] if labels and i < len(labels) else None)
                         for i in order])
        return rows

    def check(self, got, expected):
        for g_row, e_row in zip(got, expected):
            self.assertEqual(len(g_row), len(e_row))
            for g, (score, index, label) in zip(g_row, e_row):
                parts = g.split(":")
                self.assertAlmostEqual(float(parts[0]), score, places=5)
                self.assertEqual(int(parts[1]), index)
                self.assertEqual(parts[2] if len(parts) > 2 else None, label)

    def test_top_k_without_labels(self):
        probs = self.probabilities()
        r = post("/v2/models/digits_mlp/infer", digits_request(
            self.pixels, [{"name": "probabilities", "parameters": {"classification": 3}}]))
        self.assertEqual(r.status_code, 200, r.text)
        out = r.json()["outputs"][0]
        self.assertEqual((out["datatype"], out["shape"]), ("BYTES", [3, 3]))
        self.check(np.array(out["data"]).reshape(3, 3).tolist(), self.expected(probs, 3, None))

    def test_top_k_with_labels_and_clamp(self):
        probs = self.probabilities()
        r = post("/v2/models/digits_mlp/infer", digits_request(
            self.pixels, [{"name": "probabilities", "parameters": {"classification": 50}}]),
            srv=self.labelled)
        self.assertEqual(r.status_code, 200, r.text)
        out = r.json()["outputs"][0]
        self.assertEqual(out["shape"], [3, 10])
        self.check(np.array(out["data"]).reshape(3, 10).tolist(),
                   self.expected(probs, 10, DIGIT_NAMES[:8]))

    def test_binary_classification_output(self):
        body = digits_request(self.pixels[:1], [
            {"name": "probabilities", "parameters": {"classification": 1, "binary_data": True}}])
        r = post("/v2/models/digits_mlp/infer", body, srv=self.labelled)
        self.assertEqual(r.status_code, 200, r.text)
        n = int(r.headers["Inference-Header-Content-Length"])
        header = json.loads(r.content[:n])
        self.assertEqual(header["outputs"][0]["datatype"], "BYTES")
        raw = r.content[n:]
        size = int.from_bytes(raw[:4], "little")
        self.assertEqual(len(raw), 4 + size)
        self.assertEqual(raw[4:].decode().count(":"), 2)

    def test_errors(self):
        for bad in (0, -2, "3", True):
            r = post("/v2/models/digits_mlp/infer", digits_request(
                self.pixels, [{"name": "probabilities", "parameters": {"classification": bad}}]))
            self.assertError(r, 400, "positive integer")
        body = {"inputs": [{"name": "INPUT0", "shape": [1, 1], "datatype": "BYTES",
                            "data": ["abc"]}],
                "outputs": [{"name": "OUTPUT0", "parameters": {"classification": 1}}]}
        self.assertError(post("/v2/models/identity_bytes/infer", body), 400,
                         "classification needs a numeric output")

    def test_missing_label_file_fails_the_load(self):
        repo = make_repo({"digits_mlp/config.pbtxt": DIGITS_CONFIG % "nowhere.txt"})
        self.addCleanup(shutil.rmtree, repo)
        shutil.copytree(os.path.join(os.path.dirname(__file__), "..", "..", "examples",
                                     "model_repository", "digits_mlp", "1"),
                        os.path.join(repo, "digits_mlp", "1"))
        with self.assertRaises(RuntimeError) as ctx:
            Server(repos=[repo])
        self.assertIn("cannot read label file", str(ctx.exception))


PIPELINE = ["HTTP_RECV_END", "REQUEST_START", "QUEUE_START", "COMPUTE_START", "COMPUTE_END",
            "REQUEST_END", "HTTP_SEND_START", "HTTP_SEND_END"]


def identity_infer(srv, model="identity_fp32"):
    body = {"inputs": [{"name": "INPUT0", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]}
    r = post(f"/v2/models/{model}/infer", body, srv)
    assert r.status_code == 200, r.text


class TraceSettingApi(unittest.TestCase, ErrorAssertions):
    def tearDown(self):
        post("/v2/models/identity_fp32/trace/setting",
             {"trace_rate": None, "trace_count": None, "trace_level": None})
        post("/v2/trace/setting", {"trace_rate": None, "trace_count": None, "log_frequency": None})

    def test_defaults_update_and_reset(self):
        r = get("/v2/trace/setting")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json(), {"trace_level": ["OFF"], "trace_rate": "1000",
                                    "trace_count": "-1", "log_frequency": "0",
                                    "trace_file": "", "trace_mode": "triton"})
        r = post("/v2/trace/setting", {"trace_rate": "5", "trace_count": 3})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual((r.json()["trace_rate"], r.json()["trace_count"]), ("5", "3"))
        model = post("/v2/models/identity_fp32/trace/setting", {"trace_rate": "7"}).json()
        self.assertEqual((model["trace_rate"], model["trace_count"]), ("7", "3"))
        self.assertEqual(get("/v2/models/identity_fp32/trace/setting").json()["trace_rate"], "7")
        self.assertEqual(get("/v2/trace/setting").json()["trace_rate"], "5")
        model = post("/v2/models/identity_fp32/trace/setting", {"trace_rate": None}).json()
        self.assertEqual(model["trace_rate"], "5")
        self.assertEqual(post("/v2/trace/setting", {"trace_rate": None}).json()["trace_rate"],
                         "1000")

    def test_errors(self):
        self.assertError(post("/v2/trace/setting", {"trace_level": ["TIMESTAMPS"]}), 400,
                         "trace file")
        self.assertError(post("/v2/trace/setting", {"trace_file": "/tmp/x"}), 400,
                         "cannot be changed")
        self.assertError(post("/v2/trace/setting", {"trace_rate": "0"}), 400, "at least 1")
        self.assertError(post("/v2/trace/setting", {"trace_rate": "x"}), 400, "integer")
        self.assertError(post("/v2/trace/setting", {"trace_level": ["MAX"]}), 400,
                         "unknown trace level")
        self.assertError(post("/v2/trace/setting", {"trace_level": ["TENSORS"]}), 501,
                         "TENSORS")
        self.assertError(post("/v2/trace/setting", {"bogus": 1}), 400, "unknown trace setting")
        self.assertError(post("/v2/models/identity_fp32/trace/setting", {"log_frequency": 1}),
                         400, "global")
        self.assertError(get("/v2/models/no_such_model/trace/setting"), 404, "no_such_model")
        r = requests.delete(url("/v2/trace/setting"), timeout=TIMEOUT)
        self.assertError(r, 405, "DELETE")
        self.assertEqual(get("/v2/trace/setting").json()["trace_level"], ["OFF"])


class TraceFile(unittest.TestCase, ErrorAssertions):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="nereid_trace_")
        self.addCleanup(shutil.rmtree, self.dir)
        self.file = os.path.join(self.dir, "trace.json")

    def check_trace(self, t, model="identity_fp32"):
        self.assertEqual((t["model_name"], t["model_version"]), (model, 1))
        names = [s["name"] for s in t["timestamps"]]
        self.assertEqual(sorted(names), sorted(PIPELINE))
        ns = {s["name"]: s["ns"] for s in t["timestamps"]}
        ordered = [ns[n] for n in PIPELINE]
        self.assertEqual(ordered[:4], sorted(ordered[:4]))
        self.assertLessEqual(ns["COMPUTE_START"], ns["COMPUTE_END"])
        self.assertLessEqual(ns["COMPUTE_START"], ns["REQUEST_END"])
        self.assertLessEqual(ns["REQUEST_END"], ns["HTTP_SEND_START"])
        self.assertLessEqual(ns["HTTP_SEND_START"], ns["HTTP_SEND_END"])

    def test_sampled_requests_are_written_at_shutdown(self):
        with Server("--trace-config", f"triton,file={self.file}", "--trace-config",
                    "level=TIMESTAMPS", "--trace-config", "rate=2") as srv:
            for _ in range(6):
                identity_infer(srv)
            self.assertEqual(get("/v2/trace/setting", srv).json()["trace_level"], ["TIMESTAMPS"])
            # A count of 1 lets exactly one more request be traced.
            r = post("/v2/trace/setting", {"trace_count": "1", "trace_rate": "1"}, srv)
            self.assertEqual(r.status_code, 200, r.text)
            for _ in range(3):
                identity_infer(srv)
            self.assertEqual(get("/v2/trace/setting", srv).json()["trace_count"], "0")
            self.assertEqual(srv.stop(), 0)
        with open(self.file) as f:
            traces = json.load(f)
        self.assertEqual(len(traces), 4)
        self.assertEqual(sorted(t["id"] for t in traces), [1, 2, 3, 4])
        for t in traces:
            self.check_trace(t)

    def test_log_frequency_and_model_setting(self):
        with Server("--trace-config", f"triton,file={self.file}", "--trace-config",
                    "triton,log-frequency=2") as srv:
            # Tracing is off globally; turn it on for one model only.
            r = post("/v2/models/identity_fp32/trace/setting",
                     {"trace_level": ["TIMESTAMPS"], "trace_rate": "1"}, srv)
            self.assertEqual(r.status_code, 200, r.text)
            for _ in range(3):
                identity_infer(srv)
            body = {"inputs": [{"name": "INPUT0", "shape": [1, 1], "datatype": "BYTES",
                                "data": ["a"]}]}
            self.assertEqual(post("/v2/models/identity_bytes/infer", body, srv).status_code, 200)
            with open(self.file + ".0") as f:
                first = json.load(f)
            self.assertEqual(len(first), 2)
            for t in first:
                self.check_trace(t)
            self.assertFalse(os.path.exists(self.file + ".1"))
            srv.stop()
        with open(self.file + ".1") as f:
            self.assertEqual(len(json.load(f)), 1)

    def test_bad_trace_config_flags(self):
        for flags, fragment in ((["level=TIMESTAMPS"], "trace file"),
                                (["rate=abc"], "integer"),
                                (["opentelemetry,url=x"], "only Triton's trace mode")):
            args = []
            for f in flags:
                args += ["--trace-config", f]
            with self.assertRaises(RuntimeError) as ctx:
                Server(*args)
            self.assertIn(fragment, str(ctx.exception))


class Grpc(unittest.TestCase):
    """The same registry and trace settings through GRPCInferenceService."""

    @classmethod
    def setUpClass(cls):
        import grpc
        cls.grpc = grpc
        cls.gen = tempfile.mkdtemp(prefix="nereid_shm_grpc_py_")
        proto = os.path.join(REPO_ROOT, "proto")
        subprocess.run(["protoc", f"--python_out={cls.gen}", f"-I{proto}",
                        os.path.join(proto, "model_config.proto"),
                        os.path.join(proto, "grpc_service.proto")], check=True)
        sys.path.insert(0, cls.gen)
        import grpc_service_pb2
        cls.pb = grpc_service_pb2
        cls.dir = tempfile.mkdtemp(prefix="nereid_shm_grpc_")
        cls.trace_file = os.path.join(cls.dir, "trace.json")
        cls.srv = Server("--allow-client-shm=true", "--trace-config",
                         f"triton,file={cls.trace_file}")
        cls.channel = grpc.insecure_channel(cls.srv.grpc_target)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.srv.__exit__(None, None, None)
        sys.path.remove(cls.gen)
        shutil.rmtree(cls.gen, ignore_errors=True)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def call(self, method, request):
        stub = self.channel.unary_unary(
            "/inference.GRPCInferenceService/" + method,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=getattr(self.pb, method + "Response").FromString)
        return stub(request, timeout=TIMEOUT)

    def assertRpcError(self, fn, code, fragment):
        with self.assertRaises(self.grpc.RpcError) as ctx:
            fn()
        self.assertEqual(ctx.exception.code(), code, ctx.exception.details())
        self.assertIn(fragment, ctx.exception.details())

    def test_shared_memory_register_infer_unregister(self):
        pb = self.pb
        shm = shared_memory.SharedMemory(create=True, size=256)
        self.addCleanup(shm.unlink)
        self.addCleanup(shm.close)
        x = np.array([[0.5, -1.5, 2.25]], np.float32)
        shm.buf[:12] = x.tobytes()
        self.call("SystemSharedMemoryRegister", pb.SystemSharedMemoryRegisterRequest(
            name="g", key="/" + shm.name.lstrip("/"), offset=0, byte_size=256))
        self.assertRpcError(lambda: self.call("SystemSharedMemoryRegister",
                                              pb.SystemSharedMemoryRegisterRequest(
                                                  name="g", key=shm.name, byte_size=8)),
                            self.grpc.StatusCode.ALREADY_EXISTS, "already registered")
        status = self.call("SystemSharedMemoryStatus", pb.SystemSharedMemoryStatusRequest())
        self.assertEqual(status.regions["g"].byte_size, 256)
        # Visible over HTTP too: one registry for both front ends.
        self.assertEqual([r["name"] for r in get("/v2/systemsharedmemory/status", self.srv)
                          .json()], ["g"])
        # Input in shm (no contents, no raw entry); output into shm at offset 64.
        req = pb.ModelInferRequest(model_name="identity_fp32")
        t = req.inputs.add(name="INPUT0", datatype="FP32", shape=[1, 3])
        t.parameters["shared_memory_region"].string_param = "g"
        t.parameters["shared_memory_byte_size"].int64_param = 12
        o = req.outputs.add(name="OUTPUT0")
        o.parameters["shared_memory_region"].string_param = "g"
        o.parameters["shared_memory_offset"].int64_param = 64
        o.parameters["shared_memory_byte_size"].int64_param = 64
        resp = self.call("ModelInfer", req)
        self.assertEqual(resp.outputs[0].parameters["shared_memory_byte_size"].int64_param, 12)
        self.assertEqual(list(resp.raw_output_contents), [b""])
        np.testing.assert_array_equal(np.frombuffer(bytes(shm.buf[64:76]), np.float32), x[0])
        # Shared-memory input with typed contents is refused.
        t.contents.fp32_contents.extend([1, 2, 3])
        self.assertRpcError(lambda: self.call("ModelInfer", req),
                            self.grpc.StatusCode.INVALID_ARGUMENT, "must not carry contents")
        self.call("SystemSharedMemoryUnregister", pb.SystemSharedMemoryUnregisterRequest(name="g"))
        self.assertRpcError(lambda: self.call("SystemSharedMemoryStatus",
                                              pb.SystemSharedMemoryStatusRequest(name="g")),
                            self.grpc.StatusCode.NOT_FOUND, "not registered")
        self.call("SystemSharedMemoryUnregister", pb.SystemSharedMemoryUnregisterRequest())

    def test_trace_setting(self):
        pb = self.pb
        req = pb.TraceSettingRequest()
        req.settings["trace_rate"].value.append("3")
        resp = self.call("TraceSetting", req)
        self.assertEqual(list(resp.settings["trace_rate"].value), ["3"])
        self.assertEqual(list(resp.settings["trace_level"].value), ["OFF"])
        self.assertEqual(get("/v2/trace/setting", self.srv).json()["trace_rate"], "3")
        req = pb.TraceSettingRequest(model_name="identity_fp32")
        req.settings["trace_level"].value.append("TIMESTAMPS")
        resp = self.call("TraceSetting", req)
        self.assertEqual(list(resp.settings["trace_level"].value), ["TIMESTAMPS"])
        req = pb.TraceSettingRequest(model_name="identity_fp32")
        req.settings["trace_level"].SetInParent()  # empty list = reset to the global OFF
        self.assertEqual(list(self.call("TraceSetting", req).settings["trace_level"].value),
                         ["OFF"])
        req = pb.TraceSettingRequest()
        req.settings["trace_rate"].SetInParent()
        self.assertEqual(list(self.call("TraceSetting", req).settings["trace_rate"].value),
                         ["1000"])
        bad = pb.TraceSettingRequest()
        bad.settings["trace_file"].value.append("/tmp/elsewhere")
        self.assertRpcError(lambda: self.call("TraceSetting", bad),
                            self.grpc.StatusCode.INVALID_ARGUMENT, "cannot be changed")
        self.assertRpcError(lambda: self.call("TraceSetting",
                                              pb.TraceSettingRequest(model_name="nope")),
                            self.grpc.StatusCode.NOT_FOUND, "nope")

    def test_grpc_requests_are_traced(self):
        pb = self.pb
        trace_file = os.path.join(self.dir, "grpc_trace.json")
        with Server("--trace-config", f"triton,file={trace_file}", "--trace-config",
                    "level=TIMESTAMPS", "--trace-config", "rate=1", "--trace-config",
                    "count=1") as srv:
            ch = self.grpc.insecure_channel(srv.grpc_target)
            self.addCleanup(ch.close)
            stub = ch.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                  request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=pb.ModelInferResponse.FromString)
            infer = pb.ModelInferRequest(model_name="identity_fp32")
            infer.inputs.add(name="INPUT0", datatype="FP32", shape=[1, 1])
            infer.raw_input_contents.append(np.float32(1).tobytes())
            stub(infer, timeout=TIMEOUT)
            stub(infer, timeout=TIMEOUT)  # the count is spent
            self.assertEqual(srv.stop(), 0)
        with open(trace_file) as f:
            traces = json.load(f)
        self.assertEqual(len(traces), 1)
        names = {t["name"] for t in traces[0]["timestamps"]}
        self.assertTrue({"GRPC_WAITREAD_END", "REQUEST_START", "QUEUE_START", "COMPUTE_START",
                         "COMPUTE_END", "REQUEST_END", "GRPC_SEND_START", "GRPC_SEND_END"}
                        <= names, names)


class SharedMemoryDisabled(unittest.TestCase, ErrorAssertions):
    def test_default_refuses_client_shm(self):
        shm = shared_memory.SharedMemory(create=True, size=64)
        self.addCleanup(shm.unlink)
        self.addCleanup(shm.close)
        with Server() as off:
            for r in (get("/v2/systemsharedmemory/status", off),
                      post("/v2/systemsharedmemory/region/a/register",
                           {"key": shm.name, "byte_size": 64}, off),
                      post("/v2/systemsharedmemory/unregister", srv=off),
                      get("/v2/cudasharedmemory/status", off)):
                self.assertError(r, 400, "--allow-client-shm=true")
            body = {"inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32",
                                "parameters": {"shared_memory_region": "a",
                                               "shared_memory_byte_size": 16}}]}
            self.assertError(post("/v2/models/identity_fp32/infer", body, off), 400,
                             "--allow-client-shm=true")
            self.assertIn("system_shared_memory", get("/v2", off).json()["extensions"])


if __name__ == "__main__":
    unittest.main()
