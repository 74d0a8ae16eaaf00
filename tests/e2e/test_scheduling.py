"""End-to-end tests of the schedulers over real HTTP and gRPC: dynamic
batching, queue policies (load shedding, timeouts), priorities,
cancellation of queued requests when the client goes away, and decoupled
models streaming several responses per request.

Run: NEREID_BIN=build/nereid /usr/bin/python3 -m unittest tests/e2e/test_scheduling.py
"""
import json
import shutil
import socket
import tempfile
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import requests

from server_fixture import Server, generate_pb, make_repo

TIMEOUT = 30


def identity_config(delay_ms, max_batch=8, scheduling="", instances=1, group_extra=""):
    return f"""
backend: "identity"
max_batch_size: {max_batch}
input [ {{ name: "IN" data_type: TYPE_FP32 dims: [ -1 ] }} ]
output [ {{ name: "OUT" data_type: TYPE_FP32 dims: [ -1 ] }} ]
instance_group [ {{ count: {instances} kind: KIND_CPU {group_extra} }} ]
parameters {{ key: "execute_delay_ms" value {{ string_value: "{delay_ms}" }} }}
{scheduling}
"""


MODELS = {
    # 20 ms per execution; the batcher waits up to 50 ms to fill a batch.
    "batched": identity_config(20, scheduling="dynamic_batching { max_queue_delay_microseconds: 50000 }"),
    "unbatched": identity_config(20),
    "bounded": identity_config(300, max_batch=1, scheduling="""
dynamic_batching { default_queue_policy { max_queue_size: 2 } }"""),
    "timed": identity_config(300, max_batch=1, scheduling="""
dynamic_batching {
  priority_levels: 2
  default_priority_level: 2
  default_queue_policy { default_timeout_microseconds: 50000 allow_timeout_override: true }
  priority_queue_policy { key: 1 value { default_timeout_microseconds: 0 } }
}"""),
    "slow": identity_config(400, max_batch=1),
    "params": identity_config(0, scheduling="dynamic_batching { }"),
    "repeat": identity_config(0, scheduling="""
model_transaction_policy { decoupled: true }
parameters { key: "response_count" value { string_value: "2" } }
parameters { key: "response_delay_ms" value { string_value: "30" } }"""),
    "mixed": identity_config(20, scheduling="dynamic_batching { max_queue_delay_microseconds: 50000 }"),
}


def body(values, params=None):
    js = {"inputs": [{"name": "IN", "shape": [1, len(values)], "datatype": "FP32",
                      "data": list(values)}]}
    if params:
        js["parameters"] = params
    return js


def infer(url, model, values=(1.0,), params=None):
    return requests.post(f"{url}/v2/models/{model}/infer", json=body(values, params),
                         timeout=TIMEOUT)


