"""End-to-end tests of the model repository extension (index, load, unload),
the model control modes (none, explicit, poll) and the logging extension."""
import base64
import json
import os
import shutil
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import requests

from server_fixture import EXAMPLES, Server, copy_example, make_repo

TIMEOUT = 30


def slow_identity_config(delay_ms):
    return f"""
backend: "identity"
max_batch_size: 4
input [ {{ name: "IN" data_type: TYPE_FP32 dims: [ -1 ] }} ]
output [ {{ name: "OUT" data_type: TYPE_FP32 dims: [ -1 ] }} ]
instance_group [ {{ count: 1 kind: KIND_CPU }} ]
parameters {{ key: "execute_delay_ms" value {{ string_value: "{delay_ms}" }} }}
"""


def infer_identity(url, model, values=(1.0, 2.0), timeout=TIMEOUT):
    js = {"inputs": [{"name": "IN", "shape": [1, len(values)], "datatype": "FP32",
                      "data": list(values)}]}
    return requests.post(f"{url}/v2/models/{model}/infer", json=js, timeout=timeout)


def infer_simple(url, model):
    a = list(range(16))
    js = {"inputs": [{"name": "INPUT0", "shape": [1, 16], "datatype": "INT32", "data": a},
                     {"name": "INPUT1", "shape": [1, 16], "datatype": "INT32", "data": [1] * 16}]}
    return requests.post(f"{url}/v2/models/{model}/infer", json=js, timeout=TIMEOUT)


