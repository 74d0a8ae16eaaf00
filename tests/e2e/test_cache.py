"""End-to-end tests of the response cache (--cache-config local,size=BYTES and
response_cache { enable: true }) on the real nereid binary, over HTTP and gRPC,
with the shared-memory and classification extensions.

Run: NEREID_BIN=build/nereid /usr/bin/python3 -m unittest tests/e2e/test_cache.py
"""
import itertools
import shutil
import tempfile
import threading
import time
import unittest
from multiprocessing import shared_memory

import grpc
import numpy as np
import requests

from server_fixture import Server, generate_pb, make_repo, metrics_port, run_cli

TIMEOUT = 30
DELAY_MS = 300  # the identity models' "compute" time: a hit must be far faster
SERVICE = "/inference.GRPCInferenceService/"
pb = None
gen_dir = None
_unique = itertools.count(1)


def identity_config(delay_ms=DELAY_MS, cache=True, extra="", label_file=None):
    label = f'label_filename: "{label_file}"' if label_file else ""
    cache_block = "response_cache { enable: true }" if cache else ""
    return f"""
backend: "identity"
max_batch_size: 4
input [ {{ name: "IN" data_type: TYPE_FP32 dims: [ -1 ] }} ]
output [ {{ name: "OUT" data_type: TYPE_FP32 dims: [ -1 ] {label} }} ]
instance_group [ {{ count: 1 kind: KIND_CPU }} ]
parameters {{ key: "execute_delay_ms" value {{ string_value: "{delay_ms}" }} }}
{cache_block}
{extra}
"""


def repo_models():
    return {
        "cached/config.pbtxt": identity_config(),
        "cached/1": None,
        "uncached/config.pbtxt": identity_config(cache=False),
        "uncached/1": None,
        "fast/config.pbtxt": identity_config(delay_ms=0),
        "fast/1": None,
        "labelled/config.pbtxt": identity_config(label_file="labels.txt"),
        "labelled/labels.txt": "zero\none\ntwo\nthree\n",
        "labelled/1": None,
        # A full queue slot times out while the one instance is busy: the
        # request fails with "Request timeout expired" (an error response).
        "timeouts/config.pbtxt": identity_config(
            delay_ms=400,
            extra="dynamic_batching { default_queue_policy { timeout_action: REJECT "
                  "default_timeout_microseconds: 100000 } }"),
        "timeouts/1": None,
    }



def metrics(port):
    r = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    samples = {}
    for line in r.text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, value = line.rsplit(" ", 1)
        samples[name_labels] = float(value)
    return samples, r.text


def body(values, shape=None, outputs=None):
    values = list(values)
    js = {"inputs": [{"name": "IN", "shape": shape or [1, len(values)], "datatype": "FP32",
                      "data": values}]}
    if outputs is not None:
        js["outputs"] = outputs
    return js


def infer(url, model, values, shape=None, outputs=None):
    t0 = time.monotonic()
    r = requests.post(f"{url}/v2/models/{model}/infer", json=body(values, shape, outputs),
                      timeout=TIMEOUT)
    return r, time.monotonic() - t0


def stats(url, model):
    r = requests.get(f"{url}/v2/models/{model}/versions/1/stats", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()["model_stats"][0]


def counts(s):
    i = s["inference_stats"]
    return {"hit": i["cache_hit"]["count"], "miss": i["cache_miss"]["count"],
            "success": i["success"]["count"], "fail": i["fail"]["count"],
            "queue": i["queue"]["count"], "compute": i["compute_infer"]["count"],
            "exec": s["execution_count"], "inferences": s["inference_count"]}


def delta(after, before):
    return {k: after[k] - before[k] for k in after}


def setUpModule():
    global pb, gen_dir
    gen_dir = tempfile.mkdtemp(prefix="nereid_cache_py_")
    pb = generate_pb(gen_dir)


def tearDownModule():
    shutil.rmtree(gen_dir, ignore_errors=True)


class CacheTestCase(unittest.TestCase):
    """One server with a 1 MiB cache, client shared memory and metrics."""

    @classmethod
    def setUpClass(cls):
        cls.root = make_repo(repo_models())
        cls.server = Server("--cache-config", "local,size=1048576", "--allow-client-shm=true",
                            repos=[cls.root])
        cls.url = cls.server.url
        cls.metrics_port = metrics_port(cls.server)
        cls.channel = grpc.insecure_channel(cls.server.grpc_target)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.root, ignore_errors=True)

    def unique(self, n=4):
        """Input values no other call uses (so every test starts with a miss);
        exact in FP32, so outputs compare equal to them."""
        base = float(next(_unique) * 16)
        return [base + 0.25 * i for i in range(n)]

    def assertOk(self, r):
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()