def stats(url, model):
    r = requests.get(f"{url}/v2/models/{model}/stats", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()["model_stats"][0]


class Scheduling(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        files = {}
        for name, cfg in MODELS.items():
            files[f"{name}/config.pbtxt"] = cfg
            files[f"{name}/1"] = None
        cls.root = make_repo(files)
        cls.server = Server(repos=[cls.root])
        cls.url = cls.server.url

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.root)

    def concurrent(self, n, fn):
        with ThreadPoolExecutor(n) as pool:
            return list(pool.map(fn, range(n)))

    def test_dynamic_batching_combines_concurrent_requests(self):
        for model in ("batched", "unbatched"):
            results = self.concurrent(16, lambda i: infer(self.url, model, (float(i), 1.0)))
            for i, r in enumerate(results):
                self.assertEqual(r.status_code, 200, r.text)
                self.assertEqual(r.json()["outputs"][0]["data"], [float(i), 1.0])
            s = stats(self.url, model)
            self.assertEqual(s["inference_count"], 16)
            sizes = {b["batch_size"]: b["compute_infer"]["count"] for b in s["batch_stats"]}
            self.assertEqual(sum(k * v for k, v in sizes.items()), 16)
            if model == "batched":
                self.assertLessEqual(s["execution_count"], 8, s)
                self.assertGreater(max(sizes), 1, sizes)
            else:
                self.assertEqual(s["execution_count"], 16)
                self.assertEqual(list(sizes), [1])

    def test_full_queue_is_refused_at_once(self):
        results = self.concurrent(6, lambda i: infer(self.url, "bounded"))
        codes = sorted(r.status_code for r in results)
        ok = codes.count(200)
        self.assertIn(ok, (2, 3), codes)  # one running + two queued (+ one dequeued in time)
        for r in results:
            if r.status_code != 200:
                self.assertEqual(r.status_code, 503)
                self.assertIn("exceeds maximum queue size", r.json()["error"])

    def test_queue_timeouts_and_priorities(self):
        # A busy instance; a default-level request times out in the queue,
        # a level-1 request (no timeout) and one overriding the timeout wait.
        def call(i):
            if i == 0:
                return infer(self.url, "timed")
            time.sleep(0.05)
            params = [{}, {"priority": 1}, {"timeout": 10_000_000}][i - 1]
            return infer(self.url, "timed", params=params)

        results = self.concurrent(4, call)
        self.assertEqual(results[0].status_code, 200, results[0].text)
        self.assertEqual(results[1].status_code, 503, results[1].text)
        self.assertIn("timeout", results[1].json()["error"])
        self.assertEqual(results[2].status_code, 200, results[2].text)
        self.assertEqual(results[3].status_code, 200, results[3].text)

    def test_bad_schedule_parameters(self):
        for params, fragment in (({"priority": "high"}, "priority"), ({"priority": -1}, "priority"),
                                 ({"timeout": 1.5}, "timeout"), ({"timeout": True}, "timeout")):
            r = infer(self.url, "params", params=params)
            self.assertEqual(r.status_code, 400, params)
            self.assertIn(fragment, r.json()["error"])
        # Triton's rules: a priority beyond the levels means the default level;
        # a timeout of 0 means none.
        self.assertEqual(infer(self.url, "timed", params={"priority": 7}).status_code, 200)
        self.assertEqual(infer(self.url, "params", params={"timeout": 0}).status_code, 200)

    def test_mixed_shapes_are_batched_apart(self):
        results = self.concurrent(8, lambda i: infer(self.url, "mixed",
                                                     [1.0] * (1 + i % 2)))
        for i, r in enumerate(results):
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(r.json()["outputs"][0]["data"], [1.0] * (1 + i % 2))


def limited_config(resource_count, priority=1):
    return identity_config(200, max_batch=1, group_extra=f"""rate_limiter {{
  resources [ {{ name: "R" count: {resource_count} }} ] priority: {priority} }}""")


class RateLimiter(unittest.TestCase):
    def test_shared_resource_serializes_two_models(self):
        root = make_repo({"a/config.pbtxt": limited_config(1), "a/1": None,
                          "b/config.pbtxt": limited_config(1, priority=2), "b/1": None})
        try:
            with Server("--rate-limit", "execution_count", repos=[root]) as srv:
                start = time.time()
                with ThreadPoolExecutor(2) as pool:
                    results = list(pool.map(lambda m: infer(srv.url, m), ["a", "b"]))
                elapsed = time.time() - start
                self.assertEqual([r.status_code for r in results], [200, 200])
                # One unit of R: the two 200 ms executions cannot overlap.
                self.assertGreaterEqual(elapsed, 0.38)
            # An explicit capacity below an instance's need fails that model's load.
            with Server("--rate-limit", "execution_count", "--rate-limit-resource", "R:0",
                        "--exit-on-error=false", repos=[root]) as srv:
                r = requests.post(f"{srv.url}/v2/repository/index", timeout=TIMEOUT).json()
                states = {e["name"]: e for e in r}
                self.assertEqual(states["a"]["state"], "UNAVAILABLE")
                self.assertIn("--rate-limit-resource", states["a"]["reason"])
        finally:
            shutil.rmtree(root)

    def test_bad_flags(self):
        from server_fixture import run_cli, served_examples
        for args in (["--rate-limit", "sometimes"], ["--rate-limit-resource", "R"],
                     ["--rate-limit-resource", "R:1:3"]):
            code, out, err = run_cli("serve", "--model-repository", served_examples(), *args)
            self.assertNotEqual(code, 0, args)
            self.assertIn("rate-limit", out + err, args)


def new_pb():
    """(directory, grpc_service_pb2) for this test's generated messages."""
    gen = tempfile.mkdtemp(prefix="nereid_sched_py_")
    return gen, generate_pb(gen)


class Decoupled(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gen, cls.pb = new_pb()
        cls.root = make_repo({"repeat/config.pbtxt": MODELS["repeat"], "repeat/1": None,
                              "plain/config.pbtxt": identity_config(0), "plain/1": None})
        cls.server = Server(repos=[cls.root])
        cls.channel = grpc.insecure_channel(cls.server.grpc_target)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.root)
        shutil.rmtree(cls.gen)

    def request(self, model, value, count=None, empty_final=False, rid=""):
        req = self.pb.ModelInferRequest(model_name=model, id=rid)
        req.inputs.add(name="IN", datatype="FP32", shape=[1, 1])
        req.raw_input_contents.append(np.array([[value]], "<f4").tobytes())
        if count is not None:
            req.parameters["response_count"].int64_param = count
        if empty_final:
            req.parameters["triton_enable_empty_final_response"].bool_param = True
        return req

    def stream(self, requests_list):
        stub = self.channel.stream_stream(
            "/inference.GRPCInferenceService/ModelStreamInfer",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=self.pb.ModelStreamInferResponse.FromString)
        return list(stub(iter(requests_list), timeout=TIMEOUT))

    def value(self, msg):
        return float(np.frombuffer(msg.infer_response.raw_output_contents[0], "<f4")[0])

    def test_n_responses_per_request(self):
        got = self.stream([self.request("repeat", 7.0, count=3, rid="a")])
        self.assertEqual([m.error_message for m in got], ["", "", ""])
        self.assertEqual([m.infer_response.parameters["response_index"].int64_param
                          for m in got], [0, 1, 2])
        self.assertEqual({self.value(m) for m in got}, {7.0})
        self.assertEqual({m.infer_response.id for m in got}, {"a"})
        # The model's default count (2) and zero responses.
        self.assertEqual(len(self.stream([self.request("repeat", 1.0)])), 2)
        self.assertEqual(self.stream([self.request("repeat", 1.0, count=0)]), [])

    def test_empty_final_response(self):
        got = self.stream([self.request("repeat", 2.0, count=2, empty_final=True)])
        self.assertEqual(len(got), 3)
        finals = [m.infer_response.parameters["triton_final_response"].bool_param for m in got]
        self.assertEqual(finals, [False, False, True])
        self.assertEqual(len(got[2].infer_response.outputs), 0)
        got = self.stream([self.request("repeat", 2.0, count=0, empty_final=True)])
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0].infer_response.parameters["triton_final_response"].bool_param)

    def test_interleaved_with_other_models_and_errors(self):
        got = self.stream([self.request("repeat", 1.0, count=3, rid="d"),
                           self.request("plain", 5.0, rid="p"),
                           self.request("repeat", 1.0, count=-1, rid="bad"),
                           self.request("repeat", 9.0, count=1, rid="e")])
        by_id = {}
        for m in got:
            by_id.setdefault(m.infer_response.id, []).append(m)
        self.assertEqual(len(by_id["d"]), 3)
        self.assertEqual(len(by_id["p"]), 1)
        self.assertEqual(self.value(by_id["p"][0]), 5.0)
        self.assertIn("response_count", by_id["bad"][0].error_message)
        self.assertEqual(self.value(by_id["e"][0]), 9.0)
        self.assertEqual(len(got), 6)

    def test_http_and_unary_grpc_are_refused(self):
        r = infer(self.server.url, "repeat")
        self.assertEqual(r.status_code, 400)
        self.assertIn("decoupled", r.json()["error"])
        unary = self.channel.unary_unary(
            "/inference.GRPCInferenceService/ModelInfer",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=self.pb.ModelInferResponse.FromString)
        with self.assertRaises(grpc.RpcError) as cm:
            unary(self.request("repeat", 1.0), timeout=TIMEOUT)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("ModelStreamInfer", cm.exception.details())

    def test_statistics_count_requests_not_responses(self):
        before = stats(self.server.url, "repeat")["inference_stats"]["success"]["count"]
        self.stream([self.request("repeat", 1.0, count=4)])
        after = stats(self.server.url, "repeat")["inference_stats"]["success"]["count"]
        self.assertEqual(after - before, 1)