class ExplicitMode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = make_repo({
            "slow/config.pbtxt": slow_identity_config(100),
            "slow/1": None,
            "busy/config.pbtxt": slow_identity_config(5),
            "busy/1": None,
            "broken/config.pbtxt": 'backend: "identity"\nmax_batch_size: "x"\n',
            "broken/1": None,
        })
        copy_example(cls.root, "simple")
        copy_example(cls.root, "identity_fp32")
        cls.server = Server("--model-control-mode=explicit", "--load-model", "identity_fp32",
                            repos=[cls.root])
        cls.url = cls.server.url

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.root)

    def post(self, path, body=None):
        data = None if body is None else json.dumps(body)
        return requests.post(f"{self.url}{path}", data=data, timeout=TIMEOUT)

    def index(self, ready=None):
        r = self.post("/v2/repository/index", None if ready is None else {"ready": ready})
        self.assertEqual(r.status_code, 200, r.text)
        return {e["name"]: e for e in r.json()}

    def ready(self, model):
        return requests.get(f"{self.url}/v2/models/{model}/ready", timeout=TIMEOUT).status_code

    def test_index_lists_loaded_and_unloaded_models(self):
        idx = self.index()
        self.assertEqual(idx["identity_fp32"],
                         {"name": "identity_fp32", "version": "1", "state": "READY", "reason": ""})
        self.assertIn("broken", idx)
        self.assertEqual(idx["busy"]["state"], "UNAVAILABLE")
        self.assertNotIn("version", idx["busy"])
        ready = self.index(ready=True)
        self.assertIn("identity_fp32", ready)
        self.assertTrue(all(e["state"] == "READY" for e in ready.values()))
        self.assertNotIn("broken", ready)
        self.assertEqual(self.post("/v2/repository/index", {"ready": 1}).status_code, 400)

    def test_load_infer_unload(self):
        self.assertEqual(self.ready("simple"), 400)
        r = self.post("/v2/repository/models/simple/load")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(self.ready("simple"), 200)
        out = infer_simple(self.url, "simple")
        self.assertEqual(out.status_code, 200, out.text)
        self.assertEqual(out.json()["outputs"][0]["data"], [i + 1 for i in range(16)])
        r = self.post("/v2/repository/models/simple/unload",
                      {"parameters": {"unload_dependents": True}})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(self.ready("simple"), 400)
        out = infer_simple(self.url, "simple")
        self.assertIn(out.status_code, (404, 503))
        self.assertIn("simple", out.json()["error"])
        self.assertEqual(self.index()["simple"]["reason"], "unloaded")

    def test_config_override_with_numbers_as_strings(self):
        config = {"name": "identity_fp32", "backend": "identity", "max_batch_size": "2",
                  "input": [{"name": "INPUT0", "data_type": "TYPE_FP32", "dims": ["-1"]}],
                  "output": [{"name": "OUTPUT0", "data_type": "TYPE_FP32", "dims": ["-1"]}]}
        try:
            r = self.post("/v2/repository/models/identity_fp32/load",
                          {"parameters": {"config": json.dumps(config)}})
            self.assertEqual(r.status_code, 200, r.text)
            cfg = requests.get(f"{self.url}/v2/models/identity_fp32/config",
                               timeout=TIMEOUT).json()
            self.assertEqual(cfg["max_batch_size"], 2)
            bad = dict(config, max_batch_size="two")
            r = self.post("/v2/repository/models/identity_fp32/load",
                          {"parameters": {"config": json.dumps(bad)}})
            self.assertEqual(r.status_code, 400)
            self.assertIn("failed to load 'identity_fp32'", r.json()["error"])
            self.assertEqual(self.ready("identity_fp32"), 200, "a failed reload kept serving")
        finally:
            r = self.post("/v2/repository/models/identity_fp32/load")
            self.assertEqual(r.status_code, 200, r.text)

    def test_upload_onnx_model_files(self):
        with open(os.path.join(EXAMPLES, "simple", "1", "model.onnx"), "rb") as f:
            onnx_bytes = f.read()
        config = requests.get(f"{self.url}/v2/models/identity_fp32/config", timeout=TIMEOUT)
        self.assertEqual(config.status_code, 200)
        simple_config = {
            "name": "uploaded", "platform": "onnxruntime_onnx", "max_batch_size": 8,
            "input": [{"name": "INPUT0", "data_type": "TYPE_INT32", "dims": [16]},
                      {"name": "INPUT1", "data_type": "TYPE_INT32", "dims": ["16"]}],
            "output": [{"name": "OUTPUT0", "data_type": "TYPE_INT32", "dims": [16]},
                       {"name": "OUTPUT1", "data_type": "TYPE_INT32", "dims": [16]}]}
        params = {"config": json.dumps(simple_config),
                  "file:1/model.onnx": base64.b64encode(onnx_bytes).decode()}
        r = self.post("/v2/repository/models/uploaded/load", {"parameters": params})
        self.assertEqual(r.status_code, 200, r.text)
        out = infer_simple(self.url, "uploaded")
        self.assertEqual(out.status_code, 200, out.text)
        self.assertEqual(out.json()["outputs"][1]["data"], [i - 1 for i in range(16)])
        self.assertEqual(self.post("/v2/repository/models/uploaded/unload").status_code, 200)
        self.assertEqual(self.ready("uploaded"), 400)
        # Files without a config, a path escaping the directory, broken base64.
        for bad in ({"file:1/model.onnx": params["file:1/model.onnx"]},
                    {"config": params["config"], "file:../model.onnx": "AAAA"},
                    {"config": params["config"], "file:1/model.onnx": "@@@"}):
            r = self.post("/v2/repository/models/uploaded/load", {"parameters": bad})
            self.assertEqual(r.status_code, 400, r.text)
            self.assertIn("failed to load 'uploaded'", r.json()["error"])

    def test_load_errors_leave_other_models_alone(self):
        r = self.post("/v2/repository/models/broken/load")
        self.assertEqual(r.status_code, 400)
        self.assertIn("failed to load 'broken'", r.json()["error"])
        self.assertIn("config.pbtxt:2", r.json()["error"])
        r = self.post("/v2/repository/models/no_such_model/load")
        self.assertEqual(r.status_code, 400)
        self.assertIn("failed to load 'no_such_model'", r.json()["error"])
        self.assertEqual(self.ready("identity_fp32"), 200)
        self.assertIn("failed to load", self.index()["broken"]["reason"])
        r = self.post("/v2/repository/models/identity_fp32/load", {"parameters": {"x": 1}})
        self.assertEqual(r.status_code, 400)
        self.assertEqual(self.post("/v2/repository/models/no_such_model/unload").status_code, 404)

    def test_unload_waits_for_every_accepted_request(self):
        self.assertEqual(self.post("/v2/repository/models/slow/load").status_code, 200)
        n = 16  # 100 ms each on one instance: 1.6 s of queued work
        with ThreadPoolExecutor(n) as pool:
            futures = [pool.submit(infer_identity, self.url, "slow", (float(i),))
                       for i in range(n)]
            time.sleep(0.5)  # every request has reached the queue; few have run
            start = time.time()
            r = self.post("/v2/repository/models/slow/unload")
            unload_secs = time.time() - start
            self.assertEqual(r.status_code, 200, r.text)
            results = [f.result(timeout=TIMEOUT) for f in futures]
        for i, res in enumerate(results):
            self.assertEqual(res.status_code, 200, res.text)
            self.assertEqual(res.json()["outputs"][0]["data"], [float(i)])
        self.assertGreater(unload_secs, 0.3, "unload returned before the queue drained")
        after = infer_identity(self.url, "slow")
        self.assertIn(after.status_code, (404, 503))
        self.assertIn("slow", after.json()["error"])

    def test_unload_during_heavy_inference_loses_nothing(self):
        self.assertEqual(self.post("/v2/repository/models/busy/load").status_code, 200)
        stop = threading.Event()
        outcomes = []
        lock = threading.Lock()

        def client():
            with requests.Session() as s:
                while not stop.is_set():
                    js = {"inputs": [{"name": "IN", "shape": [1, 1], "datatype": "FP32",
                                      "data": [3.0]}]}
                    r = s.post(f"{self.url}/v2/models/busy/infer", json=js, timeout=TIMEOUT)
                    with lock:
                        outcomes.append((r.status_code, r.text))

        threads = [threading.Thread(target=client) for _ in range(24)]
        for t in threads:
            t.start()
        try:
            deadline = time.time() + TIMEOUT
            while sum(1 for c, _ in outcomes if c == 200) < 50 and time.time() < deadline:
                time.sleep(0.01)
            r = self.post("/v2/repository/models/busy/unload")
            self.assertEqual(r.status_code, 200, r.text)
            time.sleep(0.2)
        finally:
            stop.set()
            for t in threads:
                t.join(TIMEOUT)
        self.assertFalse(any(t.is_alive() for t in threads), "a request hung")
        ok = [o for o in outcomes if o[0] == 200]
        refused = [o for o in outcomes if o[0] != 200]
        self.assertGreaterEqual(len(ok), 50)
        self.assertGreater(len(refused), 0)
        for code, text in refused:
            self.assertIn(code, (404, 503), text)
            self.assertIn("busy", json.loads(text)["error"])

    def test_logging_get_and_update(self):
        r = requests.get(f"{self.url}/v2/logging", timeout=TIMEOUT)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(set(r.json()), {"log_file", "log_info", "log_warning", "log_error",
                                         "log_verbose_level", "log_format"})
        r = requests.post(f"{self.url}/v2/logging",
                          json={"log_verbose_level": 1, "log_format": "ISO8601"},
                          timeout=TIMEOUT)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["log_verbose_level"], 1)
        self.assertEqual(r.json()["log_format"], "ISO8601")
        # Log lines written after the update use the new format.
        self.post("/v2/repository/models/no_such_model/load")
        self.assertRegex(self.server.stderr(), r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ E ")
        r = requests.post(f"{self.url}/v2/logging", json={"log_format": "json"}, timeout=TIMEOUT)
        self.assertEqual(r.status_code, 400)
        r = requests.post(f"{self.url}/v2/logging",
                          json={"log_verbose_level": 0, "log_format": "default"},
                          timeout=TIMEOUT)
        self.assertEqual(r.json()["log_format"], "default")

    def test_server_metadata_lists_extensions(self):
        ext = requests.get(f"{self.url}/v2", timeout=TIMEOUT).json()["extensions"]
        for e in ("model_repository", "model_repository(unload_dependents)", "logging"):
            self.assertIn(e, ext)


class NoneMode(unittest.TestCase):
    def test_load_and_unload_are_refused(self):
        with Server() as s:
            for action in ("load", "unload"):
                r = requests.post(f"{s.url}/v2/repository/models/simple/{action}",
                                  timeout=TIMEOUT)
                self.assertEqual(r.status_code, 400)
                self.assertIn("not allowed", r.json()["error"])
            idx = requests.post(f"{s.url}/v2/repository/index", timeout=TIMEOUT).json()
            self.assertTrue(all(e["state"] == "READY" for e in idx))
            self.assertEqual(requests.get(f"{s.url}/v2/models/simple/ready",
                                          timeout=TIMEOUT).status_code, 200)


class LogFile(unittest.TestCase):
    def test_log_file_flag_and_read_only_setting(self):
        root = make_repo({})
        copy_example(root, "identity_fp32")
        path = os.path.join(root, "server.log")
        try:
            with Server("--log-file", path, "--log-format", "ISO8601", repos=[root]) as s:
                got = requests.get(f"{s.url}/v2/logging", timeout=TIMEOUT).json()
                self.assertEqual(got["log_file"], path)
                self.assertEqual(got["log_format"], "ISO8601")
                r = requests.post(f"{s.url}/v2/logging", json={"log_file": path + ".other"},
                                  timeout=TIMEOUT)
                self.assertEqual(r.status_code, 400)
                self.assertIn("log_file", r.json()["error"])
                with open(path) as f:
                    text = f.read()
                self.assertIn("loaded model 'identity_fp32'", text)
                self.assertRegex(text, r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ I ")
                self.assertNotIn("loaded model", s.stderr())
        finally:
            shutil.rmtree(root)


class PollMode(unittest.TestCase):
    def wait_ready(self, url, model, want=200, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            code = requests.get(f"{url}/v2/models/{model}/ready", timeout=TIMEOUT).status_code
            if code == want:
                return True
            time.sleep(0.2)
        return False

    def test_poll_picks_up_new_changed_and_removed_models(self):
        root = make_repo({})
        copy_example(root, "identity_fp32")
        try:
            with Server("--model-control-mode=poll", "--repository-poll-secs=1",
                        repos=[root]) as s:
                r = requests.post(f"{s.url}/v2/repository/models/identity_fp32/unload",
                                  timeout=TIMEOUT)
                self.assertEqual(r.status_code, 400)
                self.assertIn("poll", r.json()["error"])
                self.assertEqual(requests.get(f"{s.url}/v2/models/added/ready",
                                              timeout=TIMEOUT).status_code, 400)
                os.makedirs(os.path.join(root, "added", "1"))
                with open(os.path.join(root, "added", "config.pbtxt"), "w") as f:
                    f.write(slow_identity_config(1))
                self.assertTrue(self.wait_ready(s.url, "added"), s.stderr())
                self.assertEqual(infer_identity(s.url, "added").status_code, 200)
                # A changed config reloads: max_batch_size 4 -> 2.
                with open(os.path.join(root, "added", "config.pbtxt"), "w") as f:
                    f.write(slow_identity_config(1).replace("max_batch_size: 4",
                                                            "max_batch_size: 2"))
                deadline = time.time() + 20
                mbs = None
                while time.time() < deadline and mbs != 2:
                    mbs = requests.get(f"{s.url}/v2/models/added/config",
                                       timeout=TIMEOUT).json().get("max_batch_size")
                    time.sleep(0.2)
                self.assertEqual(mbs, 2)
                shutil.rmtree(os.path.join(root, "added"))
                self.assertTrue(self.wait_ready(s.url, "added", want=400))
                self.assertEqual(requests.get(f"{s.url}/v2/models/identity_fp32/ready",
                                              timeout=TIMEOUT).status_code, 200)
        finally:
            shutil.rmtree(root)


if __name__ == "__main__":
    unittest.main()