class HttpCache(CacheTestCase):
    def test_second_identical_request_is_a_hit(self):
        values = self.unique()
        before = counts(stats(self.url, "cached"))
        r1, t1 = infer(self.url, "cached", values)
        out1 = self.assertOk(r1)["outputs"]
        r2, t2 = infer(self.url, "cached", values)
        out2 = self.assertOk(r2)
        self.assertEqual(out2["outputs"], out1)
        self.assertEqual(out2["outputs"][0]["data"], values)
        self.assertEqual(out2["model_name"], "cached")
        self.assertEqual(out2["model_version"], "1")
        self.assertGreaterEqual(t1, DELAY_MS / 1000)
        self.assertLess(t2, DELAY_MS / 1000 / 2)  # never reached the model
        d = delta(counts(stats(self.url, "cached")), before)
        # Triton's statistics: a hit is a success and a queue entry, but no
        # compute, inference or execution.
        self.assertEqual(d, {"hit": 1, "miss": 1, "success": 2, "fail": 0, "queue": 2,
                             "compute": 1, "exec": 1, "inferences": 1})

    def test_request_id_is_the_new_requests(self):
        values = self.unique()
        js = body(values)
        js["id"] = "first"
        self.assertOk(requests.post(f"{self.url}/v2/models/cached/infer", json=js,
                                    timeout=TIMEOUT))
        js["id"] = "second"
        out = self.assertOk(requests.post(f"{self.url}/v2/models/cached/infer", json=js,
                                          timeout=TIMEOUT))
        self.assertEqual(out["id"], "second")

    def test_different_inputs_miss(self):
        values = self.unique()
        infer(self.url, "cached", values)
        before = counts(stats(self.url, "cached"))
        other_value = values[:3] + [values[3] + 0.5]
        other_shape = (values, [2, 2])  # same bytes, another shape
        r, _ = infer(self.url, "cached", other_value)
        self.assertEqual(self.assertOk(r)["outputs"][0]["data"], other_value)
        r, _ = infer(self.url, "cached", other_shape[0], shape=other_shape[1])
        self.assertEqual(self.assertOk(r)["outputs"][0]["shape"], [2, 2])
        d = delta(counts(stats(self.url, "cached")), before)
        self.assertEqual((d["hit"], d["miss"], d["exec"]), (0, 2, 2))
        # The same model under another name is another key.
        r, _ = infer(self.url, "uncached", values)
        self.assertOk(r)

    def test_requested_outputs_and_binary_answers_share_an_entry(self):
        values = self.unique()
        infer(self.url, "cached", values)
        before = counts(stats(self.url, "cached"))
        r, _ = infer(self.url, "cached", values,
                     outputs=[{"name": "OUT", "parameters": {"binary_data": True}}])
        self.assertEqual(r.status_code, 200, r.text)
        header_len = int(r.headers["Inference-Header-Content-Length"])
        got = np.frombuffer(r.content[header_len:], np.float32)
        np.testing.assert_array_equal(got, np.array(values, np.float32))
        self.assertEqual(delta(counts(stats(self.url, "cached")), before)["hit"], 1)

    def test_errors_are_not_cached(self):
        # A request that fails (queue timeout while the instance is busy) is
        # not cached: the same request later executes, then hits.
        busy = self.unique()
        values = [v + 1000 for v in self.unique()]
        before = counts(stats(self.url, "timeouts"))
        t = threading.Thread(target=infer, args=(self.url, "timeouts", busy))
        t.start()
        time.sleep(0.2)  # the busy request is executing
        r, _ = infer(self.url, "timeouts", values)
        t.join()
        self.assertEqual(r.status_code, 503, r.text)
        self.assertIn("timeout", r.json()["error"])
        r, _ = infer(self.url, "timeouts", values)
        self.assertOk(r)
        r, elapsed = infer(self.url, "timeouts", values)
        self.assertOk(r)
        self.assertLess(elapsed, 0.2)
        d = delta(counts(stats(self.url, "timeouts")), before)
        self.assertEqual(d["fail"], 1)
        self.assertEqual(d["miss"], 2)  # the busy one and the retried one
        self.assertEqual(d["hit"], 1)
        self.assertEqual(d["exec"], 2)
        # An invalid request never reaches the cache either.
        r = requests.post(f"{self.url}/v2/models/cached/infer",
                          json={"inputs": [{"name": "IN", "shape": [1, 2], "datatype": "INT32",
                                            "data": [1, 2]}]}, timeout=TIMEOUT)
        self.assertEqual(r.status_code, 400, r.text)

    def test_cache_disabled_per_model(self):
        values = self.unique()
        before = counts(stats(self.url, "uncached"))
        for _ in range(2):
            r, elapsed = infer(self.url, "uncached", values)
            self.assertOk(r)
            self.assertGreaterEqual(elapsed, DELAY_MS / 1000)
        d = delta(counts(stats(self.url, "uncached")), before)
        self.assertEqual((d["hit"], d["miss"], d["exec"]), (0, 0, 2))
        samples, _ = metrics(self.metrics_port)
        self.assertNotIn('nv_cache_num_hits_per_model{model="uncached",version="1"}', samples)

    def test_metrics(self):
        values = self.unique()
        for _ in range(3):
            self.assertOk(infer(self.url, "fast", values)[0])
        s = stats(self.url, "fast")["inference_stats"]
        samples, text = metrics(self.metrics_port)
        labels = '{model="fast",version="1"}'
        self.assertIn("# TYPE nv_cache_num_hits_per_model counter", text)
        self.assertEqual(samples["nv_cache_num_hits_per_model" + labels], s["cache_hit"]["count"])
        self.assertEqual(samples["nv_cache_num_misses_per_model" + labels],
                         s["cache_miss"]["count"])
        self.assertGreaterEqual(samples["nv_cache_num_hits_per_model" + labels], 2)
        self.assertEqual(samples["nv_cache_hit_duration_per_model" + labels],
                         s["cache_hit"]["ns"] // 1000)
        self.assertEqual(samples["nv_cache_miss_duration_per_model" + labels],
                         s["cache_miss"]["ns"] // 1000)
        for gauge in ("nv_cache_util", "nv_cache_num_entries", "nv_cache_num_lookups",
                      "nv_cache_num_hits", "nv_cache_num_misses", "nv_cache_num_evictions",
                      "nv_cache_lookup_duration", "nv_cache_insertion_duration"):
            self.assertIn(f"# TYPE {gauge} gauge", text)
        self.assertGreaterEqual(samples["nv_cache_num_hits"], 2)
        self.assertGreaterEqual(samples["nv_cache_num_entries"], 1)
        self.assertEqual(samples["nv_cache_num_lookups"],
                         samples["nv_cache_num_hits"] + samples["nv_cache_num_misses"])
        self.assertGreater(samples["nv_cache_util"], 0)
        self.assertLessEqual(samples["nv_cache_util"], 1)

    def test_classification_is_applied_to_hits(self):
        values = [0.5, 3.0, 1.0, 2.0]
        self.assertOk(infer(self.url, "labelled", values)[0])  # cache the raw scores
        before = counts(stats(self.url, "labelled"))
        r, _ = infer(self.url, "labelled", values,
                     outputs=[{"name": "OUT", "parameters": {"classification": 2}}])
        out = self.assertOk(r)["outputs"][0]
        self.assertEqual(out["datatype"], "BYTES")
        self.assertEqual(out["data"], ["3.000000:1:one", "2.000000:3:three"])
        r, _ = infer(self.url, "labelled", values)  # and the raw outputs again
        self.assertEqual(self.assertOk(r)["outputs"][0]["data"], values)
        self.assertEqual(delta(counts(stats(self.url, "labelled")), before)["hit"], 2)


class SharedMemoryCache(CacheTestCase):
    def setUp(self):
        self.shm = shared_memory.SharedMemory(create=True, size=4096)
        self.key = "/" + self.shm.name.lstrip("/")
        self.addCleanup(self.cleanup)
        for name, offset in (("in", 0), ("out", 2048)):
            r = requests.post(f"{self.url}/v2/systemsharedmemory/region/{name}/register",
                              json={"key": self.key, "offset": offset, "byte_size": 1024},
                              timeout=TIMEOUT)
            self.assertEqual(r.status_code, 200, r.text)

    def cleanup(self):
        requests.post(f"{self.url}/v2/systemsharedmemory/unregister", timeout=TIMEOUT)
        self.shm.close()
        self.shm.unlink()

    def shm_input_body(self, n, outputs=None):
        js = {"inputs": [{"name": "IN", "shape": [1, n], "datatype": "FP32",
                          "parameters": {"shared_memory_region": "in",
                                         "shared_memory_byte_size": 4 * n}}]}
        if outputs is not None:
            js["outputs"] = outputs
        return js

    def post(self, model, js):
        return requests.post(f"{self.url}/v2/models/{model}/infer", json=js, timeout=TIMEOUT)

    def test_hit_written_into_the_clients_output_region(self):
        values = self.unique()
        self.assertOk(infer(self.url, "cached", values)[0])
        before = counts(stats(self.url, "cached"))
        out_params = {"shared_memory_region": "out", "shared_memory_byte_size": 1024}
        r, elapsed = infer(self.url, "cached", values,
                           outputs=[{"name": "OUT", "parameters": out_params}])
        out = self.assertOk(r)["outputs"][0]
        self.assertNotIn("data", out)
        self.assertEqual(out["parameters"]["shared_memory_region"], "out")
        self.assertEqual(out["parameters"]["shared_memory_byte_size"], 16)
        got = np.frombuffer(bytes(self.shm.buf[2048:2048 + 16]), np.float32)
        np.testing.assert_array_equal(got, np.array(values, np.float32))
        self.assertLess(elapsed, DELAY_MS / 1000 / 2)
        self.assertEqual(delta(counts(stats(self.url, "cached")), before)["hit"], 1)

    def test_shm_inputs_are_keyed_by_their_bytes(self):
        x = np.array(self.unique(), np.float32)
        self.shm.buf[:16] = x.tobytes()
        before = counts(stats(self.url, "cached"))
        r = self.post("cached", self.shm_input_body(4))
        self.assertEqual(self.assertOk(r)["outputs"][0]["data"], x.tolist())
        # The same bytes sent inline are the same request: a hit.
        r, elapsed = infer(self.url, "cached", x.tolist())
        self.assertEqual(self.assertOk(r)["outputs"][0]["data"], x.tolist())
        self.assertLess(elapsed, DELAY_MS / 1000 / 2)
        # New bytes in the region: a miss with the new answer.
        y = x + 1
        self.shm.buf[:16] = y.tobytes()
        r = self.post("cached", self.shm_input_body(4))
        self.assertEqual(self.assertOk(r)["outputs"][0]["data"], y.tolist())
        d = delta(counts(stats(self.url, "cached")), before)
        self.assertEqual((d["hit"], d["miss"]), (1, 2))

    def test_region_rewritten_during_execution_cannot_poison_the_cache(self):
        # The model reads the key's copy of the shm bytes, so the answer it
        # computes (and the cache stores) belongs to the bytes the key names.
        x = np.array(self.unique(), np.float32)
        self.shm.buf[:16] = x.tobytes()
        result = {}
        t = threading.Thread(target=lambda: result.update(
            r=self.post("cached", self.shm_input_body(4))))
        t.start()
        time.sleep(DELAY_MS / 1000 / 3)  # key built, model still "computing"
        self.shm.buf[:16] = (x + 100).tobytes()
        t.join()
        self.assertEqual(self.assertOk(result["r"])["outputs"][0]["data"], x.tolist())
        r, elapsed = infer(self.url, "cached", x.tolist())
        self.assertEqual(self.assertOk(r)["outputs"][0]["data"], x.tolist())
        self.assertLess(elapsed, DELAY_MS / 1000 / 2)


class GrpcCache(CacheTestCase):
    def infer(self, values):
        req = pb.ModelInferRequest(model_name="cached", id="g")
        req.inputs.add(name="IN", datatype="FP32", shape=[1, len(values)])
        req.raw_input_contents.append(np.array(values, "<f4").tobytes())
        stub = self.channel.unary_unary(
            SERVICE + "ModelInfer", request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=pb.ModelInferResponse.FromString)
        t0 = time.monotonic()
        resp = stub(req, timeout=TIMEOUT)
        return resp, time.monotonic() - t0

    def grpc_stats(self):
        stub = self.channel.unary_unary(
            SERVICE + "ModelStatistics", request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=pb.ModelStatisticsResponse.FromString)
        return stub(pb.ModelStatisticsRequest(name="cached", version="1"),
                    timeout=TIMEOUT).model_stats[0]

    def test_grpc_hit_and_shared_with_http(self):
        values = self.unique()
        before = self.grpc_stats()
        r1, t1 = self.infer(values)
        r2, t2 = self.infer(values)
        self.assertEqual(r2.raw_output_contents, r1.raw_output_contents)
        np.testing.assert_array_equal(np.frombuffer(r2.raw_output_contents[0], "<f4"),
                                      np.array(values, np.float32))
        self.assertEqual((r2.model_name, r2.model_version, r2.id), ("cached", "1", "g"))
        self.assertEqual(list(r2.outputs[0].shape), [1, 4])
        self.assertGreaterEqual(t1, DELAY_MS / 1000)
        self.assertLess(t2, DELAY_MS / 1000 / 2)
        after = self.grpc_stats()
        self.assertEqual(after.inference_stats.cache_hit.count -
                         before.inference_stats.cache_hit.count, 1)
        self.assertEqual(after.inference_stats.cache_miss.count -
                         before.inference_stats.cache_miss.count, 1)
        self.assertEqual(after.execution_count - before.execution_count, 1)
        self.assertGreater(after.inference_stats.cache_hit.ns, 0)
        # The key is protocol-neutral: the same tensor over HTTP hits too.
        r, elapsed = infer(self.url, "cached", values)
        self.assertEqual(self.assertOk(r)["outputs"][0]["data"], values)
        self.assertLess(elapsed, DELAY_MS / 1000 / 2)


class SmallCache(unittest.TestCase):
    """A 4 KiB cache: a few entries at a time."""

    SIZE = 4096

    @classmethod
    def setUpClass(cls):
        cls.root = make_repo({"fast/config.pbtxt": identity_config(delay_ms=0), "fast/1": None})
        cls.server = Server("--cache-config", f"local,size={cls.SIZE}", repos=[cls.root])
        cls.url = cls.server.url
        cls.metrics_port = metrics_port(cls.server)

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.root, ignore_errors=True)

    def test_eviction_keeps_the_bound(self):
        for i in range(60):
            r, _ = infer(self.url, "fast", [float(i)] * 8)
            self.assertEqual(r.status_code, 200, r.text)
            if i % 20 == 19:
                samples, _ = metrics(self.metrics_port)
                self.assertLessEqual(samples["nv_cache_util"], 1.0)
        samples, _ = metrics(self.metrics_port)
        self.assertGreater(samples["nv_cache_num_evictions"], 0)
        # An entry is charged at least its key (the 32 input bytes) and the
        # 256-byte entry overhead, so at most SIZE / 288 fit.
        self.assertLessEqual(samples["nv_cache_num_entries"], self.SIZE // 288)
        self.assertGreater(samples["nv_cache_num_entries"], 0)
        self.assertEqual(samples["nv_cache_num_entries"],
                         samples["nv_cache_num_misses"] - samples["nv_cache_num_evictions"])
        # The newest is still cached, the oldest was evicted.
        before = counts(stats(self.url, "fast"))
        infer(self.url, "fast", [59.0] * 8)
        infer(self.url, "fast", [0.0] * 8)
        d = delta(counts(stats(self.url, "fast")), before)
        self.assertEqual((d["hit"], d["miss"]), (1, 1))
        self.assertEqual(requests.get(f"{self.url}/v2/health/live", timeout=TIMEOUT).status_code,
                         200)

    def test_response_larger_than_the_cache_is_served_uncached(self):
        values = [1.5] * 2000  # 8000 bytes of input alone
        before = counts(stats(self.url, "fast"))
        for _ in range(2):
            r, _ = infer(self.url, "fast", values)
            self.assertEqual(len(self.assertOk(r)["outputs"][0]["data"]), 2000)
        d = delta(counts(stats(self.url, "fast")), before)
        self.assertEqual((d["hit"], d["miss"], d["exec"]), (0, 2, 2))

    def assertOk(self, r):
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()


class NoCacheConfig(unittest.TestCase):
    def test_model_enabling_the_cache_loads_and_runs_uncached(self):
        # Triton serves such a model uncached; we do too, with a warning.
        root = make_repo({"cached/config.pbtxt": identity_config(delay_ms=50), "cached/1": None})
        try:
            with Server(repos=[root]) as server:
                for _ in range(2):
                    r, elapsed = infer(server.url, "cached", [1.0, 2.0])
                    self.assertEqual(r.status_code, 200, r.text)
                    self.assertGreaterEqual(elapsed, 0.05)
                d = counts(stats(server.url, "cached"))
                self.assertEqual((d["hit"], d["miss"], d["exec"]), (0, 0, 2))
                log = server.stderr()
                self.assertIn("response_cache is enabled in its config but the server has no "
                              "response cache", log)
                port = metrics_port(server)
                _, text = metrics(port)
                self.assertNotIn("nv_cache_", text)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def test_decoupled_model_with_the_cache_fails_to_load(self):
        root = make_repo({
            "dec/config.pbtxt": identity_config(
                extra="model_transaction_policy { decoupled: true }"),
            "dec/1": None,
            "ok/config.pbtxt": identity_config(),
            "ok/1": None})
        try:
            with Server("--cache-config", "local,size=65536", "--exit-on-error=false",
                        repos=[root]) as server:
                r = requests.post(f"{server.url}/v2/repository/index", timeout=TIMEOUT)
                index = {m["name"]: m for m in r.json()}
                self.assertEqual(index["ok"]["state"], "READY")
                self.assertEqual(index["dec"]["state"], "UNAVAILABLE")
                self.assertIn("failed to load 'dec'", index["dec"]["reason"])
                self.assertIn("response cache does not support model 'dec'",
                              index["dec"]["reason"])
                self.assertIn("decoupled", index["dec"]["reason"])
        finally:
            shutil.rmtree(root, ignore_errors=True)


class BadCacheConfig(unittest.TestCase):
    def test_bad_values_exit_1_naming_the_flag(self):
        root = make_repo({"fast/config.pbtxt": identity_config(delay_ms=0), "fast/1": None})
        cases = {
            "redis,size=100": "unknown cache 'redis'",
            "local,bytes=100": "unknown key 'bytes'",
            "local,size=0": "positive whole number",
            "local,size=-1": "positive whole number",
            "local,size=lots": "positive whole number",
            "local": "expected <cache>,<key>=<value>",
        }
        try:
            for setting, fragment in cases.items():
                rc, out, err = run_cli("serve", "--model-repository", root, "--http-port", "0",
                                       "--grpc-port", "0", "--metrics-port", "0",
                                       "--cache-config", setting)
                self.assertEqual(rc, 1, f"{setting}: {out} {err}")
                self.assertIn("--cache-config", err, setting)
                self.assertIn(fragment, err, setting)
                self.assertNotIn("serving HTTP", out)
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