class Cancellation(unittest.TestCase):
    """A client that gives up while its request waits: it is never executed."""

    def setUp(self):
        self.root = make_repo({"slow/config.pbtxt": MODELS["slow"], "slow/1": None})
        self.server = Server(repos=[self.root])
        self.url = self.server.url

    def tearDown(self):
        self.server.__exit__(None, None, None)
        shutil.rmtree(self.root)

    def occupy(self):
        """Starts a request that keeps the only instance busy for 400 ms."""
        t = threading.Thread(target=lambda: infer(self.url, "slow"))
        t.start()
        time.sleep(0.1)  # it is executing now; the next request has to queue
        return t

    def wait_idle(self, executions):
        deadline = time.time() + TIMEOUT
        while time.time() < deadline:
            s = stats(self.url, "slow")
            if s["execution_count"] >= executions:
                time.sleep(0.6)  # one more execution would take 400 ms
                return stats(self.url, "slow")
            time.sleep(0.02)
        self.fail("the model never finished")

    def test_http_client_disconnect_drops_the_queued_request(self):
        runner = self.occupy()
        payload = json.dumps(body([2.0])).encode()
        sock = socket.create_connection(("127.0.0.1", self.server.port))
        sock.sendall(b"POST /v2/models/slow/infer HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: "
                     + str(len(payload)).encode() + b"\r\n\r\n" + payload)
        time.sleep(0.05)
        sock.close()
        runner.join(TIMEOUT)
        s = self.wait_idle(1)
        # Never executed. (It is counted as a CANCELED failure when the server
        # had read it before the close; on a very slow machine the close may
        # come first, and then there was no request.)
        self.assertEqual(s["execution_count"], 1, s)
        self.assertEqual(s["inference_count"], 1, s)
        self.assertLessEqual(s["inference_stats"]["fail"]["count"], 1, s)
        self.assertEqual(infer(self.url, "slow").status_code, 200)  # still serving

    def test_grpc_deadline_drops_the_queued_request(self):
        gen, pb = new_pb()
        try:
            runner = self.occupy()
            ch = grpc.insecure_channel(self.server.grpc_target)
            stub = ch.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                  request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=pb.ModelInferResponse.FromString)
            req = pb.ModelInferRequest(model_name="slow")
            req.inputs.add(name="IN", datatype="FP32", shape=[1, 1])
            req.raw_input_contents.append(np.array([[5.0]], "<f4").tobytes())
            with self.assertRaises(grpc.RpcError) as cm:
                stub(req, timeout=0.1)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
            runner.join(TIMEOUT)
            s = self.wait_idle(1)
            self.assertEqual(s["execution_count"], 1, s)
            self.assertEqual(s["inference_stats"]["fail"]["count"], 1, s)
            self.assertEqual(len(stub(req, timeout=TIMEOUT).raw_output_contents), 1)
            ch.close()
        finally:
            shutil.rmtree(gen)


if __name__ == "__main__":
    unittest.main()
